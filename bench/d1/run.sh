#!/usr/bin/env bash
# bench/d1/run.sh [TXNS] [LATENCY_SECONDS] [LATENCY_RATE]
#
# D1 apply benchmark (not part of CI):
#  1. sustained changes per second of `wal2edge run` into the embedded D1 file and into D1 over
#     the REST API (the local edge emulator), next to pg_recvlogical's wall time on the same WAL
#     range: TXNS pgbench-style transactions (update an account, update its branch, insert a
#     history row: 3 changes each), each client reading from its own slot created at the same point;
#  2. D1 requests per 1,000 changes (the emulator's counters, and the target's own count);
#  3. commit-to-visible latency into the embedded file: a writer commits LATENCY_RATE rows/s
#     carrying clock_timestamp() for LATENCY_SECONDS while `run` streams; a poller reads the
#     D1 file every 10 ms and notes when each row appears; p50/p99 of (seen - committed).
# Needs the local Postgres (scripts/pg-local.sh start), the edge emulator (scripts/edge-local.sh
# start) and a Release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
txns=${1:-20000}
lat_s=${2:-20}
lat_rate=${3:-50}
bin=${WAL2EDGE_BIN:-$repo/build/release/wal2edge}
[ -x "$bin" ] || { echo "build the release preset first: $bin" >&2; exit 1; }
eval "$("$repo/scripts/pg-local.sh" env)"
"$repo/scripts/edge-local.sh" status >/dev/null || { echo "start the edge emulator first" >&2; exit 1; }
eval "$("$repo/scripts/edge-local.sh" env)"
work=$(mktemp -d)
trap '[ -n "${KEEP_BENCH:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
slots="'bd1_recv', 'bd1_emb', 'bd1_rest', 'bd1_lat'"
db_id="bench-d1-$$"

config() {   # config NAME SLOT D1_SECTION
    mkdir -p "$work/$1/mappings"
    for t in bd1_accounts bd1_branches bd1_history bd1_lat; do
        printf '{ "table": "public.%s", "d1": { "database": "app" } }\n' "$t" >"$work/$1/mappings/$t.jsonc"
    done
    cat >"$work/$1/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bd1_pub", "slot": "$2" },
  "cloudflare": { "account_id": "\${CLOUDFLARE_ACCOUNT_ID}", "api_token": "\${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "\${CLOUDFLARE_API_BASE_URL}" },
  "state_dir": "state", "d1": { "app": $3 }, "mappings": ["mappings/*.jsonc"] }
JSONC
}

psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($slots);
DROP PUBLICATION IF EXISTS bd1_pub;
DROP TABLE IF EXISTS bd1_accounts, bd1_branches, bd1_history, bd1_lat;
CREATE TABLE bd1_branches (bid int PRIMARY KEY, bbalance bigint NOT NULL);
CREATE TABLE bd1_accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance bigint NOT NULL, filler char(84));
CREATE TABLE bd1_history (hid bigserial PRIMARY KEY, aid int, bid int, delta int, mtime timestamptz);
CREATE TABLE bd1_lat (id bigserial PRIMARY KEY, committed timestamptz NOT NULL);
INSERT INTO bd1_branches SELECT g, 0 FROM generate_series(1, 10) g;
INSERT INTO bd1_accounts SELECT g, 1 + g % 10, 0, '' FROM generate_series(1, 100000) g;
CREATE PUBLICATION bd1_pub FOR TABLE bd1_accounts, bd1_branches, bd1_history, bd1_lat;
SELECT pg_create_logical_replication_slot('bd1_recv', 'pgoutput');
SELECT pg_create_logical_replication_slot('bd1_emb', 'pgoutput');
SELECT pg_create_logical_replication_slot('bd1_rest', 'pgoutput');
SQL
config emb bd1_emb '{}'
config rest bd1_rest "{ \"database_id\": \"$db_id\" }"
# create the D1 schemas outside the timed runs (they hold only the initial rows' absence: no changes yet)
"$bin" --config "$work/emb/w.jsonc" run --exit-when-caught-up 2>/dev/null
"$bin" --config "$work/rest/w.jsonc" run --exit-when-caught-up 2>/dev/null

start_lsn=$(psql_q -c "SELECT pg_current_wal_lsn()")
psql_q -c "DO \$\$ DECLARE a int; d int; BEGIN FOR i IN 1..$txns LOOP
    a := 1 + (i * 7919) % 100000; d := i % 1000 - 500;
    UPDATE bd1_accounts SET abalance = abalance + d WHERE aid = a;
    UPDATE bd1_branches SET bbalance = bbalance + d WHERE bid = 1 + a % 10;
    INSERT INTO bd1_history (aid, bid, delta, mtime) VALUES (a, 1 + a % 10, d, now());
    COMMIT; END LOOP; END \$\$" >/dev/null
