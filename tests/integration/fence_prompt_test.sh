#!/usr/bin/env bash
# The prompt fence of a REST D1: right after a request that carried rows, one checkpoint-only
# request follows as soon as the stream is idle, so a client's token taken after its commit (often
# a little past it: other databases and background processes write WAL too) is passed at once
# instead of a fence interval later. With no rows in between, idling still waits for
# run.fence_interval_ms (60 s here, so the budget is not spent). Needs the local edge.
source "$(dirname "$0")/lib.sh"
use_edge

export TEST_SLOT=fence_prompt TEST_PUBLICATION=fence_prompt_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
DB_ID="fp-$$-$RANDOM-db"
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$DB_ID"
psql_q <<'SQL' >/dev/null
CREATE TABLE fp_mapped (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE fp_other (id int PRIMARY KEY);
CREATE PUBLICATION fence_prompt_pub FOR TABLE fp_mapped;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.fp_mapped", "d1": { "database": "remote" } }' >"$WORK/mappings/a.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"remote\": { \"database_id\": \"$DB_ID\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"run\": { \"flush_interval_ms\": 200, \"fence_interval_ms\": 60000 }"
sed -i 's|"slot": "${TEST_SLOT:-wal2edge_test}"|&, "heartbeat_interval_ms": 0|' "$WORK/w.jsonc"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$WORK/w.jsonc" migrate
expect_rc migrate 0
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
trap 'rc=$?; kill $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true;
      psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1 || true
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

ck_remote() {
    jq -n --arg sql "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'" '{sql: $sql}' |
        curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
            --data-binary @- | jq -r '.result[0].results.rows[0][0] // "0/0"'
}
# passes LSN SECONDS: until the REST D1's checkpoint is at or past LSN; prints the milliseconds it took
passes() {
    local t0 ck; t0=$(date +%s%N)
    for _ in $(seq $(($2 * 10))); do
        ck=$(ck_remote 2>/dev/null || echo 0/0)
        [ "$(psql_q -c "SELECT '${ck:-0/0}'::pg_lsn >= '$1'::pg_lsn")" = t ] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
        sleep 0.1
    done
    return 1
}

for round in 1 2; do
    # a mapped row, then WAL the target has no part in before the token is read
    psql_q -c "INSERT INTO fp_mapped VALUES ($round, 'v$round')" -c "INSERT INTO fp_other VALUES ($round)" >/dev/null
    token=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    ms=$(passes "$token" 20) && pass "round $round: the checkpoint passes a token past the row's commit ($ms ms, fence interval 60 s)" ||
        fail "round $round: the checkpoint stays at $(ck_remote), before the token $token"
    # idle, nothing of the target's: the next checkpoint-only request waits for the interval
    psql_q -c "INSERT INTO fp_other VALUES ($((round + 100)))" >/dev/null
    idle=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    passes "$idle" 4 >/dev/null && fail "round $round: an idle checkpoint went out before the fence interval (budget spent on idling)" ||
        pass "round $round: with no rows in between, the checkpoint waits for the fence interval"
done
rows=$(jq -n '{sql: "SELECT count(*) FROM fp_mapped"}' | curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
    -H 'Content-Type: application/json' --data-binary @- | jq -r '.result[0].results.rows[0][0]')
[ "$rows" = 2 ] && pass "D1 has both rows" || fail "D1 has $rows rows"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
finish
