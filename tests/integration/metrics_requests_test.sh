#!/usr/bin/env bash
# Per-request target metrics and `status`'s live figures. Two REST queues (one table each) on the
# local edge, whose fault endpoint answers the first pushes to queue A with two 500s and the first
# push to queue B with one 429: wal2edge_target_requests_total counts every HTTP attempt per target
# with the answer's outcome (A: 2 retryable, B: 1 retryable), wal2edge_target_retries_total the
# attempts after the first, wal2edge_target_rate_limited_total the 429 (B only), each matching the
# emulator's own request log for that queue; the flushes (which all succeed) are counted apart.
# `status --json` carries the same figures while run runs ("run": {"running": true}, "live"), and
# says run is not running (no live figures) once it stopped, or at once when it was killed. Needs
# the local edge.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
use_edge

export TEST_SLOT=metrics_requests TEST_PUBLICATION=metrics_requests_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required (scripts/install-deps.sh)" >&2; exit 1; }
QA="mr-$$-$RANDOM-a" QB="mr-$$-$RANDOM-b"
psql_q <<'SQL' >/dev/null
CREATE TABLE mr_a (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE mr_b (id int PRIMARY KEY, v text NOT NULL);
CREATE PUBLICATION metrics_requests_pub FOR TABLE mr_a, mr_b;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.mr_a", "queue": { "queue": "a" } }' >"$WORK/mappings/mr_a.jsonc"
echo '{ "table": "public.mr_b", "queue": { "queue": "b" } }' >"$WORK/mappings/mr_b.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"queues\": { \"a\": { \"queue_id\": \"$QA\" }, \"b\": { \"queue_id\": \"$QB\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"metrics\": { \"listen\": \"127.0.0.1:0\" }"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
curl -sS -X POST "$EDGE_ADMIN_URL/faults" -d "[{\"path\":\"/queues/$QA/messages\",\"status\":500,\"count\":2},
    {\"path\":\"/queues/$QB/messages\",\"status\":429,\"retry_after\":1,\"count\":1}]" >/dev/null
since=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq .last_seq)
start_metrics_run "$WORK/w.jsonc"
trap 'rc=$?; curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null 2>&1; kill $run_pid 2>/dev/null || true;
      wait 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
wait_for() {   # wait_for SECONDS CMD...
    local n=$(($1 * 5)); shift
    for _ in $(seq "$n"); do "$@" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}

for i in $(seq 1 20); do echo "INSERT INTO mr_a VALUES ($i, 'a'); INSERT INTO mr_b VALUES ($i, 'b');"; done | psql_q >/dev/null
workload_end=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
delivered() {   # both queues hold the 20 events (the emulator's own count of 200 answers)
    for q in "$QA" "$QB"; do
        [ "$(curl -sS "$EDGE_ADMIN_URL/log?since=$since&path=/queues/$q/messages" |
            jq '[.entries[] | select(.status == 200)] | length')" -ge 1 ] || return 1
    done
    [ "$(metric_value 'wal2edge_changes_total{table="public.mr_b",op="insert"}')" = 20 ]
}
wait_for 60 delivered || fail "the events never reached both queues"
# a queue's first answer 200 is not its last push: every push made once both checkpoints pass the workload
pushed() {
    local ck n=0
    for ck in $("$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status --json 2>/dev/null |
        jq -r '.targets[] | select(.target == "queues.a" or .target == "queues.b") | .end_lsn // "0/0"'); do
        [ "$(psql_q -c "SELECT '$ck'::pg_lsn >= '$workload_end'::pg_lsn")" = t ] || return 1
        n=$((n + 1))
    done
    [ $n = 2 ]
}
wait_for 60 pushed || fail "the queues' checkpoints never passed the workload"
sleep 1 # the last flush's metrics
scrape >"$WORK/m.prom"
log_count() {  # log_count QUEUE_ID JQ_FILTER: requests of the emulator's log to that queue matching the filter
    curl -sS "$EDGE_ADMIN_URL/log?since=$since&path=/queues/$1/messages" | jq "[.entries[] | select($2)] | length"
}
m() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/m.prom"; }
check() {  # check WHAT GOT WANT
    [ "$2" = "$3" ] && pass "$1: $2" || fail "$1: $2, expected $3"
}
for t in a b; do
    q=$QA; [ $t = b ] && q=$QB
    check "queues.$t requests ok = the emulator's 200 answers" "$(m "wal2edge_target_requests_total{target=\"queues.$t\",outcome=\"ok\"}")" \
        "$(log_count "$q" '.status == 200')"
    check "queues.$t all requests = every request the emulator logged" \
        "$(awk -v t="queues.$t" '$1 ~ "^wal2edge_target_requests_total\\{target=\"" t "\"" { s += $2 } END { print s + 0 }' "$WORK/m.prom")" \
        "$(log_count "$q" 'true')"
    check "queues.$t request duration samples = requests" \
        "$(m "wal2edge_target_request_duration_seconds_count{target=\"queues.$t\"}")" "$(log_count "$q" 'true')"
    flushes=$(m "wal2edge_target_flushes_total{target=\"queues.$t\",outcome=\"ok\"}")
    [ "${flushes:-0}" -ge 1 ] && [ -z "$(m "wal2edge_target_flushes_total{target=\"queues.$t\",outcome=\"retryable\"}")" ] &&
        pass "queues.$t: its $flushes flushes are counted apart, none failed (the client's retries hid the faults)" ||
        fail "queues.$t flushes: $(grep "flushes_total{target=\"queues.$t\"" "$WORK/m.prom")"
done
check "queues.a: the two injected 500s are retryable requests" "$(m 'wal2edge_target_requests_total{target="queues.a",outcome="retryable"}')" 2
check "queues.a: two retries" "$(m 'wal2edge_target_retries_total{target="queues.a"}')" 2
check "queues.a: no rate limit" "$(m 'wal2edge_target_rate_limited_total{target="queues.a"}')" 0
check "queues.b: the injected 429 is a retryable request" "$(m 'wal2edge_target_requests_total{target="queues.b",outcome="retryable"}')" 1
check "queues.b: one retry" "$(m 'wal2edge_target_retries_total{target="queues.b"}')" 1
check "queues.b: rate-limited once" "$(m 'wal2edge_target_rate_limited_total{target="queues.b"}')" 1
check "the emulator injected 3 faults" "$(log_count "$QA" '.status == 500'),$(log_count "$QB" '.status == 429')" "2,1"

# status carries the same figures while run runs (its stats file is at most 2 s old)
sleep 2.5
run_w2e status --config "$WORK/w.jsonc" status --json
expect_rc status 0
j() { jq -r "$1" "$WORK/status.out"; }
check "status: run is running" "$(j .run.running)" true
check "status: its pid" "$(j .run.pid)" "$run_pid"
check "status: queues.a retryable requests" "$(j '.live.targets["queues.a"].requests.retryable')" 2
check "status: queues.b rate-limited" "$(j '.live.targets["queues.b"].rate_limited')" 1
check "status: queues.b retries" "$(j '.live.targets["queues.b"].retries')" 1
check "status: transactions as the metric" "$(j .live.transactions)" "$(metric_value wal2edge_transactions_total)"
check "status: changes" "$(j .live.changes)" 40
check "status: spool bytes" "$(j .live.spool_bytes)" 0
[ "$(j '.live.lag_seconds | type')" = number ] && pass "status: live lag_seconds $(j .live.lag_seconds)" ||
    fail "status: live lag_seconds is $(j .live.lag_seconds)"
run_w2e status_text --config "$WORK/w.jsonc" status
expect_contains "$WORK/status_text.out" "run                  running (pid $run_pid"
expect_contains "$WORK/status_text.out" "live queues.b"
expect_contains "$WORK/status_text.out" "1 retryable, 0 fatal; 1 retries, 1 rate-limited"

kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
run_w2e stopped --config "$WORK/w.jsonc" status --json
check "status after the stop: not running" "$(jq -r .run.running "$WORK/stopped.out")" false
check "status after the stop: no live figures" "$(jq -r .live "$WORK/stopped.out")" null
run_w2e stopped_text --config "$WORK/w.jsonc" status
expect_contains "$WORK/stopped_text.out" "run                  not running (its last figures are of"
expect_not_contains "$WORK/stopped_text.out" "live queues.a"
# a run killed outright cannot mark its figures stopped: status sees its pid is gone
start_metrics_run "$WORK/w.jsonc"
running() { "$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status --json 2>/dev/null | jq -e '.run.running' >/dev/null; }
wait_for 20 running || fail "status never saw the second run"
kill -KILL $run_pid
wait $run_pid 2>/dev/null || true
run_w2e killed --config "$WORK/w.jsonc" status --json
check "status right after kill -9: not running" "$(jq -r .run.running "$WORK/killed.out")" false
give_slot_back
finish
