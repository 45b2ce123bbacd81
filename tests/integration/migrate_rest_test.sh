#!/usr/bin/env bash
# migrate into D1 over the REST API of the local edge emulator: a schema with many types and
# foreign keys; a large table through /import (init -> upload -> ingest -> poll, seen in the
# emulator's request log), a row too large for an import statement and the small tables through
# upserts; every table read back through the API with matching counts and checksums; the
# checkpoint at the snapshot's LSN; --write-migrations files; a migrate killed mid-copy, then a
# rerun that says it restarts cleanly; --then-stream with writers running throughout, ending
# with D1 identical to Postgres.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snapshot_lib.sh"
source "$(dirname "$0")/d1_lib.sh"
source "$(dirname "$0")/migrate_lib.sh"

export TEST_SLOT=w2e_mgr_slot TEST_PUBLICATION=w2e_mgr_pub
mig_cleanup w2e_mgr
mig_schema mgr 3000 12000
psql_q <<'SQL' >/dev/null
-- too large for one statement of literals: goes as an upsert with bound values
UPDATE mgr_items SET name = repeat('big ', 40000) WHERE id = 777;
SQL
d1_use rest
# one database for every run (the emulator has a fixed number of them), emptied first
D1_DB_ID=w2e-migrate_rest_test
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_DB_ID"
d1_exec "DROP TABLE IF EXISTS mgr_types; DROP TABLE IF EXISTS mgr_users; DROP TABLE IF EXISTS mgr_items;
         DROP TABLE IF EXISTS _wal2edge_state; DROP TABLE IF EXISTS _wal2edge_migrate"
