#!/usr/bin/env bash
# Queues benchmark: events/s published into the embedded spool and into a queue of the local
# edge, and push requests per 1,000 events (target: >= 95 events per request at full load).
#   bench/queues/run.sh [ROWS]        (default 50000; needs scripts/pg-local.sh and edge-local.sh running)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$ROOT/build/dev/wal2edge}
ROWS=${1:-50000}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
eval "$("$ROOT/scripts/pg-local.sh" env)"
eval "$("$ROOT/scripts/edge-local.sh" env)"
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
run_once() {   # run_once LABEL QUEUE_MEMBERS
    psql >/dev/null <<SQL
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_queue';
DROP PUBLICATION IF EXISTS bench_queue_pub; DROP TABLE IF EXISTS bq_rows;
CREATE TABLE bq_rows (id bigint PRIMARY KEY, name text, n int, at timestamptz);
CREATE PUBLICATION bench_queue_pub FOR TABLE bq_rows;
SELECT pg_create_logical_replication_slot('bench_queue', 'pgoutput');
INSERT INTO bq_rows SELECT g, 'name ' || g, g % 100, now() FROM generate_series(1, $ROWS) g;
SQL
    local dir=$WORK/$1; mkdir -p "$dir/mappings"
    cat >"$dir/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_queue_pub", "slot": "bench_queue" },
  "state_dir": "state", "queues": { "changes": { $2 } }, "mappings": ["mappings/*.jsonc"],
  "cloudflare": { "account_id": "\${CLOUDFLARE_ACCOUNT_ID}", "api_token": "\${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "\${CLOUDFLARE_API_BASE_URL}" } }
JSONC
    echo '{ "table": "public.bq_rows", "queue": { "queue": "changes" } }' >"$dir/mappings/rows.jsonc"
    local qid=${3:-}
    [ -n "$qid" ] && curl -s -X DELETE "$EDGE_ADMIN_URL/log" >/dev/null
    local t0 t1; t0=$(date +%s.%N)
    "$BIN" --config "$dir/w.jsonc" run --exit-when-caught-up 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
    t1=$(date +%s.%N)
    local reqs=""
    [ -n "$qid" ] && reqs=$(curl -s "$EDGE_ADMIN_URL/log?route=queues.batch&path=$qid&limit=100000" | jq '.entries | length')
    awk -v l="$1" -v n="$ROWS" -v a="$t0" -v b="$t1" -v r="$reqs" 'BEGIN {
        printf "%-8s %8d events  %6.2f s  %9.0f events/s", l, n, b - a, n / (b - a);
        if (r != "") printf "  %d requests  %.1f requests/1000 events  %.1f events/request", r, r * 1000 / n, n / r;
        printf "\n" }'
}
run_once spool ""
run_once edge "\"queue_id\": \"bench$$\"" "bench$$"
psql -c "SELECT pg_drop_replication_slot('bench_queue')" -c "DROP PUBLICATION bench_queue_pub" -c "DROP TABLE bq_rows" >/dev/null
