#!/usr/bin/env bash
# `snapshot` and `warm` serve the metrics endpoint too when metrics.listen is set: while they run,
# wal2edge_snapshot_rows_total{table} and wal2edge_warm_keys_total{namespace} move, /healthz answers 200 and /readyz 503 ("running: ..."); both jobs end with
# exit 0. Warm goes to the local edge's KV (about 1,000 keys/s), so it runs for seconds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
use_edge

export TEST_SLOT=metrics_jobs TEST_PUBLICATION=metrics_jobs_pub
N=12000       # warm reports at each bulk request (5,000 rows of one key here)
BIG=400000    # snapshot reports every second
NS_ID="mj-$$-$RANDOM-ns"
psql_q -c "CREATE TABLE mj_t (id int PRIMARY KEY, v text NOT NULL)" \
    -c "INSERT INTO mj_t SELECT g, md5(g::text) FROM generate_series(1, $N) g" \
    -c "CREATE TABLE mj_big (id int PRIMARY KEY, v text NOT NULL)" \
    -c "INSERT INTO mj_big SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, $BIG) g" \
    -c "CREATE PUBLICATION metrics_jobs_pub FOR TABLE mj_t, mj_big" >/dev/null
mkdir -p "$WORK/mappings"
echo '{ "table": "public.mj_t", "kv": [ { "namespace": "cache", "key": "mj:{id}", "value": "{v}" } ] }' \
    >"$WORK/mappings/mj_t.jsonc"
echo '{ "table": "public.mj_big", "snapshot": { "bucket": "lake" } }' >"$WORK/mappings/mj_big.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"kv\": { \"cache\": { \"namespace_id\": \"$NS_ID\" } }, \"r2\": { \"lake\": {} }, \"mappings\": [\"mappings/*.jsonc\"],
  \"metrics\": { \"listen\": \"127.0.0.1:0\" }"
trap 'rc=$?; kill ${run_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

# watch JOB METRIC TOTAL: scrape while the job runs; sets seen_mid (a value below TOTAL was seen) and last
watch() {
    local v n=$3
    seen_mid="" last=""
    while kill -0 $run_pid 2>/dev/null; do
        scrape >"$WORK/$1.prom.new" 2>/dev/null && mv "$WORK/$1.prom.new" "$WORK/$1.prom" # the last whole scrape
        v=$(metric_value "$2" 2>/dev/null || true)
        if [ -n "$v" ]; then
            last=$v
            [ "$v" -gt 0 ] 2>/dev/null && [ "$v" -lt "$n" ] && seen_mid=$v
        fi
        [ -z "$health" ] && health=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz") &&
            ready=$(curl -s -w ' %{http_code}' "$base/readyz" | tr -d '\n')
        sleep 0.1
    done
    wait $run_pid && pass "$1 exits 0" || { fail "$1 exits $?"; sed 's/^/    | /' "$WORK/$1.err" >&2; }
}

health=""
start_metrics_cmd warm "$WORK/w.jsonc" warm
watch warm 'wal2edge_warm_keys_total{namespace="cache"}' $N
[ -n "$seen_mid" ] && pass "wal2edge_warm_keys_total moved while warm ran (seen at $seen_mid of $N)" ||
    fail "wal2edge_warm_keys_total never seen mid-way (last $last)"
[ "$health" = 200 ] && pass "/healthz answers 200 during warm" || fail "/healthz answers $health during warm"
reqs=$(awk '$1 == "wal2edge_target_requests_total{target=\"kv.cache\",outcome=\"ok\"}" { print $2 }' "$WORK/warm.prom")
[ "${reqs:-0}" -gt 0 ] && pass "warm's bulk requests count under its target ($reqs)" ||
    fail "no request of kv.cache counted during warm: $(grep -c target_requests "$WORK/warm.prom")"
case "$ready" in *"running: warm"*503) pass "/readyz answers 503 during warm ($ready)" ;; *) fail "/readyz: $ready" ;; esac

health=""
start_metrics_cmd snap "$WORK/w.jsonc" snapshot --no-progress --jobs 1 --id m1
watch snap 'wal2edge_snapshot_rows_total{table="public.mj_big"}' $BIG
[ -n "$last" ] && [ "$last" -gt 0 ] && pass "wal2edge_snapshot_rows_total moved while snapshot ran ($last of $BIG)" ||
    fail "wal2edge_snapshot_rows_total never seen (last $last)"
give_slot_back
finish
