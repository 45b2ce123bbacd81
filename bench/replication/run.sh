#!/usr/bin/env bash
# bench/replication/run.sh [SMALL_TXNS] [HUGE_TXNS] [ROWS_PER_HUGE]
#
# `wal2edge run` into the change-log target versus `pg_recvlogical` writing the same WAL
# range to a file, on two workloads: many small transactions (pgbench-style) and a few
# huge ones. Both read from their own slot created at the same point. Prints wall time,
# client CPU (user+sys) and, for wal2edge, peak RSS. Needs the local Postgres
# (scripts/pg-local.sh start) and a Release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
small=${1:-20000}
huge=${2:-3}
rows=${3:-300000}
bin=${WAL2EDGE_BIN:-$repo/build/release/wal2edge}
[ -x "$bin" ] || { echo "build the release preset first: $bin" >&2; exit 1; }
eval "$("$repo/scripts/pg-local.sh" env)"
pgdata=${PG_LOCAL_DIR:-$repo/.local/pg}/data
work=$(mktemp -d)
trap '[ -n "${KEEP_BENCH:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

bench_one() {   # bench_one NAME SQL
    local name=$1 sql=$2
    psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_w2e', 'bench_recv');
DROP PUBLICATION IF EXISTS bench_pub;
DROP TABLE IF EXISTS bench_accounts;
CREATE TABLE bench_accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))
    WITH (autovacuum_enabled = false);  -- no vacuum or analyze of it competing with either client
CREATE PUBLICATION bench_pub FOR TABLE bench_accounts;
SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput');
SELECT pg_create_logical_replication_slot('bench_w2e', 'pgoutput');
SQL
    local start_lsn end_lsn
    start_lsn=$(psql_q -c "SELECT pg_current_wal_lsn()")
    psql_q -c "$sql" >/dev/null
    # a synchronously committed marker: WAL up to it is flushed, so both clients can reach it
    end_lsn=$(psql_q -c "SET synchronous_commit = on" -c "BEGIN" \
        -c "CREATE TEMP TABLE bench_marker (x int) ON COMMIT DROP" -c "COMMIT" -c "SELECT pg_current_wal_flush_lsn()")
    local wal_mb
    wal_mb=$(psql_q -c "SELECT round(pg_wal_lsn_diff('$end_lsn', '$start_lsn') / 1048576.0, 1)")

    cat >"$work/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_pub", "slot": "bench_w2e" },
  "state_dir": "$work/state-$name", "changelog": { "path": "$work/$name.ndjson" } }
JSONC
    local TIMEFORMAT='%R %U %S'
    local t_recv t_w2e
    run_recv() { t_recv=$( { time "$PG_BINDIR/pg_recvlogical" -d "$DATABASE_URL" -S bench_recv --start -E "$end_lsn" \
        -o proto_version=3 -o publication_names=bench_pub -o streaming=on -f "$work/$name.bin" \
        --no-loop 2>/dev/null; } 2>&1 ); }
    run_w2e() { t_w2e=$( { time "$bin" --log-format json --config "$work/w.jsonc" run --exit-when-caught-up \
        2>"$work/$name.log"; } 2>&1 ); }
    # Both read the WAL from the page cache (read it in before each client), and they
    # alternate going first, so neither pays for the disk alone.
    warm_wal() { cat "$pgdata"/pg_wal/0* >/dev/null 2>&1 || true; }
    if [ $((rep % 2)) = 0 ]; then warm_wal; run_recv; warm_wal; run_w2e; else warm_wal; run_w2e; warm_wal; run_recv; fi
    local peak commits
    peak=$(sed -n 's/.*peak RSS \([0-9]*\) KB.*/\1/p' "$work/$name.log")
    commits=$(grep -c '"type":"commit"' "$work/$name.ndjson" || true)
    read -r rw ru rs <<<"$t_recv"
    read -r ww wu ws <<<"$t_w2e"
    echo "$name $wal_mb $commits $rw $(awk "BEGIN{print $ru + $rs}") $ww $(awk "BEGIN{print $wu + $ws}") ${peak:-0}" >>"$work/results"
    rm -f "$work/$name.bin" "$work/$name.ndjson"
    rm -rf "$work/state-$name"
}

small_sql="DO \$\$ BEGIN FOR i IN 1..$small LOOP
    INSERT INTO bench_accounts VALUES (i, i % 10, 0, '') ON CONFLICT (aid) DO UPDATE SET abalance = bench_accounts.abalance + 1;
    COMMIT; END LOOP; END \$\$;"
huge_sql="DO \$\$ BEGIN FOR t IN 1..$huge LOOP
    INSERT INTO bench_accounts SELECT (t - 1) * $rows + g, g % 10, g, '' FROM generate_series(1, $rows) g;
    COMMIT; END LOOP; END \$\$;"
reps=${REPS:-3}
for rep in $(seq 1 "$reps"); do
    bench_one small "$small_sql"
    bench_one huge "$huge_sql"
done
echo "medians of $reps runs (pg_recvlogical and wal2edge alternate going first):"
for name in small huge; do
    grep "^$name " "$work/results" | sort -k6 -n | awk -v n="$name" -v reps="$reps" '
        { wal[NR] = $2; c[NR] = $3; rw[NR] = $4; rc[NR] = $5; ww[NR] = $6; wc[NR] = $7; pk[NR] = $8 }
        function med(a,   i, j, t, m) { m = NR; for (i = 1; i <= m; i++) s2[i] = a[i];
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (s2[j] < s2[i]) { t = s2[i]; s2[i] = s2[j]; s2[j] = t }
            return s2[int((m + 1) / 2)] }
        END { printf "%-6s %7.1f MB WAL %7d txns | pg_recvlogical %6.2f s wall %6.2f s cpu | wal2edge %6.2f s wall %6.2f s cpu %6.1f MB peak RSS | wall ratio %.2f\n",
              n, wal[1], c[1], med(rw), med(rc), med(ww), med(wc), med(pk) / 1024, med(ww) / med(rw) }'
done
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_w2e', 'bench_recv')" -c "DROP PUBLICATION bench_pub" -c "DROP TABLE bench_accounts" >/dev/null
