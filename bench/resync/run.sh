#!/usr/bin/env bash
# bench/resync/run.sh [ROWS] [CHUNK_ROWS] [RATE] [embedded|rest] - `wal2edge resync` of a ROWS-row
# table (default 1,000,000) into the embedded D1 (default) or into a REST D1 on a private edge
# emulator (rest: EDGE_PORT, default 8799, and a state directory of its own, started and stopped
# here) in chunks of CHUNK_ROWS (default 5000) while `run` streams and
# pgbench updates random rows of the same table at RATE transactions/s (default 500, 2 clients;
# 0: as fast as it can, which a Debug build of run cannot follow). Prints the
# resync's rows/s (sent, and applied: until run has passed the last chunk), the stream's lag
# (bytes between the server's WAL position and the slot's confirmed position, sampled every
# 0.5 s: max and at the end of the resync) and the load's tps without and with the resync; then
# checks that D1 equals Postgres. Needs the local Postgres (scripts/pg-local.sh); uses a database
# of its own (bench_resync). WAL2EDGE_BIN picks the binary (default build/release/wal2edge).
set -euo pipefail
ROWS=${1:-1000000}
CHUNK=${2:-5000}
RATE=${3:-500}
BACKEND=${4:-embedded}
CLIENTS=2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${WAL2EDGE_BIN:-$SRC/build/release/wal2edge}
eval "$("$SRC/scripts/pg-local.sh" env)"
export PGDATABASE=bench_resync
export DATABASE_URL="postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/bench_resync"
W=$(mktemp -d)
run_pid=""
edge_up=""
cleanup() {
    [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
    [ -n "$edge_up" ] && EDGE_PORT=$EDGE_PORT EDGE_STATE_DIR=$W/edge "$SRC/scripts/edge-local.sh" stop >/dev/null 2>&1
    psql -X -q -d postgres -c "SELECT pg_drop_replication_slot('bench_resync') FROM pg_replication_slots
                               WHERE slot_name = 'bench_resync'" >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bench_resync WITH (FORCE)" -c "CREATE DATABASE bench_resync"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE bench_rs (id bigint PRIMARY KEY, email text, score numeric(12,2), n int NOT NULL DEFAULT 0);
INSERT INTO bench_rs SELECT g, 'user' || g || '@example.com', g % 100000 / 7.0, 0 FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench_rs;
CREATE PUBLICATION bench_resync FOR TABLE bench_rs;
SQL
mkdir -p "$W/mappings"
D1_APP='{}' CF=''
if [ "$BACKEND" = rest ]; then
    EDGE_PORT=${EDGE_PORT:-8799}
    EDGE_PORT=$EDGE_PORT EDGE_STATE_DIR=$W/edge "$SRC/scripts/edge-local.sh" start >/dev/null
    edge_up=1
    eval "$(EDGE_PORT=$EDGE_PORT EDGE_STATE_DIR=$W/edge "$SRC/scripts/edge-local.sh" env)"
    D1_ID=bench-resync-$$
    D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_ID"
    D1_APP="{ \"database_id\": \"$D1_ID\" }"
    CF='"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}", "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },'
fi
# d1q SQL: the first column of every row D1 answers (the embedded file, or the REST database)
d1q() {
    if [ "$BACKEND" = rest ]; then
        jq -n --arg sql "$1" '{sql: $sql}' |
            curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
                -H 'Content-Type: application/json' --data-binary @- |
            jq -r 'if .success then .result[0].results.rows[] | .[0] | tostring else "D1 ERROR: \(.errors)" end'
    else
        sqlite3 -cmd ".timeout 10000" -batch -noheader state/d1/app.sqlite "$1"
    fi
}
cat >"$W/w.jsonc" <<J
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_resync", "slot": "bench_resync" }, "state_dir": "state",
  $CF "d1": { "app": $D1_APP }, "mappings": ["mappings/*.jsonc"] }
J
echo '{ "table": "public.bench_rs", "d1": { "database": "app" } }' >"$W/mappings/m.jsonc"
cd "$W"
"$BIN" --config w.jsonc slot create >/dev/null
"$BIN" --config w.jsonc migrate --no-progress >/dev/null 2>&1
printf '\\set id random(1, %d)\nUPDATE bench_rs SET n = n + 1 WHERE id = :id;\n' "$ROWS" >load.sql
"$BIN" --config w.jsonc run >run.out 2>run.err &
run_pid=$!

RATE_ARGS=()
[ "$RATE" != 0 ] && RATE_ARGS=(-R "$RATE")
tps() { "$PG_BINDIR/pgbench" -n -c "$CLIENTS" "${RATE_ARGS[@]}" -T "$1" -f load.sql 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
lag() { psql -X -At -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots
                        WHERE slot_name = 'bench_resync'"; }
echo "load alone: $(tps 10) tps ($CLIENTS clients, 10 s, rate ${RATE:-unlimited})"

"$PG_BINDIR/pgbench" -n -c "$CLIENTS" "${RATE_ARGS[@]}" -T 3600 -f load.sql >pgbench.out 2>&1 &
load_pid=$!
(max=0; while :; do l=$(lag); [ "${l%.*}" -gt "$max" ] 2>/dev/null && max=${l%.*}; echo "$max" >lag.max; sleep 0.5; done) &
sampler=$!
start=$(date +%s.%N)
load_start=$(psql -X -At -c "SELECT sum(n) FROM bench_rs")
"$BIN" --config w.jsonc resync public.bench_rs --chunk-rows "$CHUNK" --no-progress >resync.out ||
    { tail -3 run.err >&2; exit 1; }
sent=$(date +%s.%N)
lag_end=$(lag)
# applied: run has passed a marker committed after the last chunk
psql -X -q -c "INSERT INTO bench_rs (id, email) VALUES ($((ROWS + 1)), 'marker')"
waited=0
until [ "$(d1q "SELECT count(*) FROM bench_rs WHERE id = $((ROWS + 1))")" = 1 ]; do
    sleep 0.1
    waited=$((waited + 1))
    [ "$waited" -lt 6000 ] || { echo "run did not apply the last chunk within 600 s (lag $(lag) bytes)" >&2
                                tail -3 run.err >&2; exit 1; }
done
applied=$(date +%s.%N)
load_end=$(psql -X -At -c "SELECT sum(n) FROM bench_rs")
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
kill -TERM "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null || true
during=$(awk -v a="$load_start" -v b="$load_end" -v s="$start" -v e="$applied" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
awk -v b="$BACKEND" -v r="$ROWS" -v s="$start" -v m="$sent" -v e="$applied" -v c="$CHUNK" 'BEGIN {
    printf "resync of %d rows in chunks of %d into %s D1: sent in %.1f s (%.0f rows/s), applied in %.1f s (%.0f rows/s)\n",
           r, c, b, m - s, r / (m - s), e - s, r / (e - s) }'
echo "stream lag during the resync: max $(cat lag.max) bytes, $lag_end bytes when the last chunk was sent"
echo "load with the resync: $during updates/s ($CLIENTS clients)"
# the load's last updates reach D1 before the comparison (a REST D1 may still be behind the
# first marker's moment by seconds): a second marker, committed after the load stopped
psql -X -q -c "INSERT INTO bench_rs (id, email) VALUES ($((ROWS + 2)), 'marker')"
waited=0
until [ "$(d1q "SELECT count(*) FROM bench_rs WHERE id = $((ROWS + 2))")" = 1 ]; do
    sleep 0.1
    waited=$((waited + 1))
    [ "$waited" -lt 6000 ] || { echo "run did not catch up with the load within 600 s" >&2; exit 1; }
done
psql -X -At -F '|' -c "SELECT id, email, score, n FROM bench_rs ORDER BY id" >pg.txt
d1q "SELECT id || '|' || coalesce(email, '') || '|' || coalesce(score, '') || '|' || n FROM bench_rs ORDER BY id" >d1.txt
cmp -s pg.txt d1.txt && echo "D1 equals Postgres ($(wc -l <pg.txt) rows)" || { echo "D1 differs from Postgres" >&2; exit 1; }
