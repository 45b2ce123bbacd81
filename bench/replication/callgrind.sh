#!/usr/bin/env bash
# bench/replication/callgrind.sh [TXNS] - instructions per change per target, issue #13's stable
# measure on a noisy machine: `valgrind --tool=callgrind` counts the instructions wal2edge executes
# (every thread of it; not the server's work), which do not move with the load of other processes.
#
# TXNS transactions of one insert and one update (2 x TXNS changes, default 20,000) go through
# each client of run.sh but pg_recvlogical (log, d1, kv, queue, all; CLIENTS picks some), each on
# its own slot over the same WAL range. Per client: the instructions of the run over the workload,
# minus those of the same client's run over an empty range (start-up, catalog, connection and
# shutdown), divided by the changes; then, per change the same way, wal2edge's functions with their
# callees (file:function, callgrind_annotate --inclusive=yes) and every function's own cost, so a
# slow target points at its own hot spot.
#
# A bench dependency, not a test one: valgrind (scripts/install-deps.sh installs it). The binary is a
# -O2 -g build in build/callgrind (made here when missing: same optimisation as the release preset,
# with line tables for file:function); WAL2EDGE_BIN picks another. TOP (default 12) functions per client.
# Callgrind runs ~50x slower than the native binary: 20,000 transactions take about a minute per client.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
txns=${1:-20000}
clients=${CLIENTS:-log d1 kv queue all}
top=${TOP:-12}
command -v valgrind >/dev/null || { echo "valgrind is needed (scripts/install-deps.sh)" >&2; exit 1; }
bin=${WAL2EDGE_BIN:-$repo/build/callgrind/wal2edge}
if [ -z "${WAL2EDGE_BIN:-}" ] && [ ! -x "$bin" ]; then
    cmake -S "$repo" -B "$repo/build/callgrind" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" -DWAL2EDGE_TESTS=OFF >/dev/null
    cmake --build "$repo/build/callgrind" -j2 >/dev/null
fi
source "$repo/bench/replication/lib.sh"
work=$(mktemp -d)
# the slots go whatever happens (a slot left behind pins WAL and takes one of few)
trap 'bench_cleanup 2>/dev/null || true; [ -n "${KEEP_BENCH:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT

# instructions NAME CLIENT: run the client under callgrind (profile in WORK/NAME.CLIENT.cg); prints Ir
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$work/$1.$2.cg" --dump-instr=no \
        "$bin" --log-format json --config "$work/$2/w.jsonc" run --exit-when-caught-up 2>"$work/$1.$2.log" ||
        { echo "$2 failed under callgrind:" >&2; tail -5 "$work/$1.$2.log" >&2; exit 1; }
    awk '/^(summary|totals):/ { print $2; exit }' "$work/$1.$2.cg"
}

bench_prepare "$work" "$clients"
declare -A idle
for c in $clients; do idle[$c]=$(instructions idle "$c"); done   # the same clients over an empty range
bench_workload "DO \$\$ BEGIN FOR i IN 1..$txns LOOP
    INSERT INTO bench_accounts VALUES (i, i % 10, 0, '');
    UPDATE bench_accounts SET abalance = abalance + 1 WHERE aid = i;
    COMMIT; END LOOP; END \$\$;"
changes=$((txns * 2))
echo "== $txns transactions of 1 insert + 1 update ($changes changes, $bench_wal_mb MB of WAL), $(basename "$bin") under callgrind"
printf "%-16s %16s %14s %16s\n" client instructions "start-up" "per change"
for c in $clients; do
    total=$(instructions work "$c")
    bench_check "$work" "$c" "$changes"
    awk -v c="$c" -v t="$total" -v i="${idle[$c]}" -v n=$changes 'BEGIN {
        label["log"] = "change log"; label["d1"] = "D1 embedded"; label["kv"] = "KV embedded"
        label["queue"] = "queue embedded"; label["all"] = "D1+KV+queue"
        printf "%-16s %16.0f %14.0f %16.0f\n", label[c], t, i, (t - i) / n }' >>"$work/table"
done
cat "$work/table"
# costs FILE yes|no: "instructions<TAB>file:function" for every function of a profile, inclusive or self
costs() {
    callgrind_annotate --inclusive="$2" --threshold=100 --auto=no "$1" 2>/dev/null |
        awk '/^-+$/ { dashes++; next } dashes >= 3 && $1 ~ /^[0-9,]+$/ && !/PROGRAM TOTALS/ && !/=>/ {
            n = $1; gsub(",", "", n); sub(/^ *[0-9,]+ *\( *[0-9.]+%\) */, ""); print n "\t" $0 }'
}
# per_change CLIENT yes|no [FILTER]: the workload's run minus the empty range's, per change, largest
# first (the frames every change passes through on its way from main to run_pipeline left out)
per_change() {
    costs "$work/idle.$1.cg" "$2" >"$work/idle.$1.$2"
    costs "$work/work.$1.cg" "$2" >"$work/work.$1.$2"
    awk -F '\t' -v n=$changes -v filter="${3:-}" 'NR == FNR { idle[$2] += $1; next } { work[$2] += $1 }
        END { for (f in work) { d = work[f] - idle[f]; if (d > 0 && f ~ filter && f !~ /:(main|cli_main|cmd_run|run_pipeline) /) printf "%10.1f  %s\n", d / n, f } }' \
        "$work/idle.$1.$2" "$work/work.$1.$2" | sort -rn | awk -v top="$top" 'NR <= top' # not head: pipefail
}
for c in $clients; do
    echo
    echo "== $c: instructions per change (the workload's run minus the empty range's, so start-up - e.g."
    echo "   SCRAM's PBKDF2 in libcrypto - drops out); wal2edge's functions, callees included:"
    per_change "$c" yes '^src/'
    echo "   every function, its own instructions only:"
    per_change "$c" no
done
