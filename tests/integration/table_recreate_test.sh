#!/usr/bin/env bash
# A mapped table dropped and created again under the same name (a new OID; it drops out of the
# explicit-list publication): `run` adds it back to the publication, rebuilds its D1 table and copies
# it again itself, and goes on - between runs and while it streams; the old table's rows and keys are
# gone, the new table's are there. A mapped table missing from the publication is added back and
# copied again too. A publication dropped and created again under the slot still stops run with its
# way back. DROP TABLE of a mapped table: "on_drop": "drop" (the default) drops the D1 table, deletes
# the KV keys of its rows and sends the queue a schema event; "keep" keeps them; run goes on.
# Embedded D1, KV and a queue.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=tr_slot TEST_PUBLICATION=tr_pub
DIR=$WORK/tr
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {"migrations_dir": "migrations"}}, "kv": {"cache": {}}, "queues": {"changes": {}},
  "run": {"status_interval_ms": 500}, "mappings": ["mappings/*.jsonc"]'
mapping() {   # mapping [ON_DROP]
    echo '{ "table": "public.tr_items", '"${1:+\"on_drop\": \"$1\", }"'"d1": { "database": "app" }, "queue": { "queue": "changes" },
            "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" } ] }' >"$DIR/mappings/items.jsonc"
}
mapping
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
SPOOL=$DIR/state/queues/changes.ndjson
d1_ids() { sqlite3 -batch -noheader "$D1" 'SELECT group_concat(id, ",") FROM (SELECT id FROM tr_items ORDER BY id)' 2>&1; }
d1_rows() { sqlite3 -batch -noheader "$D1" 'SELECT group_concat(id || ":" || v, ",") FROM (SELECT id, v FROM tr_items ORDER BY id)' 2>&1; }
pg_rows() { psql_q -c "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM tr_items"; }
kv_keys() { sqlite3 -batch -noheader "$KV" 'SELECT group_concat(key, ",") FROM (SELECT key FROM kv ORDER BY key)'; }
oid() { psql_q -c "SELECT 'public.tr_items'::regclass::oid"; }
recreate() {   # drop the table and create it again, with new rows $1..$2 (one transaction: a check
               # in between would rightly report the table as dropped)
    psql_q -c "DROP TABLE tr_items; CREATE TABLE tr_items (id int PRIMARY KEY, v text);
               INSERT INTO tr_items SELECT g, 'new ' || g FROM generate_series($1, $2) g" >/dev/null
}
recopy() {   # the way back after the publication's part: migrate, then warm
    run_w2e "$1_migrate" --config "$DIR/w.jsonc" migrate
    expect_rc "$1_migrate" 0
    run_w2e "$1_warm" --config "$DIR/w.jsonc" warm --mapping public.tr_items
    expect_rc "$1_warm" 0
}
wait_for() {   # WHAT COMMAND EXPECTED: up to 30 s
    for _ in $(seq 1 300); do [ "$($2)" = "$3" ] && break; sleep 0.1; done
    [ "$($2)" = "$3" ] && pass "$1" || fail "$1: $($2 | cut -c1-200)"
}

psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'tr_slot'" >/dev/null
psql_q -c "DROP PUBLICATION IF EXISTS tr_pub" -c "CREATE TABLE tr_items (id int PRIMARY KEY, v text)" \
    -c "CREATE PUBLICATION tr_pub FOR TABLE tr_items" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
psql_q -c "INSERT INTO tr_items SELECT g, 'old ' || g FROM generate_series(1, 3) g" >/dev/null
run_w2e run1 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run1 0
[ "$(d1_ids)" = "1,2,3" ] && pass "the old table's rows are in D1" || fail "D1 after run1: $(d1_ids)"

# 1. Between runs: dropped and created again (a new OID), rows only in the new table. run adds it
#    back to the publication and copies it again; the old rows and keys are gone.
old_oid=$(oid)
recreate 10 12
new_oid=$(oid)
run_w2e run2 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run2 0
expect_contains "$WORK/run2.err" "table public.tr_items: it was dropped and created again (OID $old_oid, now $new_oid): added back to the publication; it is copied again into its targets"
[ "$(psql_q -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'tr_pub' AND tablename = 'tr_items'")" = 1 ] &&
    pass "the table is in the publication again" || fail "not in the publication"
