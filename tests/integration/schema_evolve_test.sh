#!/usr/bin/env bash
# Schema changes followed into the embedded D1 while `run` streams and a writer keeps changing the
# table: ADD COLUMN with a constant default (the rows already there get it), RENAME COLUMN, DROP
# COLUMN, each in a transaction with row changes before and after it; after each, D1 is compared
# with Postgres value by value. Then a rewrite by a type change, which run follows by rebuilding the
# D1 table and copying it again itself, and the changes that stop the run naming the way back: any
# change of a mapping with "on_schema_change": "stop", a KV template naming a renamed column.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=se_slot TEST_PUBLICATION=se_pub
DIR=$WORK/se
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {"migrations_dir": "migrations"}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.se_users", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "u:{id}", "value": "row" } ],
        "queue": { "queue": "changes" } }' >"$DIR/mappings/users.jsonc"
echo '{ "table": "public.se_orders", "on_schema_change": "stop", "d1": { "database": "app" } }' >"$DIR/mappings/orders.jsonc"
D1=$DIR/state/d1/app.sqlite

psql_q -c "CREATE TABLE se_users (id bigint PRIMARY KEY, email text NOT NULL, name text, score numeric(8,2))" \
    -c "CREATE TABLE se_orders (id int PRIMARY KEY, total int)" \
    -c "CREATE PUBLICATION se_pub FOR TABLE se_users, se_orders" \
    -c "INSERT INTO se_users SELECT g, 'u' || g || '@x', 'n' || g, g * 1.5 FROM generate_series(1, 50) g" \
    -c "INSERT INTO se_orders VALUES (1, 10)" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0

# D1 equals Postgres, value by value, over the columns the table has now (in Postgres order)
compare() { compare_table se_users "$D1" "$1"; }

wait_caught_up() {   # until D1 has the row just written (a marker insert), or 60 s
    local id=$1 _
    psql_q -c "INSERT INTO se_users (id, email) VALUES ($id, 'marker')" >/dev/null
    for _ in $(seq 1 240); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM se_users WHERE id = $id" 2>/dev/null)" = 1 ] && return 0
        sleep 0.25
    done
    fail "D1 did not catch up to marker $id"; cat "$WORK/run.err" >&2
}
checkpoint() {   # checkpoint MARKER WHAT: writer held, D1 caught up, compared, writer resumed
    pause_writer
    wait_caught_up "$1"
    compare "$2"
    resume_writer
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer se_users &
writer_pid=$!

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE se_users SET name = 'before add' WHERE id = 1;
ALTER TABLE se_users ADD COLUMN plan text NOT NULL DEFAULT 'free';
INSERT INTO se_users (id, email, plan) VALUES (100, 'new@x', 'pro');
UPDATE se_users SET plan = 'team' WHERE id = 2;
COMMIT;
SQL
checkpoint 9001 "ADD COLUMN with a default"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT plan FROM se_users WHERE id = 3")" = free ] &&
    pass "a row from before the ADD COLUMN has the default in D1" || fail "default not applied to old rows"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE se_users SET name = 'before rename' WHERE id = 4;
ALTER TABLE se_users RENAME COLUMN name TO full_name;
UPDATE se_users SET full_name = 'after rename' WHERE id = 5;
INSERT INTO se_users (id, email, full_name) VALUES (101, 'r@x', 'renamed');
COMMIT;
SQL
checkpoint 9002 "RENAME COLUMN"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT full_name FROM se_users WHERE id = 101")" = renamed ] &&
    pass "a row after the rename has its value under the new name" || fail "renamed column lost its value"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE se_users SET score = 99 WHERE id = 6;
ALTER TABLE se_users DROP COLUMN score;
INSERT INTO se_users (id, email) VALUES (102, 'd@x');
COMMIT;
SQL
checkpoint 9003 "DROP COLUMN"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM pragma_table_info('se_users') WHERE name = 'score'")" = 0 ] &&
    pass "the dropped column is gone from D1" || fail "score still in D1"

touch "$WORK/stop_writer"
wait "$writer_pid"
wait_caught_up 9004
compare "after the writer stopped"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || fail "run exit after SIGTERM"
expect_contains "$WORK/run.err" "add column plan (text)" "run logs the change it followed"

# A restart replays nothing twice: the shape is kept with the checkpoint.
run_w2e again --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc again 0
compare "after a restart"

KV=$DIR/state/kv/cache.sqlite
[ "$(sqlite3 -batch -noheader "$KV" "SELECT value FROM kv WHERE key = 'u:100'" | jq -r '"\(.plan) \(.full_name)"')" = "pro null" ] &&
    pass "KV values follow the new shape (added and renamed columns)" ||
    fail "KV value of u:100: $(sqlite3 -batch -noheader "$KV" "SELECT value FROM kv WHERE key = 'u:100'")"
[ "$(sqlite3 -batch -noheader "$KV" "SELECT value FROM kv WHERE key = 'u:101'" | jq -r '.full_name')" = renamed ] &&
    pass "a KV value written after the rename carries the new name" || fail "KV value of u:101"

