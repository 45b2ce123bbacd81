#!/usr/bin/env bash
# bench/kv/warm_snapshot.sh - `wal2edge warm --from-snapshot ID` next to `wal2edge warm` (from
# Postgres) for the same table of ROWS rows (default 1,000,000) into the embedded KV store: seconds,
# keys/s and peak RSS of each, and whether both produced the same keys and values. The snapshot goes
# to the local directory (STATE_DIR/r2/lake) and is taken first (its time is printed too).
# Usage: scripts/pg-local.sh start; bench/kv/warm_snapshot.sh [ROWS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$ROOT/build/release/wal2edge}
[ -x "$BIN" ] || BIN=$ROOT/build/dev/wal2edge
ROWS=${1:-1000000}
eval "$("$ROOT/scripts/pg-local.sh" env)"
W=$(mktemp -d)
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
cleanup() {
    q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_kvws_s', 'bench_kvws_p')" >/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_kvws_s', 'bench_kvws_p');
DROP PUBLICATION IF EXISTS bench_kvws_pub;
DROP TABLE IF EXISTS bench_kvws;
CREATE TABLE bench_kvws (id int PRIMARY KEY, sku text NOT NULL, name text, qty int, active boolean, at timestamptz);
INSERT INTO bench_kvws SELECT g, 'SKU-' || g, 'item ' || g, g % 1000, g % 2 = 0, now() FROM generate_series(1, $ROWS) g;
ANALYZE bench_kvws;
CREATE PUBLICATION bench_kvws_pub FOR TABLE bench_kvws;
SQL
for s in s p; do
    mkdir -p "$W/$s/mappings"
    cat >"$W/$s/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_kvws_pub", "slot": "bench_kvws_$s" },
  "state_dir": "state", "r2": { "lake": {} }, "kv": { "cache": {} }, "mappings": ["mappings/*.jsonc"] }
JSONC
    echo '{ "table": "public.bench_kvws", "snapshot": { "bucket": "lake" },
            "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" } ] }' >"$W/$s/mappings/t.jsonc"
done
timed() {   # timed LABEL ARGS... : wal2edge's summary line, seconds and peak RSS
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$W/time" "$BIN" "$@" >"$W/out" 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
    read -r secs rss <"$W/time"
    printf '%-22s %7.1f s  %6.0f MB peak RSS  %s\n' "$label" "$secs" "$((rss / 1024))" "$(tail -1 "$W/out")"
}
echo "== $ROWS rows, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $BIN"
timed "snapshot" --config "$W/s/w.jsonc" snapshot --id bench --no-progress
timed "warm --from-snapshot" --config "$W/s/w.jsonc" warm --from-snapshot bench
timed "warm (Postgres)" --config "$W/p/w.jsonc" warm
a=$(sqlite3 "$W/s/state/kv/cache.sqlite" 'SELECT key, value FROM kv ORDER BY key' | md5sum)
b=$(sqlite3 "$W/p/state/kv/cache.sqlite" 'SELECT key, value FROM kv ORDER BY key' | md5sum)
[ "$a" = "$b" ] && echo "same keys and values both ways" || { echo "keys or values differ" >&2; exit 1; }
q -c "DROP PUBLICATION bench_kvws_pub" -c "DROP TABLE bench_kvws" >/dev/null