[ "$(d1_rows)" = "$(pg_rows)" ] && pass "D1 holds exactly the new table's rows ($(d1_ids))" || fail "D1 after run2: $(d1_rows | cut -c1-200)"
[ "$(kv_keys)" = "item:10,item:11,item:12" ] && pass "KV holds exactly the new table's keys" || fail "KV after run2: $(kv_keys)"
run_w2e doctor3 --config "$DIR/w.jsonc" doctor
expect_contains "$WORK/doctor3.out" "ok    source_tables            every mapped table is the one its targets were filled from"
psql_q -c "INSERT INTO tr_items VALUES (13, 'streamed')" >/dev/null
run_w2e run4 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run4 0
[ "$(d1_ids)" = "10,11,12,13" ] && pass "run streams the new table" || fail "D1 after run4: $(d1_ids)"

# 2. While run streams, under writes to the new table: it notices within a status interval (a
#    dropped table emits nothing but its drop), adds it back and copies it again, and goes on.
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/live.out" 2>"$WORK/live.err" &
pid=$!
psql_q -c "INSERT INTO tr_items VALUES (14, 'live')" >/dev/null
wait_for "live row streamed" d1_ids "10,11,12,13,14"
recreate 20 2000
for i in $(seq 1 30); do psql_q -c "UPDATE tr_items SET v = 'w$i' WHERE id = $((20 + i * 7)); INSERT INTO tr_items VALUES ($((5000 + i)), 'ins')" >/dev/null 2>&1 || true; sleep 0.05; done
psql_q -c "INSERT INTO tr_items VALUES (9999, 'marker')" >/dev/null
for _ in $(seq 1 300); do [ "$(sqlite3 -batch -noheader "$D1" 'SELECT count(*) FROM tr_items WHERE id = 9999' 2>/dev/null)" = 1 ] && break; sleep 0.1; done
for _ in $(seq 1 300); do [ ! -e "$DIR/state/resync/public.tr_items.again" ] && [ ! -e "$DIR/state/resync/public.tr_items.json" ] && break; sleep 0.1; done
psql_q -c "INSERT INTO tr_items VALUES (9998, 'marker')" >/dev/null
wait_for "D1 equals the new table after drop + create under writes" d1_rows "$(pg_rows)"
kill -0 "$pid" 2>/dev/null && pass "run goes on after the drop and create" || fail "run stopped: $(tail -2 "$WORK/live.err")"
# KV is flushed after D1: the last marker's key there first
for _ in $(seq 1 300); do [ "$(sqlite3 -batch -noheader "$KV" "SELECT count(*) FROM kv WHERE key = 'item:9998'")" = 1 ] && break; sleep 0.1; done
kv_n=$(sqlite3 -batch -noheader "$KV" "SELECT count(*) FROM kv")
[ "$kv_n" = "$(psql_q -c 'SELECT count(*) FROM tr_items')" ] && [ -z "$(sqlite3 -batch -noheader "$KV" "SELECT key FROM kv WHERE key IN ('item:10', 'item:14')")" ] &&
    pass "KV holds one key per row of the new table ($kv_n), none of the old" || fail "KV after the live recreate: $kv_n keys"
kill -TERM "$pid"
wait "$pid" && pass "run drained on SIGTERM" || fail "run exit after SIGTERM"

# 3. A mapped table the publication leaves out (same OID): added back and copied again.
psql_q -c 'ALTER PUBLICATION tr_pub DROP TABLE public.tr_items' -c "INSERT INTO tr_items VALUES (3000, 'unpublished')" >/dev/null
run_w2e unpub --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc unpub 0
expect_contains "$WORK/unpub.err" 'table public.tr_items: it was missing from publication \"tr_pub\": its changes were not streamed: added back to the publication'
[ "$(d1_rows)" = "$(pg_rows)" ] && pass "the row written while it was unpublished is in D1" || fail "D1 after re-publishing: $(d1_ids | tail -c 40)"

# 4. The publication dropped and created again under the slot, with a change in between: the
# walsender cannot decode past it; run says so with the way back, which works.
psql_q -c "DROP PUBLICATION tr_pub" -c "INSERT INTO tr_items VALUES (3030, 'unpublished')" \
    -c "CREATE PUBLICATION tr_pub FOR TABLE tr_items" -c "INSERT INTO tr_items VALUES (3031, 'after')" >/dev/null