cd "$WORK"
d1_config "$WORK" mgr_types mgr_users mgr_items
ADMIN=$EDGE_ADMIN_URL
last_seq() { curl -sS "$ADMIN/counters" | jq -r .last_seq; }
checkpoint() { d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'"; }

# 1. a fresh database: items (12,000 rows) through /import, users and types through upserts
seq0=$(last_seq)
run_w2e m1 --config w.jsonc migrate --no-progress --import-rows 10000 --write-migrations migrations
expect_rc m1 0
expect_contains "$WORK/m1.out" "migrated 3 table(s), 15003 rows"
[ "$(grep -c ': ok$' m1.out)" = 3 ] && pass "3 tables read back through the API (rows and checksum)" ||
    fail "verification lines"
grep 'mgr_items <- public.mgr_items' m1.out | grep -q '\[1 /import file(s), 1 rows upserted\]: ok$' &&
    pass "items through /import, its oversized row upserted" || fail "items path: $(grep mgr_items m1.out)"
grep 'mgr_users <- public.mgr_users' m1.out | grep -q '\[upserts\]: ok$' && pass "users through upserts" ||
    fail "users path: $(grep mgr_users m1.out)"
expect_contains "$WORK/m1.err" "d1.app: copying into the D1 database $D1_DB_ID"
# the import flow in the emulator's request log, in order
curl -sS "$ADMIN/log?since=$seq0&limit=10000" |
    jq -r '.entries[] | select(.route | startswith("d1.import")) | "\(.route) \(.method) \(.status)"' >imports.log
[ "$(head -3 imports.log | tr '\n' ,)" = "d1.import POST 200,d1.import_upload PUT 200,d1.import POST 200," ] &&
    [ "$(wc -l <imports.log)" -ge 4 ] && [ "$(tail -1 imports.log)" = "d1.import POST 200" ] &&
    pass "request log: init, upload, ingest, poll ($(wc -l <imports.log) requests)" ||
    fail "import flow in the log: $(tr '\n' , <imports.log)"
lsn=$(sed -n 's/.*from the snapshot at \([0-9A-F/]*\)$/\1/p' m1.out)
[ -n "$lsn" ] && [ "$(checkpoint)" = "$lsn" ] && pass "d1 checkpoint = the snapshot's LSN ($lsn)" ||
    fail "checkpoint $(checkpoint), snapshot $lsn"
[ "$(d1_q "SELECT count(*) FROM _wal2edge_migrate")" = 0 ] && pass "no unfinished-copy row after success" ||
    fail "progress row left"
d1_same items "SELECT concat_ws('|', id, user_id, name, price, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) FROM mgr_items" \
    "SELECT id || '|' || user_id || '|' || name || '|' || price || '|' || at FROM mgr_items"
d1_same types "SELECT id || '|' || coalesce(i8::text, '') || '|' || coalesce(num::text, '') || '|' || coalesce(upper(encode(by, 'hex')), '') FROM mgr_types" \
    "SELECT id || '|' || coalesce(i8, '') || '|' || coalesce(num, '') || '|' || hex(\"by\") FROM mgr_types"
ls migrations/0001_wal2edge_state.sql >/dev/null 2>&1 && grep -q 'CREATE TABLE IF NOT EXISTS "mgr_items"' migrations/0002_*.sql &&
    pass "--write-migrations wrote the wrangler files" || fail "migration files: $(ls migrations 2>&1)"

# 2. killed mid-copy (items imported, users' upserts slowed down by the emulator): the progress row
#    says so, and a rerun restarts cleanly
psql_q -c "DELETE FROM mgr_items WHERE id > 11000" >/dev/null
curl -sS -X POST "$ADMIN/faults" -d "{\"path\":\"$D1_DB_ID/query\",\"delay_ms\":300,\"count\":1000}" >/dev/null
"$WAL2EDGE_BIN" --config w.jsonc migrate --no-progress --import-rows 10000 >"$WORK/m2.out" 2>"$WORK/m2.err" &
mpid=$!
for _ in $(seq 200); do
    [ "$(d1_q "SELECT count(*) FROM mgr_items")" = 11000 ] && [ "$(d1_q "SELECT count(*) FROM mgr_users")" -gt 0 ] &&
        break
    sleep 0.1
done
kill -9 $mpid; wait $mpid 2>/dev/null || true
curl -sS -X DELETE "$ADMIN/faults" >/dev/null
expect_contains "$WORK/m2.err" "held the checkpoint $lsn of slot \"$TEST_SLOT\" (an earlier migrate or run); restarting cleanly"
users=$(d1_q "SELECT count(*) FROM mgr_users")
[ "$(d1_q "SELECT count(*) FROM _wal2edge_migrate")" = 1 ] && [ "$users" -gt 0 ] && [ "$users" -lt 3000 ] &&
    [ "$(d1_q "SELECT count(*) FROM mgr_items")" = 11000 ] &&
    pass "killed mid-copy: progress row left, items imported, users partly copied ($users rows)" ||
    fail "half state: $users users"
run_w2e m3 --config w.jsonc migrate --no-progress --import-rows 10000
expect_rc m3 0
expect_contains "$WORK/m3.err" "did not finish; restarting cleanly: the mapped tables were emptied and are copied again"
[ "$(grep -c ': ok$' m3.out)" = 3 ] && expect_contains "$WORK/m3.out" "migrated 3 table(s), 14003 rows" ||
    fail "rerun verification: $(cat m3.out)"
[ "$(d1_q "SELECT count(*) FROM mgr_items")" = 11000 ] && [ "$(d1_q "SELECT count(*) FROM _wal2edge_migrate")" = 0 ] &&
    pass "rerun: exactly the source rows, progress row gone" || fail "rerun: $(d1_q "SELECT count(*) FROM mgr_items") items"

# 3. an import the API keeps refusing: exit 1 with an error naming the table and rows; the progress
#    row stays, so the next migrate says the copy did not finish
curl -sS -X POST "$ADMIN/faults" -d "{\"path\":\"$D1_DB_ID/import\",\"status\":503,\"retry_after\":0,\"count\":5}" >/dev/null
run_w2e m4 --config w.jsonc migrate --no-progress --import-rows 10000
curl -sS -X DELETE "$ADMIN/faults" >/dev/null
expect_rc m4 1
expect_contains "$WORK/m4.err" "importing rows 1..10999 of mgr_items (import file 1,"
[ "$(d1_q "SELECT count(*) FROM _wal2edge_migrate")" = 1 ] && pass "failed import: progress row kept" ||
    fail "failed import: no progress row"

# 4. --then-stream with writers running before, during and after the copy
mig_writer mgr 11000 &
wpid=$!
sleep 0.5
"$WAL2EDGE_BIN" --config w.jsonc migrate --then-stream --no-progress --import-rows 10000 >"$WORK/m5.out" 2>"$WORK/m5.err" &
mpid=$!
# (creating the slot waits for transactions running on the server to end)
for _ in $(seq 600); do grep -q "continuing as" "$WORK/m5.err" && break; sleep 0.1; done
expect_contains "$WORK/m5.err" "did not finish; restarting cleanly"
expect_contains "$WORK/m5.err" "continuing as \`wal2edge run\`"
[ "$(grep -c ': ok$' m5.out)" = 3 ] && pass "--then-stream copy verified" || fail "m5: $(cat m5.out)"
sleep 2
touch "$WORK/stop"
wait $wpid
final=$(psql_q -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 150); do
    got=$(checkpoint)
    [ -n "$got" ] && [ "$(psql_q -c "SELECT '$got'::pg_lsn >= '$final'::pg_lsn - 200")" = t ] && break
    sleep 0.2
done
sleep 1
kill -TERM $mpid 2>/dev/null || true; wait $mpid || true
d1_same items_after "SELECT concat_ws('|', id, user_id, name, price) FROM mgr_items" \
    "SELECT id || '|' || user_id || '|' || name || '|' || price FROM mgr_items"
d1_same users_after "SELECT concat_ws('|', id, email, score) FROM mgr_users" \
    "SELECT id || '|' || email || '|' || score FROM mgr_users"
mig_cleanup w2e_mgr
finish
