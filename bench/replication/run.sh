#!/usr/bin/env bash
# bench/replication/run.sh [SMALL_TXNS] [HUGE_TXNS] [ROWS_PER_HUGE]
#
# `wal2edge run` against `pg_recvlogical` on the same WAL range, issue #13's benchmark. Two
# workloads: SMALL_TXNS transactions of one insert and one update each (pgbench-style), and
# HUGE_TXNS transactions of ROWS_PER_HUGE inserts. For each workload every client gets its own slot,
# all created at the same point, then the workload runs once and each client reads the same range:
#   recv   pg_recvlogical writing the pgoutput stream to a file (the floor: decoding on the server,
#          the network, a file write)
#   log    wal2edge into the change log alone (NDJSON file)
#   d1     wal2edge into the embedded D1 alone (SQLite file)
#   kv     wal2edge into the embedded KV alone (SQLite file)
#   queue  wal2edge into the embedded queue alone (spool file)
#   all    wal2edge into the embedded D1 + KV + queue at once (the full apply)
# Per client: wall time, CPU (user+sys) and peak RSS (GNU time), the ratio of its wall time to
# pg_recvlogical's, and changes per second; medians over REPS runs (default 3), the order of the
# clients rotating from one run to the next, the WAL read into the page cache before each.
# CLIENTS="recv kv" picks some; RECV_OUT=/dev/null has pg_recvlogical write nowhere (a stricter floor
# where a file write per message is costly). Instruction counts per change: bench/replication/callgrind.sh.
# Needs the local Postgres (scripts/pg-local.sh start), GNU time (/usr/bin/time) and a Release
# build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
small=${1:-20000}
huge=${2:-3}
rows=${3:-300000}
reps=${REPS:-3}
clients=${CLIENTS:-recv log d1 kv queue all}
bin=${WAL2EDGE_BIN:-$repo/build/release/wal2edge}
[ -x "$bin" ] || { echo "build the release preset first: $bin" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 1; }
source "$repo/bench/replication/lib.sh"

work=$(mktemp -d)
# the slots go whatever happens (a slot left behind pins WAL and takes one of few)
trap 'bench_cleanup 2>/dev/null || true; [ -n "${KEEP_BENCH:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT

# bench_one NAME SQL CHANGES: one run of every client over the WAL of SQL
bench_one() {
    local name=$1 sql=$2 changes=$3 c
    bench_prepare "$work" "$clients"
    bench_workload "$sql"
    local order rot=$((rep % $(wc -w <<<"$clients")))
    order=$(tr ' ' '\n' <<<"$clients" | grep . | awk -v r="$rot" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r) % NR + 1] }')
    for c in $order; do
        cat "$pgdata"/pg_wal/0* >/dev/null 2>&1 || true   # every client reads the WAL from the page cache
        if [ "$c" = recv ]; then
            /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$PG_BINDIR/pg_recvlogical" -d "$DATABASE_URL" -S bench_recv \
                --start -E "$bench_end_lsn" -o proto_version=3 -o publication_names=bench_pub -o streaming=on \
                -f "${RECV_OUT:-$work/recv.bin}" --no-loop 2>/dev/null
            rm -f "$work/recv.bin"
        else
            /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$bin" --log-format json --config "$work/$c/w.jsonc" \
                run --exit-when-caught-up 2>"$work/$c.log" || { echo "$c failed:" >&2; tail -5 "$work/$c.log" >&2; exit 1; }
            bench_check "$work" "$c" "$changes"
            rm -rf "$work/$c/state" "$work/$c/changes.ndjson"
        fi
        read -r wall user sys rss <"$work/time"
        echo "$name $c $bench_wal_mb $wall $(awk "BEGIN { print $user + $sys }") $rss" >>"$work/results"
    done
}

small_sql="DO \$\$ BEGIN FOR i IN 1..$small LOOP
    INSERT INTO bench_accounts VALUES (i, i % 10, 0, '');
    UPDATE bench_accounts SET abalance = abalance + 1 WHERE aid = i;
    COMMIT; END LOOP; END \$\$;"
huge_sql="DO \$\$ BEGIN FOR t IN 1..$huge LOOP
    INSERT INTO bench_accounts SELECT (t - 1) * $rows + g, g % 10, g, '' FROM generate_series(1, $rows) g;
    COMMIT; END LOOP; END \$\$;"
for rep in $(seq 1 "$reps"); do
    [ "$small" -gt 0 ] && bench_one small "$small_sql" $((small * 2))
    [ "$huge" -gt 0 ] && bench_one huge "$huge_sql" $((huge * rows))
done

echo "medians of $reps runs (clients in rotating order; wall and CPU in seconds, peak RSS in MB)"
for name in small huge; do
    grep -q "^$name " "$work/results" 2>/dev/null || continue
    if [ $name = small ]; then desc="$small transactions of 1 insert + 1 update"; n=$((small * 2)); else
        desc="$huge transactions of $rows inserts"; n=$((huge * rows)); fi
    echo "== $name: $desc ($n changes, $(awk -v n=$name '$1 == n { print $3; exit }' "$work/results") MB of WAL)"
    printf "%-16s %8s %8s %9s %10s %11s\n" client wall cpu "peak RSS" "x recv" "changes/s"
    recv_wall=$(awk -v n=$name '$1 == n && $2 == "recv" { print $4 }' "$work/results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    for c in $clients; do
        awk -v n=$name -v c="$c" '$1 == n && $2 == c' "$work/results" |
            awk -v c="$c" -v changes=$n -v recv="${recv_wall:-0}" '
            function med(a, m,   i, j, t) { for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return a[int((m + 1) / 2)] }
            { w[NR] = $4; u[NR] = $5; r[NR] = $6 }
            END { if (!NR) exit
                label["recv"] = "pg_recvlogical"; label["log"] = "change log"; label["d1"] = "D1 embedded"
                label["kv"] = "KV embedded"; label["queue"] = "queue embedded"; label["all"] = "D1+KV+queue"
                wall = med(w, NR); cpu = med(u, NR); rss = med(r, NR) / 1024
                printf "%-16s %8.2f %8.2f %9.1f %10s %11.0f\n", label[c], wall, cpu, rss,
                    (recv > 0 ? sprintf("%.2f", wall / recv) : "-"), changes / wall }'
    done
done
