#!/usr/bin/env bash
# A mapped table dropped and created again under the same name (a new OID; it drops out of the
# explicit-list publication): `run` stops with a message naming the table, both OIDs and the way
# back, between runs and while it streams; the way back it prints (ALTER PUBLICATION, migrate,
# warm --mapping, run) works. A mapped table missing from the publication stops run too, and so
# does a publication dropped and created again under the slot (with its own way back), and a
# mapped table dropped while run streams.
# Embedded D1 and KV: the check is on the source side, the same for every backend.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=tr_slot TEST_PUBLICATION=tr_pub
DIR=$WORK/tr
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "run": {"status_interval_ms": 500},
  "mappings": ["mappings/*.jsonc"]'
echo '{ "table": "public.tr_items", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" } ] }' \
    >"$DIR/mappings/items.jsonc"
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
d1_ids() { sqlite3 -batch -noheader "$D1" 'SELECT group_concat(id, ",") FROM (SELECT id FROM tr_items ORDER BY id)'; }
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

psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'tr_slot'" >/dev/null
psql_q -c "DROP PUBLICATION IF EXISTS tr_pub" -c "CREATE TABLE tr_items (id int PRIMARY KEY, v text)" \
    -c "CREATE PUBLICATION tr_pub FOR TABLE tr_items" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
psql_q -c "INSERT INTO tr_items SELECT g, 'old ' || g FROM generate_series(1, 3) g" >/dev/null
run_w2e run1 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run1 0
[ "$(d1_ids)" = "1,2,3" ] && pass "the old table's rows are in D1" || fail "D1 after run1: $(d1_ids)"

# 1. Between runs: dropped and created again (a new OID), rows only in the new table.
old_oid=$(oid)
recreate 10 12
new_oid=$(oid)
run_w2e run2 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run2 1
expect_contains "$WORK/run2.err" "table public.tr_items was dropped and created again (OID $old_oid, now $new_oid) and is missing from the publication"
expect_contains "$WORK/run2.err" 'the way back: ALTER PUBLICATION "tr_pub" ADD TABLE public.tr_items; wal2edge migrate (its D1 table); wal2edge warm --mapping public.tr_items (its KV keys); then wal2edge run'
# doctor says the same (without recording anything)
run_w2e doctor2 --config "$DIR/w.jsonc" doctor
expect_rc doctor2 1
expect_contains "$WORK/doctor2.out" "FAIL  source_tables            table public.tr_items was dropped and created again (OID $old_oid, now $new_oid)"
expect_contains "$WORK/doctor2.out" 'publication "tr_pub" does not publish 1 mapped table: public.tr_items'
# adding it to the publication alone is not enough: the targets still hold the old table's rows
psql_q -c 'ALTER PUBLICATION tr_pub ADD TABLE public.tr_items' >/dev/null
run_w2e run2b --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run2b 1
expect_contains "$WORK/run2b.err" "was dropped and created again (OID $old_oid, now $new_oid): its targets hold the old table's rows"
psql_q -c 'ALTER PUBLICATION tr_pub DROP TABLE public.tr_items' >/dev/null
psql_q -c 'ALTER PUBLICATION tr_pub ADD TABLE public.tr_items' >/dev/null
recopy between
run_w2e run3 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run3 0
[ "$(d1_ids)" = "10,11,12" ] && pass "after the way back D1 holds the new table's rows" || fail "D1 after the way back: $(d1_ids)"
case ",$(kv_keys)," in *,item:10,item:11,item:12,*) pass "after the way back KV holds the new table's keys" ;;
    *) fail "KV after the way back: $(kv_keys)" ;; esac
run_w2e doctor3 --config "$DIR/w.jsonc" doctor
expect_contains "$WORK/doctor3.out" "ok    source_tables            every mapped table is the one its targets were filled from"
psql_q -c "INSERT INTO tr_items VALUES (13, 'streamed')" >/dev/null
run_w2e run4 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run4 0
[ "$(d1_ids)" = "10,11,12,13" ] && pass "run streams the new table again" || fail "D1 after run4: $(d1_ids)"

