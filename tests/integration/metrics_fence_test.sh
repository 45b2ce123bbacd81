#!/usr/bin/env bash
# The fence: every D1 target's checkpoint follows the stream although no change of its comes.
# With heartbeats off, a client commits to a table no mapping (and no publication) names, takes
# pg_current_wal_insert_lsn() after its commit, and waits for each D1 checkpoint to pass it: the embedded
# D1 within about a flush interval, the REST D1 (local edge) within run.fence_interval_ms (1 s
# here) plus a request; both moves happen with no row changing in D1. Needs the local edge.
source "$(dirname "$0")/lib.sh"
use_edge

export TEST_SLOT=metrics_fence TEST_PUBLICATION=metrics_fence_pub
command -v sqlite3 >/dev/null && command -v jq >/dev/null || { echo "$TEST_NAME: sqlite3 and jq are required" >&2; exit 1; }
DB_ID="mf-$$-$RANDOM-db"
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$DB_ID"
psql_q <<'SQL' >/dev/null
CREATE TABLE mf_mapped (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE mf_remote (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE mf_other (id int PRIMARY KEY);
CREATE PUBLICATION metrics_fence_pub FOR TABLE mf_mapped, mf_remote;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.mf_mapped", "d1": { "database": "app" } }' >"$WORK/mappings/a.jsonc"
echo '{ "table": "public.mf_remote", "d1": { "database": "remote" } }' >"$WORK/mappings/b.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": {}, \"remote\": { \"database_id\": \"$DB_ID\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"run\": { \"flush_interval_ms\": 200, \"fence_interval_ms\": 1000 }"
sed -i 's|"slot": "${TEST_SLOT:-wal2edge_test}"|&, "heartbeat_interval_ms": 0|' "$WORK/w.jsonc"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$WORK/w.jsonc" migrate
expect_rc migrate 0
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
trap 'rc=$?; kill $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true;
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

ck_embedded() { sqlite3 -batch -noheader "$WORK/state/d1/app.sqlite" "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'"; }
ck_remote() {
    jq -n --arg sql "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'" '{sql: $sql}' |
        curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
            --data-binary @- | jq -r '.result[0].results.rows[0][0] // "0/0"'
}
rows() { sqlite3 -batch -noheader "$WORK/state/d1/app.sqlite" "SELECT count(*) FROM mf_mapped"; }
# passes FN LSN SECONDS: until FN's checkpoint is at or past LSN; prints the milliseconds it took
passes() {
    local t0 ck; t0=$(date +%s%N)
    for _ in $(seq $(($3 * 10))); do
        ck=$($1 2>/dev/null || echo 0/0)
        [ "$(psql_q -c "SELECT '${ck:-0/0}'::pg_lsn >= '$2'::pg_lsn")" = t ] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
        sleep 0.1
    done
    return 1
}

psql_q -c "INSERT INTO mf_mapped VALUES (1, 'a')" -c "INSERT INTO mf_remote VALUES (1, 'a')" >/dev/null
l0=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
ms=$(passes ck_embedded "$l0" 20) && pass "mapped changes reach the embedded D1 ($ms ms)" || fail "the embedded D1 never got its row"
ms=$(passes ck_remote "$l0" 20) && pass "and the REST D1 ($ms ms)" || fail "the REST D1 never got its row"
for round in 1 2; do
    psql_q -c "INSERT INTO mf_other VALUES ($round)" >/dev/null   # a table no target maps or publishes
    lsn=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    ms=$(passes ck_embedded "$lsn" 15) && pass "round $round: the embedded D1's checkpoint passes the unmapped commit $lsn ($ms ms)" ||
        fail "round $round: the embedded D1's checkpoint stays at $(ck_embedded), before $lsn"
    ms=$(passes ck_remote "$lsn" 15) && pass "round $round: the REST D1's checkpoint passes it too ($ms ms)" ||
        fail "round $round: the REST D1's checkpoint stays at $(ck_remote), before $lsn"
done
[ "$(rows)" = 1 ] && pass "no row changed in D1 meanwhile" || fail "D1 has $(rows) rows"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
# a restart from the fenced checkpoints applies what comes next, once
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run2.out" 2>"$WORK/run2.err" &
run_pid=$!
psql_q -c "INSERT INTO mf_mapped VALUES (2, 'b')" >/dev/null
l2=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
passes ck_embedded "$l2" 20 >/dev/null && [ "$(rows)" = 2 ] && pass "after a restart from a fenced checkpoint the next row arrives" ||
    { fail "after the restart D1 has $(rows) rows"; sed 's/^/    | /' "$WORK/run2.err" >&2; }
kill -TERM $run_pid
wait $run_pid || fail "the second run exits $?"
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND NOT active" >/dev/null # slots are few on a shared server
finish
