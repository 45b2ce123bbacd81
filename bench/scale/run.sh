#!/usr/bin/env bash
# bench/scale/run.sh [TXNS] [LATENCY_SECONDS] [LATENCY_RATE]
#
# D1 direct over the REST API vs D1 through the queue (docs/scale.md), on the local edge emulator
# (not part of CI):
#  1. throughput: TXNS transactions of 3 changes (update an account, update its branch, insert a
#     history row) are committed first, then `wal2edge run --exit-when-caught-up` brings them to D1
#     (a) over the REST API (the d1 target) and (b) pushed to a Queue whose consumer Worker
#     (workers/queue-consumer) applies them to D1; timed until D1 holds every history row. Also the
#     REST requests each spent: the account's budget is 1,200 per 5 minutes (a sliding window, so a
#     run this short is not slowed by it), and the sustained rate within it is 4 requests/s times
#     the changes per request.
#  2. commit-to-visible latency: a writer commits LATENCY_RATE rows/s carrying clock_timestamp()
#     for LATENCY_SECONDS while `run` streams to each path; a poller queries D1 every 50 ms over
#     the REST API and notes when each row appears; p50/p99 of (seen - committed).
# Starts its own emulator (port chosen by the system) running the reference consumer. Needs the
# local Postgres (scripts/pg-local.sh start), jq and a build (WAL2EDGE_BIN, default build/dev).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
txns=${1:-3000}
lat_s=${2:-15}
lat_rate=${3:-20}
bin=${WAL2EDGE_BIN:-$repo/build/dev/wal2edge}
[ -x "$bin" ] || { echo "build first: $bin" >&2; exit 1; }
eval "$("$repo/scripts/pg-local.sh" env)"
work=$(mktemp -d)
edge_pid=""
slots="'bsc_direct', 'bsc_queue'"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
cleanup() {
    [ -n "$edge_pid" ] && { kill "$edge_pid" 2>/dev/null || true; wait "$edge_pid" 2>/dev/null || true; }
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($slots)" \
        -c "DROP PUBLICATION IF EXISTS bsc_pub" -c "DROP TABLE IF EXISTS bsc_accounts, bsc_branches, bsc_history, bsc_lat" \
        >/dev/null 2>&1 || true
    if [ -n "${KEEP_BENCH:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- the emulator, its consumer applying to the D1 database "viaqueue" ----
mkdir -p "$work/consumer"
cp "$repo/workers/queue-consumer/src/index.mjs" "$work/consumer/consumer.mjs"
printf 'import { makeConsumer } from "./consumer.mjs";\nexport default makeConsumer({ d1DatabaseId: "viaqueue" });\n' \
    >"$work/consumer/worker.mjs"
(cd "$repo" && exec env EDGE_PORT=0 EDGE_STATE_DIR="$work/edge" EDGE_CONSUMER_SCRIPT="$work/consumer/worker.mjs" \
    EDGE_QUEUE_MAX_BATCH_SIZE=100 EDGE_QUEUE_BATCH_TIMEOUT_S=1 node tests/edge/src/main.mjs >"$work/edge.out" 2>"$work/edge.err") &
edge_pid=$!
for _ in $(seq 1 120); do grep -q '"ready"' "$work/edge.out" 2>/dev/null && break; sleep 0.5; done
ready=$(grep '"ready"' "$work/edge.out") || { echo "the emulator did not start" >&2; cat "$work/edge.err" >&2; exit 1; }
CLOUDFLARE_API_BASE_URL=$(jq -r .CLOUDFLARE_API_BASE_URL <<<"$ready")
CLOUDFLARE_ACCOUNT_ID=$(jq -r .CLOUDFLARE_ACCOUNT_ID <<<"$ready")
CLOUDFLARE_API_TOKEN=$(jq -r .CLOUDFLARE_API_TOKEN <<<"$ready")
export CLOUDFLARE_API_BASE_URL CLOUDFLARE_ACCOUNT_ID CLOUDFLARE_API_TOKEN
admin="http://127.0.0.1:$(jq -r .port <<<"$ready")/__admin"
acc="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID"
d1() {   # d1 DATABASE SQL: the first result's rows
    curl -sS -X POST "$acc/d1/database/$1/query" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
        -H 'Content-Type: application/json' -d "$(jq -n --arg s "$2" '{sql: $s}')" | jq -c '.result[0].results'
}
# REST requests on the routes matching a regex (wal2edge's: d1.* direct, queues.* pushed; the
# consumer's own D1 requests go through a binding in production, so they are not counted)
rest_requests() { curl -sS "$admin/counters" | jq --arg re "$1" '[.by_route | to_entries[] | select(.key | test($re)) | .value.count] | add // 0'; }

# ---- the source ----
psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($slots);
DROP PUBLICATION IF EXISTS bsc_pub;
DROP TABLE IF EXISTS bsc_accounts, bsc_branches, bsc_history, bsc_lat;
CREATE TABLE bsc_branches (bid int PRIMARY KEY, bbalance bigint NOT NULL);
CREATE TABLE bsc_accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance bigint NOT NULL);
CREATE TABLE bsc_history (hid bigserial PRIMARY KEY, aid int, bid int, delta int);
CREATE TABLE bsc_lat (id bigserial PRIMARY KEY, committed text NOT NULL);
INSERT INTO bsc_branches SELECT g, 0 FROM generate_series(1, 10) g;
INSERT INTO bsc_accounts SELECT g, 1 + g % 10, 0 FROM generate_series(1, 10000) g;
CREATE PUBLICATION bsc_pub FOR TABLE bsc_accounts, bsc_branches, bsc_history, bsc_lat;
SELECT pg_create_logical_replication_slot('bsc_direct', 'pgoutput');
SELECT pg_create_logical_replication_slot('bsc_queue', 'pgoutput');
SQL
tables="bsc_accounts bsc_branches bsc_history bsc_lat"
config() {   # config NAME SLOT EXTRA MAPPING_SECTION
    mkdir -p "$work/$1/mappings"
    for t in $tables; do printf '{ "table": "public.%s", %s }\n' "$t" "$4" >"$work/$1/mappings/$t.jsonc"; done
    cat >"$work/$1/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bsc_pub", "slot": "$2" },
  "cloudflare": { "account_id": "\${CLOUDFLARE_ACCOUNT_ID}", "api_token": "\${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "\${CLOUDFLARE_API_BASE_URL}" },
  "state_dir": "state", $3, "mappings": ["mappings/*.jsonc"] }
JSONC
}
config direct bsc_direct '"d1": { "app": { "database_id": "direct" } }' '"d1": { "database": "app" }'
config queue bsc_queue '"queues": { "changes": { "queue_id": "bsc-changes" } }' '"queue": { "queue": "changes" }'
# D1's tables: wal2edge creates its own (a first run with nothing to do); the consumer's come first
"$bin" --config "$work/direct/w.jsonc" run --exit-when-caught-up 2>"$work/direct0.log"
for ddl in "CREATE TABLE bsc_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER)" \
    "CREATE TABLE bsc_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER)" \
    "CREATE TABLE bsc_history (hid INTEGER PRIMARY KEY, aid INTEGER, bid INTEGER, delta INTEGER)" \
    "CREATE TABLE bsc_lat (id INTEGER PRIMARY KEY, committed TEXT)"; do
    d1 viaqueue "$ddl" >/dev/null