end_lsn=$(psql_q -c "SET synchronous_commit = on" -c "BEGIN" \
    -c "CREATE TEMP TABLE bd1_marker (x int) ON COMMIT DROP" -c "COMMIT" -c "SELECT pg_current_wal_flush_lsn()")
changes=$((txns * 3))
wal_mb=$(psql_q -c "SELECT round(pg_wal_lsn_diff('$end_lsn', '$start_lsn') / 1048576.0, 1)")
echo "workload: $txns transactions, $changes changes, $wal_mb MB of WAL"

TIMEFORMAT='%R'
t_recv=$( { time "$PG_BINDIR/pg_recvlogical" -d "$DATABASE_URL" -S bd1_recv --start -E "$end_lsn" \
    -o proto_version=3 -o publication_names=bd1_pub -o streaming=on -f "$work/recv.bin" --no-loop 2>/dev/null; } 2>&1 )
t_emb=$( { time "$bin" --log-format json --config "$work/emb/w.jsonc" run --exit-when-caught-up 2>"$work/emb.log"; } 2>&1 )
before=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq '.by_route["d1.query"].count // 0')
t_rest=$( { time "$bin" --log-format json --config "$work/rest/w.jsonc" run --exit-when-caught-up 2>"$work/rest.log"; } 2>&1 )
after=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq '.by_route["d1.query"].count // 0')
own=$(sed -n 's/.*in \([0-9]*\) requests.*/\1/p' "$work/rest.log" | tail -1)
emb_rows=$(sqlite3 "$work/emb/state/d1/app.sqlite" "SELECT count(*) FROM bd1_history")
awk -v c="$changes" -v r="$t_recv" -v e="$t_emb" -v s="$t_rest" -v req=$((after - before)) -v own="${own:-0}" \
    -v rows="$emb_rows" 'BEGIN {
    printf "pg_recvlogical      %7.2f s  %9.0f changes/s\n", r, c / r
    printf "wal2edge embedded   %7.2f s  %9.0f changes/s  (wall %.2fx pg_recvlogical; %d history rows)\n", e, c / e, e / r, rows
    printf "wal2edge REST/edge  %7.2f s  %9.0f changes/s  (wall %.2fx pg_recvlogical)\n", s, c / s, s / r
    printf "D1 REST requests    %d (emulator log; the target counted %d) = %.2f per 1,000 changes\n", req, own, req * 1000 / c
}'

# ---- commit-to-visible latency into the embedded file ----
psql_q -c "SELECT pg_create_logical_replication_slot('bd1_lat', 'pgoutput')" >/dev/null
config lat bd1_lat '{}'
"$bin" --config "$work/lat/w.jsonc" run 2>"$work/lat.log" &
run_pid=$!
while [ ! -s "$work/lat/state/d1/app.sqlite" ]; do sleep 0.1; done
sleep 1
python3 - "$work/lat/state/d1/app.sqlite" "$lat_s" >"$work/lat.seen" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=5)
until = time.time() + float(sys.argv[2]) + 3
last = 0
while time.time() < until:
    try:
        rows = db.execute("SELECT id, committed FROM bd1_lat WHERE id > ? ORDER BY id", (last,)).fetchall()
    except sqlite3.OperationalError:
        rows = []
    now = time.time()
    for i, c in rows:
        print(i, c, "%.6f" % now)
        last = i
    time.sleep(0.01)
PY
poll_pid=$!
n=$((lat_s * lat_rate))
psql_q -c "DO \$\$ BEGIN FOR i IN 1..$n LOOP
    INSERT INTO bd1_lat (committed) VALUES (clock_timestamp()); COMMIT;
    PERFORM pg_sleep(1.0 / $lat_rate); END LOOP; END \$\$" >/dev/null
wait $poll_pid
kill -TERM $run_pid; wait $run_pid || true
python3 - "$work/lat.seen" "$n" "$lat_rate" <<'PY'
import sys, datetime
lat = []
for line in open(sys.argv[1]):
    i, c, seen = line.split()
    t = datetime.datetime.strptime(c.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    lat.append(float(seen) - t)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print("commit-to-visible (embedded, %s rows/s): %d of %s rows seen; p50 %.0f ms, p99 %.0f ms, max %.0f ms"
      % (sys.argv[3], len(lat), sys.argv[2], q(0.5), q(0.99), lat[-1] * 1000))
PY
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($slots)" \
    -c "DROP PUBLICATION bd1_pub" -c "DROP TABLE bd1_accounts, bd1_branches, bd1_history, bd1_lat" >/dev/null
