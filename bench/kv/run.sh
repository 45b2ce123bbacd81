#!/usr/bin/env bash
# bench/kv/run.sh - Workers KV benchmarks against the local Postgres and a local edge emulator.
#   1. warm rate: `wal2edge warm` of ROWS rows (default 1,000,000), into the embedded store and into an
#      emulator namespace: keys/s, bulk requests, and where the time went (the emulator's own time per
#      its request log vs the rest, which is wal2edge and the network);
#   2. hot keys: HOT_UPDATES single-row transactions over 5 rows while `run` streams into the emulator:
#      KV writes per source change (coalescing ratio) and 429s;
#   3. the emulator's ceiling: raw KV binding puts inside workerd on the same storage
#      (bench/kv/binding.mjs, CEILING_KEYS per case, default 2000).
# The script starts its own emulator (real miniflare KV bindings) on a free port with its state on
# tmpfs (BENCH_EDGE_STATE_PARENT, default /dev/shm; a plain temporary directory when there is none),
# and stops and deletes it afterwards: every KV value is one file there, so 1,000,000 keys need about
# 5 GB of tmpfs. On disk each put also waits for an fsync, which makes the emulator ~2.5x slower.
# Usage: scripts/pg-local.sh start; bench/kv/run.sh [ROWS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$ROOT/build/release/wal2edge}
[ -x "$BIN" ] || BIN=$ROOT/build/dev/wal2edge
ROWS=${1:-1000000}
HOT_UPDATES=${HOT_UPDATES:-3000}
eval "$("$ROOT/scripts/pg-local.sh" env)"

EDGE_PARENT=${BENCH_EDGE_STATE_PARENT:-/dev/shm}
if [ -d "$EDGE_PARENT" ] && [ -w "$EDGE_PARENT" ]; then
    EDGE_STATE_DIR=$(mktemp -d "$EDGE_PARENT/wal2edge-bench-kv.XXXXXX")
else
    EDGE_STATE_DIR=$(mktemp -d)
fi
EDGE_PORT=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
export EDGE_STATE_DIR EDGE_PORT
W=$(mktemp -d)
cleanup() {
    "$ROOT/scripts/edge-local.sh" stop >/dev/null 2>&1 || true
    rm -rf "$W" "$EDGE_STATE_DIR"
}
trap cleanup EXIT
"$ROOT/scripts/edge-local.sh" start >/dev/null
eval "$("$ROOT/scripts/edge-local.sh" env)"
EDGE_FS=$(df -T "$EDGE_STATE_DIR" | awk 'NR == 2 { print $2 }')
echo "== emulator: 127.0.0.1:$EDGE_PORT, state in $EDGE_STATE_DIR ($EDGE_FS)"
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
NS="bench-kv-$$"

setup() {   # setup SLOT
    q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$1'" >/dev/null
}
config() {   # config DIR KVSPEC SLOT
    mkdir -p "$1/mappings"
    cat >"$1/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_kv_pub", "slot": "$3" }, "state_dir": "state",
  "cloudflare": { "account_id": "\${CLOUDFLARE_ACCOUNT_ID}", "api_token": "\${CLOUDFLARE_API_TOKEN}", "api_base_url": "\${CLOUDFLARE_API_BASE_URL}" },
  "kv": { "cache": $2 }, "mappings": ["mappings/*.jsonc"] }
JSONC
    echo '{ "table": "public.bench_kv", "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" } ] }' >"$1/mappings/m.jsonc"
}

q <<SQL >/dev/null
DROP TABLE IF EXISTS bench_kv;
CREATE TABLE bench_kv (id int PRIMARY KEY, sku text NOT NULL, name text, qty int, active boolean);
INSERT INTO bench_kv SELECT g, 'SKU-' || g, 'item ' || g, g % 1000, g % 2 = 0 FROM generate_series(1, $ROWS) g;
ANALYZE bench_kv;
DROP PUBLICATION IF EXISTS bench_kv_pub;
CREATE PUBLICATION bench_kv_pub FOR TABLE bench_kv;
SQL

echo "== warm: $ROWS rows"
for backend in embedded rest; do
    setup bench_kv_$backend
    spec='{}'
    [ $backend = rest ] && spec="{ \"namespace_id\": \"$NS\" }"
    config "$W/$backend" "$spec" "bench_kv_$backend"
    start=$(date +%s%N)
    (cd "$W/$backend" && "$BIN" --config w.jsonc warm 2>/dev/null) | sed "s/^/$backend: /"
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ $backend = rest ]; then
        curl -s "$EDGE_ADMIN_URL/log?path=$NS&limit=10000" | jq -r --argjson ms "$ms" '
          [.entries[] | select(.route == "kv.bulk_write")] as $w | ($w | map(.duration_ms) | add) as $srv |
          "rest: \($w | length) bulk writes, \([.entries[] | select(.status == 429)] | length) answered 429; " +
          "wall \($ms / 1000) s = emulator \($srv / 1000) s (its KV binding puts) + the rest \(($ms - $srv) / 1000) s"'
        echo "rest: emulator state after the warm: $(du -sh "$EDGE_STATE_DIR/data/kv" | cut -f1)"
    fi
    setup bench_kv_$backend
done

echo "== hot keys: $HOT_UPDATES single-row updates over 5 rows while run streams (emulator)"
setup bench_kv_hot
config "$W/hot" "{ \"namespace_id\": \"$NS-hot\" }" bench_kv_hot
q -c "SELECT pg_create_logical_replication_slot('bench_kv_hot', 'pgoutput')" >/dev/null
seq0=$(curl -s "$EDGE_ADMIN_URL/log?limit=1" | jq .last_seq)
(cd "$W/hot" && exec "$BIN" --config w.jsonc run 2>"$W/hot.err") &
pid=$!
sleep 1
start=$(date +%s%N)
for i in $(seq 1 "$HOT_UPDATES"); do echo "UPDATE bench_kv SET qty = $i WHERE id = $((i % 5 + 1));"; done | q >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
sleep 3
kill -TERM $pid; wait $pid || true
curl -s "$EDGE_ADMIN_URL/log?since=$seq0&path=$NS-hot&limit=10000" | jq -r --argjson n "$HOT_UPDATES" --argjson ms "$ms" '
  [.entries[] | select(.route == "kv.bulk_write")] as $w |
  "\($n) source changes in \($ms) ms -> \($w | length) bulk writes; 429s: \([.entries[] | select(.status == 429)] | length)"'
setup bench_kv_hot
q -c "DROP PUBLICATION bench_kv_pub; DROP TABLE bench_kv" >/dev/null

echo "== ceiling: raw KV binding calls inside workerd, nothing in front (bench/kv/binding.mjs)"
if [ "$EDGE_FS" = tmpfs ]; then
    BENCH_TMPFS_DIR=$(dirname "$EDGE_STATE_DIR") node "$ROOT/bench/kv/binding.mjs" "${CEILING_KEYS:-2000}" tmpfs
else
    BENCH_DISK_DIR=$(dirname "$EDGE_STATE_DIR") node "$ROOT/bench/kv/binding.mjs" "${CEILING_KEYS:-2000}" disk
fi