done

# ---- 1. throughput ----
psql_q -c "DO \$\$ DECLARE a int; d int; BEGIN FOR i IN 1..$txns LOOP
    a := 1 + (i * 7919) % 10000; d := i % 1000 - 500;
    UPDATE bsc_accounts SET abalance = abalance + d WHERE aid = a;
    UPDATE bsc_branches SET bbalance = bbalance + d WHERE bid = 1 + a % 10;
    INSERT INTO bsc_history (aid, bid, delta) VALUES (a, 1 + a % 10, d);
    COMMIT; END LOOP; END \$\$" >/dev/null
changes=$((txns * 3))
echo "workload: $txns transactions, $changes changes (backlog, then run --exit-when-caught-up)"
now() { date +%s.%N; }
until_rows() {   # until_rows DATABASE N: wait until D1 holds N history rows
    while [ "$(d1 "$1" "SELECT count(*) AS n FROM bsc_history" | jq '.[0].n')" != "$2" ]; do sleep 0.2; done
}
path_throughput() {   # path_throughput NAME DATABASE ROUTES
    local r0 t0 t1 t2 r1
    r0=$(rest_requests "$3"); t0=$(now)
    "$bin" --config "$work/$1/w.jsonc" run --exit-when-caught-up 2>"$work/$1.log"
    t1=$(now); r1=$(rest_requests "$3")
    until_rows "$2" "$txns"; t2=$(now)
    awk -v n="$1" -v c="$changes" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v req=$((r1 - r0)) 'BEGIN {
        w = t2 - t0; per = c / req
        printf "%-7s %7.2f s to D1 (run %.2f s)  %7.0f changes/s  %5d REST requests (%.1f changes each)  within the budget: %.0f changes/s sustained\n",
            n, w, t1 - t0, c / w, req, per, (per * 1200 / 300 < c / w ? per * 1200 / 300 : c / w) }'
}
path_throughput direct direct '^d1'
path_throughput queue viaqueue '^queues'

