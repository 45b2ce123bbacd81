#!/usr/bin/env bash
# The gap rule (pipeline/gap, docs/internals/replication.md "Gaps"), against the real Postgres and
# every embedded target (D1 file, KV store, queue spool, change log):
#  1. migrate (no --then-stream), changes, run later: nothing lost (the slot migrate made is kept);
#  2. an idle advance of the slot (writes to tables outside the publication) is not a gap;
#  3. slot dropped and created again between runs: slot drop asks for --force, run refuses naming
#     every target with both positions and its way back, status fails; the way back (migrate,
#     warm, --accept-gap) brings D1 and KV back equal to Postgres, including the change made
#     while there was no slot;
#  4. two state directories taking turns on one slot: the one left behind is refused;
#  5. the same for D1 over the REST API of the local edge: migrate, changes, run later; the slot
#     dropped and created again refuses; migrate is the way back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=gap_slot TEST_PUBLICATION=gap_pub
psql_q <<SQL >/dev/null
SET client_min_messages = warning;
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'gap_slot';
CREATE TABLE gap_items (id int PRIMARY KEY, v text);
CREATE TABLE gap_other (id serial PRIMARY KEY, note text);
INSERT INTO gap_items SELECT g, 'v' || g FROM generate_series(1, 100) g;
SQL
cd "$WORK"
config() {   # config DIR
    mkdir -p "$1"
    write_config "$1/w.jsonc" '"d1": { "app": {} }, "kv": { "cache": {} }, "queues": { "changes": {} },
      "changelog": { "path": "changes.ndjson" }, "mappings": ["../mappings/*.jsonc"]'
}
mkdir -p mappings
cat >mappings/items.jsonc <<'JSONC'
{ "table": "public.gap_items", "d1": { "database": "app" },
  "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "{v}" } ], "queue": { "queue": "changes" } }
JSONC
config a
A="--config a/w.jsonc"

d1_rows() { sqlite3 "$1/state/d1/app.sqlite" "SELECT id || '=' || v FROM gap_items ORDER BY id"; }
pg_rows() { psql_q -c "SELECT id || '=' || v FROM gap_items ORDER BY id"; }
kv_rows() { sqlite3 "$1/state/kv/cache.sqlite" "SELECT key || '=' || value FROM kv ORDER BY key"; }
pg_kv() { psql_q -c "SELECT 'item:' || id || '=' || v FROM gap_items ORDER BY ('item:' || id) COLLATE \"C\""; }
same_d1() {   # same_d1 DIR WHAT
    if [ "$(d1_rows "$1")" = "$(pg_rows)" ]; then pass "$2: D1 equals Postgres ($(pg_rows | wc -l) rows)"; else
        fail "$2: D1 differs from Postgres"; diff <(pg_rows) <(d1_rows "$1") | head -5 >&2; fi
}
slot_confirmed() { psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'gap_slot'"; }

# 1. migrate, then changes, then run a while later
run_w2e mig $A migrate --no-progress
expect_rc mig 0
[ "$(psql_q -c "SELECT NOT temporary FROM pg_replication_slots WHERE slot_name = 'gap_slot'")" = t ] &&
    pass "migrate kept the slot it created (permanent)" || fail "migrate left no permanent slot"
psql_q -c "INSERT INTO gap_items SELECT g, 'late' || g FROM generate_series(101, 110) g" \
    -c "UPDATE gap_items SET v = 'changed' WHERE id = 1" -c "DELETE FROM gap_items WHERE id = 2" >/dev/null
sleep 1
run_w2e run1 $A run --exit-when-caught-up
expect_rc run1 0
same_d1 a "migrate, changes, run later"

# 2. an idle advance: WAL from tables outside the publication moves the slot past the checkpoints
kv_before=$(sqlite3 a/state/kv/cache.sqlite "SELECT end_lsn FROM _wal2edge_kv_checkpoint")
psql_q -c "INSERT INTO gap_other (note) SELECT 'x' FROM generate_series(1, 1000)" >/dev/null
run_w2e idle $A run --exit-when-caught-up
expect_rc idle 0
# (every target's checkpoint follows the slot while idle, the fence: KV's too, with no transaction)
kv_end=$(sqlite3 a/state/kv/cache.sqlite "SELECT end_lsn FROM _wal2edge_kv_checkpoint")
[ "$(psql_q -c "SELECT '$(slot_confirmed)'::pg_lsn > '$kv_before'::pg_lsn AND '$kv_end'::pg_lsn > '$kv_before'::pg_lsn")" = t ] &&
    pass "the slot confirmed past the KV checkpoint of the last transaction while idle, and KV's checkpoint followed" ||
    fail "no idle advance happened (slot $(slot_confirmed), KV $kv_before, then $kv_end)"
run_w2e idle2 $A run --exit-when-caught-up
expect_rc idle2 0
expect_not_contains "$WORK/idle2.err" "cannot be brought up to date" "an idle advance is not a gap"
run_w2e st_ok $A status
expect_rc st_ok 0

# 3. the slot dropped and created again, with a change in between that no slot holds
run_w2e drop1 $A slot drop
expect_rc drop1 1
expect_contains "$WORK/drop1.err" "slot drop --force"
expect_contains "$WORK/drop1.err" "d1.app"
[ -n "$(slot_confirmed)" ] && pass "slot drop without --force kept the slot" || fail "slot dropped without --force"
run_w2e drop2 $A slot drop --force
expect_rc drop2 0
expect_contains "$WORK/drop2.out" "kv.cache"
psql_q -c "INSERT INTO gap_items VALUES (200, 'while no slot')" >/dev/null
run_w2e create $A slot create
expect_rc create 0
psql_q -c "INSERT INTO gap_items VALUES (201, 'after the new slot')" >/dev/null
run_w2e refused $A run --exit-when-caught-up
expect_rc refused 1
for t in d1.app kv.cache queues.changes changelog; do
    expect_contains "$WORK/refused.err" "$t: " "run names $t"
done
expect_contains "$WORK/refused.err" "wal2edge migrate"
expect_contains "$WORK/refused.err" "wal2edge warm"
expect_contains "$WORK/refused.err" "wal2edge run --accept-gap queues.changes"
expect_contains "$WORK/refused.err" "$(slot_confirmed)" "the message names the slot's position"
[ "$(sqlite3 a/state/d1/app.sqlite "SELECT count(*) FROM gap_items WHERE id = 201")" = 0 ] &&
    pass "nothing applied while refused" || fail "a change was applied while refused"
run_w2e st_gap $A status --json
expect_rc st_gap 1
[ "$(jq -r '.targets_with_gap' "$WORK/st_gap.out")" = 4 ] && pass "status --json: 4 targets with a gap" ||
    fail "status --json: $(jq -c '.targets_with_gap' "$WORK/st_gap.out")"
run_w2e bad_accept $A run --exit-when-caught-up --accept-gap kv.nope
expect_rc bad_accept 2
# the way back
run_w2e mig2 $A migrate --no-progress
expect_rc mig2 0
run_w2e warm $A warm
expect_rc warm 0
run_w2e still $A run --exit-when-caught-up
expect_rc still 1
expect_not_contains "$WORK/still.err" "d1.app: " "after migrate, d1.app has no gap"
expect_not_contains "$WORK/still.err" "kv.cache: " "after warm, kv.cache has no gap"
run_w2e back $A run --exit-when-caught-up --accept-gap queues.changes --accept-gap changelog
expect_rc back 0
expect_contains "$WORK/back.err" "gap accepted"
psql_q -c "INSERT INTO gap_items VALUES (202, 'after the way back')" >/dev/null
run_w2e after $A run --exit-when-caught-up
expect_rc after 0
same_d1 a "after migrate + run"
if [ "$(kv_rows a)" = "$(pg_kv)" ]; then pass "after warm + run: KV equals Postgres"; else
    fail "KV differs"; diff <(pg_kv) <(kv_rows a) | head -5 >&2; fi
grep -q '"after":{"id":202,' a/state/queues/changes.ndjson && pass "the queue goes on after its accepted gap" ||
    fail "the queue lacks the change after the accepted gap"
run_w2e st_back $A status
expect_rc st_back 0

# 4. two state directories taking turns on one slot
config b
B="--config b/w.jsonc"
run_w2e b1 $B run --exit-when-caught-up
expect_rc b1 0
psql_q -c "INSERT INTO gap_items VALUES (300, 'seen by b only')" >/dev/null
run_w2e b2 $B run --exit-when-caught-up
expect_rc b2 0
run_w2e a_again $A run --exit-when-caught-up
expect_rc a_again 1
expect_contains "$WORK/a_again.err" "d1.app: it is complete through"
[ "$(sqlite3 a/state/d1/app.sqlite "SELECT count(*) FROM gap_items WHERE id = 300")" = 0 ] &&
    pass "the state directory left behind applied nothing" || fail "state directory a applied past its gap"

# 5. D1 over the REST API (the edge emulator)
psql_q -c "SELECT pg_drop_replication_slot('gap_slot')" >/dev/null
d1_use rest
d1_config r gap_items
R="--config r/w.jsonc"
pg_items="SELECT id || '=' || v FROM gap_items"
d1_items="SELECT id || '=' || v FROM gap_items"
run_w2e r_mig $R migrate --no-progress
expect_rc r_mig 0
psql_q -c "INSERT INTO gap_items VALUES (400, 'rest late')" -c "UPDATE gap_items SET v = 'rest' WHERE id = 3" >/dev/null
run_w2e r_run $R run --exit-when-caught-up
expect_rc r_run 0
d1_same rest_migrate_then_run "$pg_items" "$d1_items"
run_w2e r_drop $R slot drop --force
expect_rc r_drop 0
psql_q -c "INSERT INTO gap_items VALUES (401, 'rest while no slot')" >/dev/null
run_w2e r_create $R slot create
expect_rc r_create 0
run_w2e r_refused $R run --exit-when-caught-up
expect_rc r_refused 1
expect_contains "$WORK/r_refused.err" "d1.app: its checkpoint"
expect_contains "$WORK/r_refused.err" "wal2edge migrate"
[ "$(d1_q "SELECT count(*) FROM gap_items WHERE id = 401")" = 0 ] && pass "[rest] nothing applied while refused" ||
    fail "[rest] applied while refused"
run_w2e r_mig2 $R migrate --no-progress
expect_rc r_mig2 0
psql_q -c "INSERT INTO gap_items VALUES (402, 'rest after the way back')" >/dev/null
run_w2e r_back $R run --exit-when-caught-up
expect_rc r_back 0
d1_same rest_way_back "$pg_items" "$d1_items"

psql_q -c "SELECT pg_drop_replication_slot('gap_slot')" >/dev/null
finish
