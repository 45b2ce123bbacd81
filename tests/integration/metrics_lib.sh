# tests/integration/metrics_lib.sh - helpers for the tests of the metrics endpoint (sourced after lib.sh).

# start_metrics_run CONFIG [ARGS...]: `wal2edge run` in the background (output in $WORK/run.{out,err});
# sets run_pid and base (http://127.0.0.1:PORT, the port the config's "127.0.0.1:0" got).
start_metrics_run() {
    local config=$1; shift
    "$WAL2EDGE_BIN" --config "$config" "$@" run >"$WORK/run.out" 2>"$WORK/run.err" &
    run_pid=$!
    local port="" _
    for _ in $(seq 100); do
        port=$(grep -o 'port [0-9]*' "$WORK/run.err" | head -1 | cut -d' ' -f2) && [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { fail "run never said where it listens"; sed 's/^/    | /' "$WORK/run.err" >&2; finish; }
    base="http://127.0.0.1:$port"
}

scrape() { curl -sS "$base/metrics"; }
# metric_value NAME{LABELS}: the sample's value in a fresh scrape (empty when absent)
metric_value() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }
