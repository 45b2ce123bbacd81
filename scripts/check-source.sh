#!/usr/bin/env bash
# scripts/check-source.sh - house rules that the compiler does not check:
#  1. each external library is wrapped by exactly the modules listed below;
#  2. banned C functions (unbounded copies, unchecked number parsing, system()).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# header pattern | files allowed to include it (extended regex over paths)
wrappers=(
    'libpq-fe\.h|^src/pg/(conn|catalog|stream|snapshot)\.c$|^src/pg/conn_intern\.h$'
    'curl/curl\.h|^src/net/http\.c$'
    'sqlite3\.h|^src/state/sqlite\.c$'
    'microhttpd\.h|^src/net/httpd\.c$'
)
for rule in "${wrappers[@]}"; do
    header=${rule%%|*}
    allowed=${rule#*|}
    while IFS= read -r file; do
        if ! [[ $file =~ $allowed ]]; then
            echo "check-source: $file includes <${header//\\/}>; only files matching $allowed may" >&2
            status=1
        fi
    done < <(grep -rlE "#include <$header>" src || true)
done

banned='\b(strcpy|strcat|sprintf|vsprintf|strncpy|strtok|atoi|atol|atoll|gets|sscanf|system|alloca)\s*\('
if grep -rnE "$banned" src --include='*.c' --include='*.h'; then
    echo "check-source: banned function used (see docs/internals/house-rules.md)" >&2
    status=1
fi

[ $status = 0 ] && echo "check-source: ok"
exit $status