# ---- 2. commit-to-visible latency ----
latency() {   # latency NAME DATABASE
    local run_pid poll_pid n top
    # first the rows the other path's phase wrote (this slot has them too), out of the way
    "$bin" --config "$work/$1/w.jsonc" run --exit-when-caught-up 2>"$work/$1.lat0.log"
    top=$(psql_q -c "SELECT coalesce(max(id), 0) FROM bsc_lat")
    while [ "$(d1 "$2" "SELECT coalesce(max(id), 0) AS m FROM bsc_lat" | jq '.[0].m')" != "$top" ]; do sleep 0.2; done
    "$bin" --config "$work/$1/w.jsonc" run 2>"$work/$1.lat.log" & run_pid=$!
    sleep 2
    python3 - "$acc/d1/database/$2/query" "$lat_s" "$top" >"$work/$1.seen" <<'PY' &
import json, os, sys, time, urllib.request
url, until = sys.argv[1], time.time() + float(sys.argv[2]) + 5
last = int(sys.argv[3])
while time.time() < until:
    body = json.dumps({"sql": "SELECT id, committed FROM bsc_lat WHERE id > ? ORDER BY id", "params": [last]}).encode()
    req = urllib.request.Request(url, body, {"Authorization": "Bearer " + os.environ["CLOUDFLARE_API_TOKEN"],
                                             "Content-Type": "application/json"})
    rows = json.load(urllib.request.urlopen(req))["result"][0]["results"]
    now = time.time()
    for r in rows:
        print(r["id"], r["committed"], "%.6f" % now)
        last = r["id"]
    time.sleep(0.05)
PY
    poll_pid=$!
    n=$((lat_s * lat_rate))
    psql_q -c "DO \$\$ BEGIN FOR i IN 1..$n LOOP
        INSERT INTO bsc_lat (committed) VALUES (extract(epoch FROM clock_timestamp())::text); COMMIT;
        PERFORM pg_sleep(1.0 / $lat_rate); END LOOP; END \$\$" >/dev/null
    wait "$poll_pid"
    kill -TERM "$run_pid"; wait "$run_pid" || true
    python3 - "$work/$1.seen" "$n" "$lat_rate" "$1" <<'PY'
import sys
lat = sorted(float(seen) - float(c) for _, c, seen in (l.split() for l in open(sys.argv[1])))
if not lat:
    sys.exit("%s: no row became visible" % sys.argv[4])
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print("%-7s commit-to-visible at %s rows/s: %d of %s rows seen; p50 %.0f ms, p99 %.0f ms, max %.0f ms"
      % (sys.argv[4], sys.argv[3], len(lat), sys.argv[2], q(0.5), q(0.99), lat[-1] * 1000))
PY
}
latency direct direct
latency queue viaqueue
