#!/usr/bin/env bash
# scripts/check-source.sh - house rules that the compiler does not check:
#  1. each external library is wrapped by exactly the modules listed below;
#  2. banned C functions (unbounded copies, unchecked number parsing, system());
#  3. the layers: which folder of src/ may include which (the table below), and
#     no include cycle between modules (a module is X.c + X.h; a header with no
#     .c of its own is an interface: including it depends on no implementation).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# header pattern | files allowed to include it (extended regex over paths)
wrappers=(
    'libpq-fe\.h|^src/pg/(conn|catalog|stream|snapshot|ddlcapture|resync)\.c$|^src/pg/conn_intern\.h$'
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

# The layer table, lowest first: each folder of src/ and the folders it may include
# (its own always). A folder may only name folders above it in this table, so the
# table itself has no cycle. A new folder must be added here.
layers=(
    'core:'
    'config:core'
    'net:core'
    'pg:core'
    'value:core pg'
    'cf:config core net'
    'mapping:config core'
    'metrics:config core net pg'
    'state:core pg'
    'pipeline:core pg value'
    'schema:core mapping pg pipeline'
    'd1:core mapping pg pipeline schema value'
    'snapshot:cf config core d1 mapping pg pipeline schema state value'
    'targets:cf config core d1 mapping pg pipeline schema state value'
    'resync:config core pg'
    'daemon:config core mapping metrics pg pipeline resync schema state'
    'migrate:cf config core d1 daemon mapping pg pipeline snapshot schema state targets value'
    'warm:cf config core daemon mapping metrics pg pipeline snapshot schema state targets value'
    'cli:cf config core d1 daemon mapping metrics migrate net pg pipeline resync snapshot schema state targets value warm'
    'main:cli core net'
)
declare -A may=()
for row in "${layers[@]}"; do
    folder=${row%%:*}
    for dep in ${row#*:}; do
        if [ -z "${may[$dep]+x}" ]; then
            echo "check-source: layer table: $folder names $dep, which is not below it" >&2
            status=1
        fi
    done
    may[$folder]=" ${row#*:} "
done

folder_of() { # src/pg/lsn.c -> pg; src/main.c -> main
    local rel=${1#src/}
    if [[ $rel == */* ]]; then echo "${rel%%/*}"; else echo "${rel%.*}"; fi
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r hit; do
    file=${hit%%:*}
    inc=${hit#*#include \"}
    inc=${inc%\"*}
    from=$(folder_of "$file")
    to=${inc%%/*}
    if [ -z "${may[$from]+x}" ]; then
        echo "check-source: $file: folder $from/ is not in the layer table (scripts/check-source.sh)" >&2
        status=1
    elif [ "$to" != "$from" ] && [[ ${may[$from]} != *" $to "* ]]; then
        echo "check-source: $file includes \"$inc\": $from/ may include only:${may[$from]% }" >&2
        status=1
    fi
    # module edge; an interface header (no .c) counts only for what it includes
    mod=${file#src/}
    mod=${mod%.*}
    target=${inc%.h}
    if [ "$mod" != "$target" ] && [ -f "src/$target.c" ]; then
        echo "$mod $target" >>"$edges"
    fi
done < <(grep -rHE '^#include "[a-z0-9_]+/[a-z0-9_]+\.h"' src --include='*.c' --include='*.h' || true)
if ! loops=$(tsort "$edges" 2>&1 >/dev/null); then
    echo "check-source: include cycle between modules:" >&2
    echo "$loops" | grep -v 'input contains a loop' | sed 's/^tsort: /  /' >&2
    status=1
fi

[ $status = 0 ] && echo "check-source: ok"
exit $status
