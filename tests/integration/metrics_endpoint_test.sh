#!/usr/bin/env bash
# The metrics endpoint of a running `wal2edge run` (change log + embedded D1) during a workload:
# /metrics passes `promtool check metrics` and carries the contract's names; the transaction and
# change counters move with the workload; the slot figures come from pg_replication_slots;
# /healthz answers 200, /readyz 200 once streaming and caught up; a row over D1's limit counts as a
# skipped change; a streamed transaction shows in wal2edge_spool_bytes; other paths 404, POST 405;
# no secret (the DSN's password) and no row data appear in the output.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

export TEST_SLOT=metrics_endpoint TEST_PUBLICATION=metrics_endpoint_pub
command -v promtool >/dev/null || { echo "$TEST_NAME: promtool is required (scripts/install-deps.sh)" >&2; exit 1; }
# a small logical_decoding_work_mem for our walsender only, so that a big transaction streams
export DATABASE_URL="$DATABASE_URL?options=-c%20logical_decoding_work_mem%3D64kB"
metrics_d1_setup me_t ", \"ready_max_lag_seconds\": 30"
value() { metric_value "$1"; }
wait_for() {   # wait_for SECONDS CMD...: until CMD succeeds
    local n=$(($1 * 5)); shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
    return 1
}

code=$(curl -s -o "$WORK/healthz" -w '%{http_code}' "$base/healthz")
[ "$code" = 200 ] && pass "/healthz answers 200 ($(cat "$WORK/healthz"))" || fail "/healthz answers $code"
ready() { [ "$(curl -s -o "$WORK/readyz" -w '%{http_code}' "$base/readyz")" = 200 ]; }
psql_q -c "INSERT INTO me_t VALUES (0, 'first')" >/dev/null
wait_for 30 ready && pass "/readyz answers 200 once streaming: $(cat "$WORK/readyz")" ||
    fail "/readyz: $(cat "$WORK/readyz")"

tx0=$(value wal2edge_transactions_total)
# the workload: 200 transactions (inserts, updates, deletes), scraped and checked while it runs
(for i in $(seq 1 200); do
    echo "INSERT INTO me_t VALUES ($i, 'secret-row-$i'); UPDATE me_t SET v = 'u' WHERE id = $i;"
    [ $((i % 10)) = 0 ] && echo "DELETE FROM me_t WHERE id = $((i - 5)); SELECT pg_sleep(0.1);"
done) | psql_q >/dev/null &
load_pid=$!
checked=0
while kill -0 $load_pid 2>/dev/null; do
    scrape >"$WORK/during.prom"
    if promtool check metrics <"$WORK/during.prom" >"$WORK/promtool.out" 2>&1; then checked=$((checked + 1)); else
        fail "promtool check metrics refuses the output during the workload"; sed 's/^/    | /' "$WORK/promtool.out" >&2; break; fi
    sleep 0.2
done
wait $load_pid
[ "$checked" -gt 0 ] && pass "promtool check metrics accepts $checked scrapes taken during the workload" ||
    fail "no scrape happened during the workload"
caught_up() { [ "$(value 'wal2edge_changes_total{table="public.me_t",op="delete"}')" = 20 ]; }
wait_for 30 caught_up || fail "the delete counter never reached 20"
scrape >"$WORK/after.prom"
promtool check metrics <"$WORK/after.prom" >"$WORK/promtool.out" 2>&1 && pass "promtool accepts the final scrape" ||
    { fail "promtool refuses the final scrape"; sed 's/^/    | /' "$WORK/promtool.out" >&2; }
tx1=$(value wal2edge_transactions_total)
[ "$((tx1 - tx0))" -ge 200 ] && pass "wal2edge_transactions_total moved by $((tx1 - tx0)) (200+ transactions)" ||
    fail "wal2edge_transactions_total moved from $tx0 to $tx1"
