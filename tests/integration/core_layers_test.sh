#!/usr/bin/env bash
# scripts/check-source.sh's layer check: the tree passes, and a copy of the tree with one
# violation fails naming it - an include against the layer table, an include cycle between two
# modules of one folder, a folder the table does not know, and a table naming a folder above.
# Needs no Postgres: it runs the checker on copies of src/.
set -euo pipefail
: "${WAL2EDGE_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "$TEST_NAME: FAIL: $*" >&2; failures=$((failures + 1)); }

# a fresh copy of the checker and the sources; $1 names it
tree() {
    rm -rf "$WORK/$1"
    mkdir -p "$WORK/$1/scripts"
    cp "$WAL2EDGE_SOURCE_DIR/scripts/check-source.sh" "$WORK/$1/scripts/"
    cp -r "$WAL2EDGE_SOURCE_DIR/src" "$WORK/$1/src"
}
# run the checker in tree $1; expect exit code $2 and (when given) the line $3 in its stderr
check() {
    local rc=0
    bash "$WORK/$1/scripts/check-source.sh" >"$WORK/$1.out" 2>"$WORK/$1.err" || rc=$?
    [ "$rc" = "$2" ] || fail "$1: exit $rc, expected $2: $(cat "$WORK/$1.err")"
    if [ -n "${3:-}" ] && ! grep -qF -- "$3" "$WORK/$1.err"; then
        fail "$1: stderr lacks '$3': $(cat "$WORK/$1.err")"
    fi
}
# insert an include line after the first #include of file $2 in tree $1
add_include() { sed -i "0,/^#include /s||#include \"$3\"\n#include |" "$WORK/$1/$2"; }

tree clean
check clean 0
grep -qx 'check-source: ok' "$WORK/clean.out" || fail "clean: no 'check-source: ok'"

# the value rendering sits below the targets: it may not reach up into them
tree upward
add_include upward src/value/render.c targets/kv.h
check upward 1 'check-source: src/value/render.c includes "targets/kv.h": value/ may include only: core pg'

# d1/sql and d1/ddl used to include each other; doing it again is a cycle
tree cycle
add_include cycle src/d1/table.c d1/ddl.h
check cycle 1 'check-source: include cycle between modules:'
grep -qx '  d1/table' "$WORK/cycle.err" || fail "cycle: the loop's modules are not named: $(cat "$WORK/cycle.err")"

# the state store may not depend on the target interface (it did, for TargetCheckpoint)
tree store
add_include store src/state/store.h pipeline/target.h
check store 1 'check-source: src/state/store.h includes "pipeline/target.h": state/ may include only: core pg'

# a new folder must be placed in the table
tree newdir
mkdir -p "$WORK/newdir/src/extra"
printf '#include "core/err.h"\n' >"$WORK/newdir/src/extra/x.c"
check newdir 1 'check-source: src/extra/x.c: folder extra/ is not in the layer table'

# the table itself: a folder may name only folders listed before it
tree table
sed -i "s|^    'core:'$|    'core:net'|" "$WORK/table/scripts/check-source.sh"
check table 1 'check-source: layer table: core names net, which is not below it'

if [ "$failures" -gt 0 ]; then
    echo "$TEST_NAME: $failures failure(s)" >&2
    exit 1
fi
echo "$TEST_NAME: ok"