run_w2e pubgap --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc pubgap 1
expect_contains "$WORK/pubgap.err" 'publication "tr_pub" does not exist at the slot'"'"'s position'
expect_contains "$WORK/pubgap.err" 'the way back: wal2edge slot drop --force; wal2edge slot create; then rebuild each target as wal2edge run lists them: D1 with wal2edge migrate, KV with wal2edge warm'
run_w2e pubgap_drop --config "$DIR/w.jsonc" slot drop --force
expect_rc pubgap_drop 0
run_w2e pubgap_create --config "$DIR/w.jsonc" slot create
expect_rc pubgap_create 0
recopy pubgap
run_w2e pubgap_run --config "$DIR/w.jsonc" run --exit-when-caught-up --accept-gap queues.changes
expect_rc pubgap_run 0
[ "$(d1_rows)" = "$(pg_rows)" ] && pass "after the way back D1 holds every row" || fail "D1 after the publication way back differs"

# 5. DROP TABLE while run streams, "on_drop": "drop" (the default): the D1 table is dropped (and a
#    migration written), the KV keys of its rows deleted, the queue gets the drop; run goes on.
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/gone.out" 2>"$WORK/gone.err" &
pid=$!
psql_q -c "INSERT INTO tr_items VALUES (4040, 'last')" >/dev/null
has40() { sqlite3 -batch -noheader "$D1" "SELECT v FROM tr_items WHERE id = 4040"; }
wait_for "streaming before the drop" has40 last
psql_q -c "DROP TABLE tr_items" >/dev/null
d1_table() { sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM sqlite_master WHERE name = 'tr_items'"; }
wait_for "the D1 table is dropped" d1_table 0
wait_for "the KV keys of its rows are deleted" kv_keys ""
# the watch sees the table gone at its next status interval; then three more: it says so once
for _ in $(seq 1 300); do grep -q 'table public.tr_items was dropped: its targets follow' "$WORK/gone.err" && break; sleep 0.1; done
sleep 1.5
kill -0 "$pid" 2>/dev/null && pass "run goes on after the drop" || fail "run stopped after the drop: $(tail -2 "$WORK/gone.err")"
expect_contains "$WORK/gone.err" 'public.tr_items was dropped: D1 table \"tr_items\" dropped' "run logs the D1 drop"
[ "$(grep -c 'table public.tr_items was dropped: its targets follow' "$WORK/gone.err")" = 1 ] &&
    pass "the watch says it once" || fail "the watch's line: $(grep -c 'table public.tr_items was dropped: its targets follow' "$WORK/gone.err") times"
grep -l 'DROP TABLE IF EXISTS "tr_items"' "$DIR"/migrations/*.sql >/dev/null && pass "a migration file drops the D1 table" || fail "no drop migration"
[ "$(jq -r 'select(.op == "s") | .ddl.event' "$SPOOL" | tail -1)" = sql_drop ] && pass "the queue got the drop as a schema event" ||
    fail "queue's last schema event: $(jq -r 'select(.op == "s") | .ddl.event' "$SPOOL" | tail -1)"

# 6. Created again while run streams: it comes back (a new D1 table, copied); then "on_drop": "keep"
#    keeps the last rows and keys at the next drop, and run goes on.
psql_q -c "CREATE TABLE tr_items (id int PRIMARY KEY, v text)" -c "INSERT INTO tr_items VALUES (50, 'back'), (51, 'back')" >/dev/null
wait_for "created again, it is copied into a new D1 table" d1_rows "50:back,51:back"
kill -TERM "$pid"
wait "$pid" && pass "run drained on SIGTERM" || fail "run exit after SIGTERM"
mapping keep
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/keep.out" 2>"$WORK/keep.err" &
pid=$!
psql_q -c "INSERT INTO tr_items VALUES (52, 'back')" >/dev/null
wait_for "streaming before the kept drop" d1_ids "50,51,52"
psql_q -c "DROP TABLE tr_items" >/dev/null
for _ in $(seq 1 100); do grep -q 'keeps its last rows' "$WORK/keep.err" && break; sleep 0.1; done
sleep 1.5
kill -0 "$pid" 2>/dev/null && pass "run goes on after a kept drop" || fail "run stopped after a kept drop"
[ "$(d1_ids)" = "50,51,52" ] && pass "D1 keeps the last rows" || fail "D1 after a kept drop: $(d1_ids)"
[ "$(kv_keys)" = "item:50,item:51,item:52" ] && pass "KV keeps the last keys" || fail "KV after a kept drop: $(kv_keys)"
expect_contains "$WORK/keep.err" 'D1 table \"tr_items\" keeps its last rows (\"on_drop\": \"keep\"' "run logs the kept drop"
kill -TERM "$pid"
wait "$pid" && pass "run drained on SIGTERM" || fail "run exit after SIGTERM"

psql_q -c "SELECT pg_drop_replication_slot('tr_slot')" >/dev/null
finish