# D1's migrations folder follows: one wrangler migration per change, which applied in order to
# the schema migrate made give the same table as the live one.
ls "$DIR/migrations" >"$WORK/migrations.txt"
[ "$(tr '\n' ' ' <"$WORK/migrations.txt")" = "0001_wal2edge_se_users.sql 0002_wal2edge_se_users.sql 0003_wal2edge_se_users.sql " ] &&
    pass "three migration files for the three changes" || fail "migrations: $(tr '\n' ' ' <"$WORK/migrations.txt")"
expect_contains "$DIR/migrations/0001_wal2edge_se_users.sql" "ALTER TABLE \"se_users\" ADD COLUMN \"plan\" TEXT DEFAULT 'free';" \
    "the first is the ADD COLUMN with its default"
sqlite3 "$WORK/replay.sqlite" "CREATE TABLE se_users (id INTEGER, email TEXT, name TEXT, score REAL, PRIMARY KEY (id))"
cat "$DIR"/migrations/*.sql | sqlite3 "$WORK/replay.sqlite"
[ "$(sqlite3 "$WORK/replay.sqlite" "SELECT group_concat(name) FROM pragma_table_info('se_users')")" = \
  "$(sqlite3 "$D1" "SELECT group_concat(name) FROM pragma_table_info('se_users')")" ] &&
    pass "the migrations replayed give the live D1 table's columns" || fail "replayed migrations differ"

# Queues: each schema change is an event of its own (op "s") at its point in the stream.
SPOOL=$DIR/state/queues/changes.ndjson
jq -c 'select(.op == "s") | [.ddl.event, ([.ddl.columns[]?.name] | join(","))]' "$SPOOL" | tr -d '\n' >"$WORK/s_events"
[ "$(cat "$WORK/s_events")" = '["ddl_command_end","id,email,name,score,plan"]["ddl_command_end","id,email,full_name,score,plan"]["ddl_command_end","id,email,full_name,plan"]' ] &&
    pass "the queue has the three schema-change events" || fail "schema-change events: $(cat "$WORK/s_events")"
add_txn=$(jq -r 'select(.op == "s") | .source.lsn' "$SPOOL" | head -1)
[ "$(jq -r --argjson l "$add_txn" 'select(.source.lsn == $l) | "\(.op):\(.after.plan // "-")"' "$SPOOL" | tr '\n' ' ')" = "u:- s:- c:pro u:team " ] &&
    pass "in its transaction: the update before it, then the rows in the new shape" ||
    fail "events of the ADD COLUMN transaction: $(jq -c --argjson l "$add_txn" 'select(.source.lsn == $l) | [.id, .op]' "$SPOOL" | tr '\n' ' ')"

# 2. A rewrite (a type change that converts): run rebuilds the D1 table in the new shape and copies
#    its rows again itself, and goes on.
psql_q -c "ALTER TABLE se_users ALTER COLUMN id TYPE int" >/dev/null
run_w2e rewrite --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc rewrite 0
expect_contains "$WORK/rewrite.err" "rewrote public.se_users" "run says the table was rewritten"
expect_contains "$WORK/rewrite.err" "rebuilt in the new shape, and its rows are copied again" "and that it copies it again"
expect_contains "$WORK/rewrite.err" "resync public.se_users: every chunk sent" "which it did"
compare "after the rewrite (rebuilt and copied again by run)"
[ ! -e "$DIR/state/resync/public.se_users.json" ] && pass "no re-copy is left pending" || fail "a re-copy is left pending"

# 3. "on_schema_change": "stop": any change stops, naming the mapping and the change.
psql_q -c "ALTER TABLE se_orders ADD COLUMN note text" >/dev/null
run_w2e stop --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc stop 1
expect_contains "$WORK/stop.err" "\"on_schema_change\": \"stop\"" "the stop names the mapping's policy"
expect_contains "$WORK/stop.err" "add column note (text)" "and the change"

# 4. KV: a key template naming a column that a rename took away stops, naming the template and the fix.
echo '{ "on_schema_change": "evolve", "table": "public.se_orders", "kv": [ { "namespace": "cache", "key": "o:{total}", "value": "row" } ] }' \
    >"$DIR/mappings/orders.jsonc"
run_w2e remigrate2 --config "$DIR/w.jsonc" migrate
run_w2e warm --config "$DIR/w.jsonc" warm
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/kvstop.out" 2>"$WORK/kvstop.err" &
run_pid=$!
# while run streams (at start, the mapping check against the catalog would catch it)
for _ in $(seq 1 600); do grep -q "streaming from slot" "$WORK/kvstop.err" && break; sleep 0.1; done
psql_q -c "ALTER TABLE se_orders RENAME COLUMN total TO amount" -c "INSERT INTO se_orders VALUES (2, 20)" >/dev/null
for _ in $(seq 1 120); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.25; done
kill -TERM "$run_pid" 2>/dev/null && fail "run did not stop at the rename" || true
set +e; wait "$run_pid"; echo $? >"$WORK/kvstop.rc"; set -e
expect_rc kvstop 1
expect_contains "$WORK/kvstop.err" "the key template \"o:{total}\" names column total" "the KV stop names the template and column"
expect_contains "$WORK/kvstop.err" "wal2edge warm --mapping public.se_orders" "and the way back"

psql_q -c "SELECT pg_drop_replication_slot('se_slot')" >/dev/null
finish