expect_contains "$WORK/after.prom" 'wal2edge_changes_total{table="public.me_t",op="insert"} 201'
expect_contains "$WORK/after.prom" 'wal2edge_changes_total{table="public.me_t",op="update"} 200'
expect_contains "$WORK/after.prom" 'wal2edge_changes_total{table="public.me_t",op="delete"} 20'
for name in 'wal2edge_build_info{version=' 'wal2edge_slot_retained_wal_bytes{slot="metrics_endpoint"}' \
    'wal2edge_slot_wal_status{slot="metrics_endpoint",wal_status="reserved"} 1' \
    'wal2edge_replication_lag_bytes{slot="metrics_endpoint"}' 'wal2edge_replication_lag_seconds{slot="metrics_endpoint"}' \
    'wal2edge_target_lag_bytes{target="d1.app"}' 'wal2edge_target_flushes_total{target="d1.app",outcome="ok"}' \
    'wal2edge_target_retries_total{target="changelog"} 0' 'wal2edge_target_rate_limited_total{target="d1.app"} 0' \
    'wal2edge_target_flush_duration_seconds_bucket{target="d1.app",le="+Inf"}' \
    '# TYPE wal2edge_target_request_duration_seconds histogram' \
    'wal2edge_target_behind_retries_total{target="d1.app"} 0' \
    'wal2edge_commit_to_durable_seconds_count{target="d1.app"}' 'wal2edge_spool_bytes' \
    '# TYPE wal2edge_skipped_changes_total counter' 'wal2edge_last_heartbeat_timestamp_seconds'; do
    expect_contains "$WORK/after.prom" "$name"
done
flushes=$(awk '$1 == "wal2edge_target_flushes_total{target=\"d1.app\",outcome=\"ok\"}" { print $2 }' "$WORK/after.prom")
[ "${flushes:-0}" -gt 0 ] && pass "d1.app made $flushes durable writes" || fail "no durable write to d1.app counted"
# the embedded D1 is a local file: no HTTP request (those are the REST targets', test metrics_requests)
expect_contains "$WORK/after.prom" 'wal2edge_target_requests_total{target="d1.app",outcome="ok"} 0' 
expect_not_contains "$WORK/after.prom" "secret-row" "no row data in the metrics"
expect_not_contains "$WORK/after.prom" "$PGPASSWORD" "no password in the metrics"

# a big transaction streams before it commits: wal2edge_spool_bytes shows its spool, then 0 again
psql_q -c "BEGIN" -c "INSERT INTO me_t SELECT g, md5(g::text) FROM generate_series(200001, 230000) g" \
    -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null &
big_pid=$!
spooling() { [ "$(value wal2edge_spool_bytes)" -gt 100000 ] 2>/dev/null; }
wait_for 10 spooling && pass "wal2edge_spool_bytes shows the streamed transaction ($(value wal2edge_spool_bytes) bytes)" ||
    fail "wal2edge_spool_bytes stays at $(value wal2edge_spool_bytes)"
wait $big_pid
spool_empty() { [ "$(value wal2edge_spool_bytes)" = 0 ]; }
wait_for 30 spool_empty && pass "and 0 once it committed" || fail "wal2edge_spool_bytes stays at $(value wal2edge_spool_bytes)"

# a row over D1's 2 MB row limit is skipped (on_error skip) and counted
psql_q -c "INSERT INTO me_t VALUES (100000, repeat('x', 2500000))" >/dev/null
skipped() { [ "$(value 'wal2edge_skipped_changes_total{target="d1.app",reason="too_large"}')" = 1 ]; }
wait_for 30 skipped && pass "a row over D1's limit counts in wal2edge_skipped_changes_total (too_large)" ||
    fail "skipped changes: $(scrape | grep skipped_changes)"

code=$(curl -s -o /dev/null -w '%{http_code}' "$base/nope")
[ "$code" = 404 ] && pass "an unknown path is 404" || fail "an unknown path answers $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$base/metrics")
[ "$code" = 405 ] && pass "POST is 405" || fail "POST answers $code"

kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly with the endpoint up" || fail "run exits $? on SIGTERM"
give_slot_back
finish
