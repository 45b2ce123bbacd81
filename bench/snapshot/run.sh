#!/usr/bin/env bash
# bench/snapshot/run.sh [ROWS] - snapshot rows/s and MB/s of a table of ROWS rows (default 5,000,000)
# to the local directory, next to `psql \copy (select row_to_json(t) from t) | zstd -3 -T1` on the
# same table in the same run; compression ratio; peak RSS (GNU time). Then migrate rows/s into the
# embedded D1 file (SKIP_MIGRATE=1 leaves it out). RUNS=N (default 1) runs both N times,
# alternating, and reports the fastest of each: other work on the machine only ever slows a run.
# Needs the local Postgres (scripts/pg-local.sh) and a release build.
set -euo pipefail
ROWS=${1:-5000000}
RUNS=${RUNS:-1}
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
now() { date +%s.%N; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
base_s=0 snap_s=0 rss=0
for run in $(seq "$RUNS"); do
    t0=$(now)
    psql -X -q -c "\\copy (select row_to_json(t) from bench_snap t) to stdout" | zstd -3 -T1 -q >baseline.zst
    t1=$(now)
    rm -rf state/r2 state/snapshot
    /usr/bin/time -f '%M' -o rss.txt "$BIN" --config w.jsonc snapshot --no-slot --no-progress --id "bench$run" \
        2>snap.err >snap.out
    t2=$(now)
    b=$(echo "$t1 - $t0" | bc -l) s=$(echo "$t2 - $t1" | bc -l)
    [ "$run" = 1 ] || [ "$(echo "$b < $base_s" | bc -l)" = 1 ] && base_s=$b
    [ "$run" = 1 ] || [ "$(echo "$s < $snap_s" | bc -l)" = 1 ] && snap_s=$s
    [ "$(cat rss.txt)" -gt "$rss" ] && rss=$(cat rss.txt)
done
cat snap.out
raw=$(jq '.raw_bytes' state/r2/lake/public.bench_snap/bench$RUNS/manifest.json)
comp=$(jq '.bytes' state/r2/lake/public.bench_snap/bench$RUNS/manifest.json)
printf 'rows:                 %d (best of %d run(s); load average before: %s)\n' "$ROWS" "$RUNS" \
    "$load"
printf 'psql|zstd -3 -T1:     %.1f s  %.0f rows/s  %.1f MB/s compressed (%s bytes)\n' "$base_s" \
    "$(echo "$ROWS / $base_s" | bc -l)" "$(echo "$(stat -c %s baseline.zst) / $base_s / 1000000" | bc -l)" "$(stat -c %s baseline.zst)"
printf 'wal2edge snapshot:    %.1f s  %.0f rows/s  %.1f MB/s raw NDJSON, %.1f MB/s compressed  ratio %.2f  peak RSS %d MB\n' \
    "$snap_s" "$(echo "$ROWS / $snap_s" | bc -l)" "$(echo "$raw / $snap_s / 1000000" | bc -l)" \
    "$(echo "$comp / $snap_s / 1000000" | bc -l)" "$(echo "$raw / $comp" | bc -l)" "$(( rss / 1024 ))"
printf 'speed-up:             %.2fx\n' "$(echo "$base_s / $snap_s" | bc -l)"
[ "${SKIP_MIGRATE:-0}" = 1 ] && exit 0
t3=$(now)
/usr/bin/time -f '%M' -o rss2.txt "$BIN" --config w.jsonc migrate --no-progress 2>mig.err | head -1
t4=$(now)
printf 'migrate (embedded):   %.1f s  %.0f rows/s  peak RSS %d MB\n' "$(echo "$t4 - $t3" | bc -l)" \
    "$(echo "$ROWS / ($t4 - $t3)" | bc -l)" "$(( $(cat rss2.txt) / 1024 ))"
