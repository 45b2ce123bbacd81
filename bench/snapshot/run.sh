#!/usr/bin/env bash
# bench/snapshot/run.sh [ROWS] - snapshot rows/s and MB/s of a table of ROWS rows (default 5,000,000)
# to the local directory, next to `psql \copy (select row_to_json(t) from t) | zstd -3 -T1` on the
# same table in the same run; compression ratio; peak RSS (GNU time). Then migrate rows/s into the
# embedded D1 file. Needs the local Postgres (scripts/pg-local.sh) and a release build.
set -euo pipefail
ROWS=${1:-5000000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$SRC/build/release/wal2edge}
eval "$("$SRC/scripts/pg-local.sh" env)"
W=$(mktemp -d)
trap 'rm -rf "$W"; psql -X -q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'"'w2e_bench_snap'"'"'" >/dev/null 2>&1 || true' EXIT
psql -X -q -v ON_ERROR_STOP=1 <<SQL
DROP TABLE IF EXISTS bench_snap;
CREATE TABLE bench_snap (id bigint PRIMARY KEY, email text, score numeric(12,2), created timestamptz, active boolean, tags text[]);
INSERT INTO bench_snap SELECT g, 'user' || g || '@example.com', g % 100000 / 7.0, '2026-01-01'::timestamptz + g * interval '1 second',
    g % 3 = 0, ARRAY['t' || g % 10, 'x'] FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench_snap;
SQL
mkdir -p "$W/mappings"
cat >"$W/w.jsonc" <<J
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "w2e_bench", "slot": "w2e_bench_snap" }, "state_dir": "state",
  "r2": { "lake": {} }, "d1": { "app": {} }, "mappings": ["mappings/*.jsonc"] }
J
echo '{ "table": "public.bench_snap", "snapshot": { "bucket": "lake" }, "d1": { "database": "app" } }' >"$W/mappings/b.jsonc"
cd "$W"
t0=$(date +%s.%N)
psql -X -q -c "\\copy (select row_to_json(t) from bench_snap t) to stdout" | zstd -3 -T1 -q >baseline.zst
t1=$(date +%s.%N)
base_s=$(echo "$t1 - $t0" | bc -l)
/usr/bin/time -f '%M' -o rss.txt "$BIN" --config w.jsonc snapshot --no-slot --no-progress --id bench 2>snap.err | tee snap.out
t2=$(date +%s.%N)
snap_s=$(echo "$t2 - $t1" | bc -l)
raw=$(jq '.raw_bytes' state/r2/lake/public.bench_snap/bench/manifest.json)
comp=$(jq '.bytes' state/r2/lake/public.bench_snap/bench/manifest.json)
printf 'rows:                 %d\n' "$ROWS"
printf 'psql|zstd -3 -T1:     %.1f s  %.0f rows/s  %.1f MB/s (compressed %s bytes)\n' "$base_s" \
    "$(echo "$ROWS / $base_s" | bc -l)" "$(echo "$(stat -c %s baseline.zst) / $base_s / 1000000" | bc -l)" "$(stat -c %s baseline.zst)"
printf 'wal2edge snapshot:    %.1f s  %.0f rows/s  %.1f MB/s raw NDJSON  ratio %.2f  peak RSS %d MB\n' "$snap_s" \
    "$(echo "$ROWS / $snap_s" | bc -l)" "$(echo "$raw / $snap_s / 1000000" | bc -l)" "$(echo "$raw / $comp" | bc -l)" \
    "$(( $(cat rss.txt) / 1024 ))"
printf 'speed-up:             %.2fx\n' "$(echo "$base_s / $snap_s" | bc -l)"
t3=$(date +%s.%N)
/usr/bin/time -f '%M' -o rss2.txt "$BIN" --config w.jsonc migrate --no-progress 2>mig.err | head -1
t4=$(date +%s.%N)
printf 'migrate (embedded):   %.1f s  %.0f rows/s  peak RSS %d MB\n' "$(echo "$t4 - $t3" | bc -l)" \
    "$(echo "$ROWS / ($t4 - $t3)" | bc -l)" "$(( $(cat rss2.txt) / 1024 ))"
