#!/usr/bin/env bash
# bench/migrate/run.sh [ROWS] [UPSERT_ROWS] - `wal2edge migrate` rows/s into D1 over the REST API of
# the local edge emulator: a table of ROWS rows (default 200,000) through /import, and one of
# UPSERT_ROWS rows (default 20,000) through batched upserts (--import-rows above it); each run
# includes reading every row back through the API and comparing checksums. Prints the requests
# each run made by route (the emulator's request log). Needs the local Postgres
# (scripts/pg-local.sh) and edge emulator (scripts/edge-local.sh) and a release build. The two D1
# databases (bench-migrate-import, bench-migrate-upserts) are reused by every run: migrate empties them.
set -euo pipefail
ROWS=${1:-200000}
UPSERT_ROWS=${2:-20000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$SRC/build/release/wal2edge}
eval "$("$SRC/scripts/pg-local.sh" env)"
eval "$("$SRC/scripts/edge-local.sh" env)"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
psql -X -q -v ON_ERROR_STOP=1 <<SQL
DROP TABLE IF EXISTS bench_mig, bench_mig_small;
CREATE TABLE bench_mig (id bigint PRIMARY KEY, email text, score numeric(12,2), created timestamptz, active boolean, tags text[]);
INSERT INTO bench_mig SELECT g, 'user' || g || '@example.com', g % 100000 / 7.0, '2026-01-01'::timestamptz + g * interval '1 second',
    g % 3 = 0, ARRAY['t' || g % 10, 'x'] FROM generate_series(1, $ROWS) g;
CREATE TABLE bench_mig_small (LIKE bench_mig INCLUDING ALL);
INSERT INTO bench_mig_small SELECT * FROM bench_mig WHERE id <= $UPSERT_ROWS;
VACUUM ANALYZE bench_mig; VACUUM ANALYZE bench_mig_small;
SQL

run() {   # run NAME TABLE ROWS MIGRATE_ARGS...
    local name=$1 table=$2 rows=$3; shift 3
    mkdir -p "$W/$name/mappings"
    cat >"$W/$name/w.jsonc" <<J
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "w2e_bench_mig", "slot": "w2e_bench_mig" }, "state_dir": "state",
  "cloudflare": { "account_id": "\${CLOUDFLARE_ACCOUNT_ID}", "api_token": "\${CLOUDFLARE_API_TOKEN}", "api_base_url": "\${CLOUDFLARE_API_BASE_URL}" },
  "d1": { "app": { "database_id": "bench-migrate-$name" } }, "mappings": ["mappings/*.jsonc"] }
J
    echo "{ \"table\": \"public.$table\", \"d1\": { \"database\": \"app\" } }" >"$W/$name/mappings/m.jsonc"
    local seq0
    seq0=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq -r .last_seq)
    (cd "$W/$name" && "$BIN" --config w.jsonc migrate --no-progress "$@" >out.txt 2>err.txt) ||
        { cat "$W/$name/out.txt" "$W/$name/err.txt" >&2; exit 1; }
    grep -q ': ok$' "$W/$name/out.txt" || { echo "$name: not verified" >&2; cat "$W/$name/out.txt" >&2; exit 1; }
    local reqs
    reqs=$(curl -sS "$EDGE_ADMIN_URL/log?since=$seq0&limit=100000" |
        jq -r --arg db "bench-migrate-$name" '[.entries[] | select((.path | contains($db)) or .route == "d1.import_upload") | .route]
            | group_by(.) | map("\(.[0]) \(length)") | join(", ")')
    # the copy ends at the table's "(done)" progress line; the read-back follows
    local t_start t_done
    t_start=$(grep -m1 '"copying ' "$W/$name/err.txt" | jq -r .ts)
    t_done=$(grep -m1 '(done)' "$W/$name/err.txt" | jq -r .ts)
    printf '%-8s %8d rows: %s\n         copy %.1f s (%.0f rows/s), then read-back; requests: %s\n' "$name" "$rows" \
        "$(head -1 "$W/$name/out.txt")" "$(echo "$(date -d "$t_done" +%s.%N) - $(date -d "$t_start" +%s.%N)" | bc -l)" \
        "$(echo "$rows / ($(date -d "$t_done" +%s.%N) - $(date -d "$t_start" +%s.%N))" | bc -l)" "$reqs"
}
run import bench_mig "$ROWS"
run upserts bench_mig_small "$UPSERT_ROWS" --import-rows 1000000000
psql -X -q -c "DROP TABLE IF EXISTS bench_mig, bench_mig_small"