# 2. While run streams: it notices within a status interval (a dropped table emits nothing).
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/live.out" 2>"$WORK/live.err" &
pid=$!
psql_q -c "INSERT INTO tr_items VALUES (14, 'live')" >/dev/null
for _ in $(seq 1 100); do [ "$(d1_ids)" = "10,11,12,13,14" ] && break; sleep 0.1; done
[ "$(d1_ids)" = "10,11,12,13,14" ] && pass "live row streamed" || fail "live row: $(d1_ids)"
old_oid=$(oid)
recreate 20 21
new_oid=$(oid)
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "run still running 10 s after the table was dropped and created again"
    kill -TERM "$pid"
fi
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 1 ] && pass "run stopped with exit 1" || fail "run exited $rc"
expect_contains "$WORK/live.err" "table public.tr_items was dropped and created again (OID $old_oid, now $new_oid) and is missing from the publication"
psql_q -c 'ALTER PUBLICATION tr_pub ADD TABLE public.tr_items' >/dev/null
recopy live
run_w2e run5 --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run5 0
[ "$(d1_ids)" = "20,21" ] && pass "after the way back D1 holds the new table's rows" || fail "D1 after the live way back: $(d1_ids)"

# 3. A mapped table the publication leaves out (same OID) stops run too, with the statement to run.
psql_q -c 'ALTER PUBLICATION tr_pub DROP TABLE public.tr_items' >/dev/null
run_w2e unpub --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc unpub 1
expect_contains "$WORK/unpub.err" 'table public.tr_items is missing from publication "tr_pub": its changes are not streamed; the way back: ALTER PUBLICATION "tr_pub" ADD TABLE public.tr_items;'
psql_q -c 'ALTER PUBLICATION tr_pub ADD TABLE public.tr_items' >/dev/null
run_w2e repub --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc repub 0

# 4. The publication dropped and created again under the slot, with a change in between: the
# walsender cannot decode past it; run says so with the way back, which works.
psql_q -c "DROP PUBLICATION tr_pub" -c "INSERT INTO tr_items VALUES (30, 'unpublished')" \
    -c "CREATE PUBLICATION tr_pub FOR TABLE tr_items" -c "INSERT INTO tr_items VALUES (31, 'after')" >/dev/null
run_w2e pubgap --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc pubgap 1
expect_contains "$WORK/pubgap.err" 'publication "tr_pub" does not exist at the slot'"'"'s position'
expect_contains "$WORK/pubgap.err" 'the way back: wal2edge slot drop --force; wal2edge slot create; then rebuild each target as wal2edge run lists them: D1 with wal2edge migrate, KV with wal2edge warm'
run_w2e pubgap_drop --config "$DIR/w.jsonc" slot drop --force
expect_rc pubgap_drop 0
run_w2e pubgap_create --config "$DIR/w.jsonc" slot create
expect_rc pubgap_create 0
recopy pubgap
run_w2e pubgap_run --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc pubgap_run 0
[ "$(d1_ids)" = "20,21,30,31" ] && pass "after the way back D1 holds every row" || fail "D1 after the publication way back: $(d1_ids)"

# 5. Dropped while run streams, and not created again: run stops and says so.
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/gone.out" 2>"$WORK/gone.err" &
pid=$!
psql_q -c "INSERT INTO tr_items VALUES (40, 'last')" >/dev/null
for _ in $(seq 1 100); do [ "$(d1_ids)" = "20,21,30,31,40" ] && break; sleep 0.1; done
[ "$(d1_ids)" = "20,21,30,31,40" ] && pass "streaming before the drop" || fail "D1 before the drop: $(d1_ids)"
gone_oid=$(oid)
psql_q -c "DROP TABLE tr_items" >/dev/null
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "run still running 10 s after the table was dropped"
    kill -TERM "$pid"
fi
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 1 ] && pass "run stopped with exit 1 after the drop" || fail "run exited $rc after the drop"
expect_contains "$WORK/gone.err" "table public.tr_items was dropped (it was OID $gone_oid): its targets keep its last rows"

psql_q -c "SELECT pg_drop_replication_slot('tr_slot')" >/dev/null
finish
