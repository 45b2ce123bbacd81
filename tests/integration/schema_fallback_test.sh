#!/usr/bin/env bash
# Without the DDL capture trigger, the embedded D1 follows a mapped table's columns from the
# Relation messages while `run` streams: an added column (no default) and a dropped one are
# followed, D1 compared with Postgres value by value after each; a rename, which a Relation
# message cannot tell from a drop and an add, stops the run with a message naming the trigger.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=sf_slot TEST_PUBLICATION=sf_pub
DIR=$WORK/sf
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.sf_items", "d1": { "database": "app" } }' >"$DIR/mappings/items.jsonc"
D1=$DIR/state/d1/app.sqlite

psql_q -c "CREATE TABLE sf_items (id int PRIMARY KEY, a text, z text)" -c "CREATE PUBLICATION sf_pub FOR TABLE sf_items" \
    -c "INSERT INTO sf_items SELECT g, 'a' || g, 'z' FROM generate_series(1, 20) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
PGOPTIONS="-c client_min_messages=warning" psql_q -c "DROP SCHEMA _wal2edge CASCADE" >/dev/null   # the trigger gone: only Relation messages tell
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0

compare() { compare_table sf_items "$D1" "$1"; }
wait_row() {   # wait_row ID: until D1 has it
    local _
    for _ in $(seq 1 120); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM sf_items WHERE id = $1" 2>/dev/null)" = 1 ] && return 0
        sleep 0.25
    done
    fail "D1 did not get row $1"; tail -5 "$WORK/run.err" >&2
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
psql_q -c "BEGIN; UPDATE sf_items SET a = 'before' WHERE id = 1; ALTER TABLE sf_items ADD COLUMN b int;
           INSERT INTO sf_items VALUES (100, 'x', 'z', 7); UPDATE sf_items SET b = 8 WHERE id = 2; COMMIT" >/dev/null
wait_row 100
compare "ADD COLUMN from the Relation message"
psql_q -c "BEGIN; ALTER TABLE sf_items DROP COLUMN a; INSERT INTO sf_items VALUES (101, 'z', 9); COMMIT" >/dev/null
wait_row 101
compare "DROP COLUMN from the Relation message"
psql_q -c "ALTER TABLE sf_items RENAME COLUMN b TO c" -c "INSERT INTO sf_items VALUES (102, 'z', 10)" >/dev/null
for _ in $(seq 1 120); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.25; done
kill -TERM "$run_pid" 2>/dev/null && fail "run did not stop at the rename" || true
set +e; wait "$run_pid"; rc=$?; set -e
[ "$rc" = 1 ] && pass "a rename without the trigger stops run" || fail "run exit $rc at the rename"
expect_contains "$WORK/run.err" "lost column b and gained column c" "the stop names both columns"
expect_contains "$WORK/run.err" "wal2edge setup" "and how to install the trigger"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM sf_items WHERE id = 102")" = 0 ] &&
    pass "nothing of the transaction after the stop reached D1" || fail "row 102 reached D1"

psql_q -c "SELECT pg_drop_replication_slot('sf_slot')" >/dev/null
finish
