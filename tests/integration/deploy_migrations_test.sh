#!/usr/bin/env bash
# migrations/ is exactly what `wal2edge plan --write-migrations` writes from the repo's own
# wal2edge.jsonc, mappings/ and the demo schema (sql/demo.sql): a mapping or a DDL change that
# is not followed by regenerating the checked-in migrations fails here. To regenerate:
#   rm -r migrations && wal2edge plan --write-migrations migrations   (on the demo database)
source "$(dirname "$0")/lib.sh"
repo=$WAL2EDGE_SOURCE_DIR

psql_q -f "$repo/sql/demo.sql" >/dev/null
# the repo's config and mappings, copied so the config-relative state_dir is the test's own
mkdir -p "$WORK/cfg"
cp "$repo/wal2edge.jsonc" "$WORK/cfg/"
cp -r "$repo/mappings" "$WORK/cfg/"

run_w2e plan --config "$WORK/cfg/wal2edge.jsonc" plan --write-migrations "$WORK/migrations"
expect_rc plan 0
ls "$WORK/migrations"/*.sql >/dev/null 2>&1 && pass "plan wrote $(ls "$WORK/migrations" | wc -l) migration files" ||
    fail "plan wrote no migration files"
if diff -ru "$repo/migrations" "$WORK/migrations" >"$WORK/diff.out"; then
    pass "migrations/ matches what plan --write-migrations writes"
else
    fail "migrations/ differs from what plan --write-migrations writes (regenerate it, see this test's header):"
    sed 's/^/    | /' "$WORK/diff.out" >&2
fi

finish
