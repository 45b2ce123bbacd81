#!/usr/bin/env bash
# A real Prometheus server (on loopback, started here) scrapes a running `wal2edge run` every
# second and evaluates the shipped alert rules (monitoring/alerts.yml, with every `for:` cut to
# 3 s so the test stays short): `up` is 1, wal2edge_changes_total moves with a workload, and
# Wal2edgeTargetFailing fires once the local edge answers 500 to every push to the REST queue
# (its fault endpoint), then resolves when the fault is cleared; every query of the Grafana
# dashboard (monitoring/grafana-dashboard.json) is answered. Needs the local edge
# (scripts/edge-local.sh start) and prometheus (scripts/install-deps.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
use_edge

export TEST_SLOT=metrics_prometheus TEST_PUBLICATION=metrics_prometheus_pub
for tool in prometheus python3 jq; do
    command -v $tool >/dev/null || { echo "$TEST_NAME: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
Q_ID="mp-$$-$RANDOM-q"
psql_q <<'SQL' >/dev/null
CREATE TABLE mp_t (id int PRIMARY KEY, v text NOT NULL);
CREATE PUBLICATION metrics_prometheus_pub FOR TABLE mp_t;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.mp_t", "queue": { "queue": "changes" } }' >"$WORK/mappings/mp_t.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"queues\": { \"changes\": { \"queue_id\": \"$Q_ID\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"metrics\": { \"listen\": \"127.0.0.1:0\" }"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
start_metrics_run "$WORK/w.jsonc"
trap 'rc=$?; curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null 2>&1; kill $run_pid ${prom_pid:-} 2>/dev/null || true;
      wait 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

# Prometheus: scrape every second, evaluate the shipped rules every second
sed -E 's/^( +)for: .*/\1for: 3s/' "$WAL2EDGE_SOURCE_DIR/monitoring/alerts.yml" >"$WORK/alerts.yml"
cat >"$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [alerts.yml]
scrape_configs:
  - job_name: wal2edge
    static_configs: [ { targets: ["${base#http://}"] } ]
YML
prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$WORK/prom.log" 2>&1 &
prom_pid=$!
PROM="http://127.0.0.1:$prom_port"
query() { curl -sS --get "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
firing() {   # firing ALERTNAME: the alert is firing (not just pending)
    curl -sS "$PROM/api/v1/alerts" | jq -e --arg a "$1" '[.data.alerts[] | select(.labels.alertname == $a and .state == "firing")] | length > 0' >/dev/null
}
wait_for() {   # wait_for SECONDS CMD...
    local n=$(($1 * 2)); shift
    for _ in $(seq "$n"); do "$@" 2>/dev/null && return 0; sleep 0.5; done
    return 1
}
up_is_1() { [ "$(query 'up{job="wal2edge"}')" = 1 ]; }
wait_for 30 up_is_1 && pass "Prometheus scrapes wal2edge: up is 1" ||
    { fail "up is not 1: $(query 'up{job="wal2edge"}')"; sed 's/^/    | /' "$WORK/prom.log" | tail -20 >&2; }

# a workload moves the changes counter as Prometheus sees it
for i in $(seq 1 50); do echo "INSERT INTO mp_t VALUES ($i, 'v');"; done | psql_q >/dev/null
inserts() { [ "$(query 'wal2edge_changes_total{job="wal2edge",table="public.mp_t",op="insert"}')" = 50 ]; }
wait_for 30 inserts && pass "Prometheus sees wal2edge_changes_total reach 50 inserts" ||
    fail "wal2edge_changes_total in Prometheus: $(query 'wal2edge_changes_total{op="insert"}')"
firing Wal2edgeTargetFailing && fail "Wal2edgeTargetFailing fires before any fault" ||
    pass "no alert for the queue while it works"

# every query of the shipped Grafana dashboard is valid PromQL that Prometheus answers
bad=0
while IFS= read -r expr; do
    [ "$(curl -sS --get "$PROM/api/v1/query" --data-urlencode "query=${expr//\$instance/.*}" | jq -r .status)" = success ] ||
        { bad=$((bad + 1)); echo "    | $expr" >&2; }
done < <(jq -r '.panels[].targets[].expr' "$WAL2EDGE_SOURCE_DIR/monitoring/grafana-dashboard.json")
[ $bad = 0 ] && pass "Prometheus answers every query of monitoring/grafana-dashboard.json" || fail "$bad dashboard queries fail"

# every push to the queue fails: the target falls behind, the alert fires
curl -sS -X POST "$EDGE_ADMIN_URL/faults" -d "{\"path\":\"/queues/$Q_ID/messages\",\"status\":500,\"count\":1000000}" >/dev/null
psql_q -c "INSERT INTO mp_t VALUES (1000, 'during the fault')" >/dev/null
wait_for 60 firing Wal2edgeTargetFailing && pass "Wal2edgeTargetFailing fires for queues.changes while the edge fails it" ||
    { fail "Wal2edgeTargetFailing never fired"; curl -sS "$PROM/api/v1/alerts" >&2; }
labels=$(curl -sS "$PROM/api/v1/alerts" | jq -r '.data.alerts[] | select(.labels.alertname == "Wal2edgeTargetFailing") | .labels.target')
[ "$labels" = queues.changes ] && pass "the alert names the target" || fail "the alert names: $labels"
[ "$(query 'wal2edge_target_requests_total{target="queues.changes",outcome="retryable"}')" -gt 0 ] 2>/dev/null &&
    pass "failed writes are counted as retryable" || fail "no retryable write counted"

# the fault clears: the queue catches up and the alert resolves
curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
not_firing() { ! firing Wal2edgeTargetFailing; }
wait_for 90 not_firing && pass "the alert resolves once the queue takes writes again" || fail "the alert keeps firing"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
give_slot_back
finish
