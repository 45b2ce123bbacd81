# tests/integration/metrics_lib.sh - helpers for the tests of the metrics endpoint (sourced after lib.sh).

# start_metrics_cmd NAME CONFIG ARGS...: `wal2edge --config CONFIG ARGS...` in the background (output in
# $WORK/NAME.{out,err}); sets run_pid and base (http://127.0.0.1:PORT, the port "127.0.0.1:0" got).
start_metrics_cmd() {
    local name=$1 config=$2; shift 2
    "$WAL2EDGE_BIN" --config "$config" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    run_pid=$!
    local port="" _
    for _ in $(seq 100); do
        port=$(grep -o 'port [0-9]*' "$WORK/$name.err" | head -1 | cut -d' ' -f2) && [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { fail "$name never said where it listens"; sed 's/^/    | /' "$WORK/$name.err" >&2; finish; }
    base="http://127.0.0.1:$port"
}
# start_metrics_run CONFIG [GLOBAL OPTIONS...]: `wal2edge run` so ($WORK/run.{out,err}).
start_metrics_run() {
    local config=$1; shift
    start_metrics_cmd run "$config" "$@" run
}

scrape() { curl -sS "$base/metrics"; }
# metric_value NAME{LABELS}: the sample's value in a fresh scrape (empty when absent)
metric_value() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }

# metrics_d1_setup TABLE [METRICS_MEMBERS]: table TABLE (id int, v text) in publication $TEST_PUBLICATION,
# mapped to an embedded D1 "app" (on_error skip) and a change log; $WORK/w.jsonc with the metrics endpoint on a free
# port; the slot created and D1 migrated. Then `run` starts with start_metrics_run (stopped at exit).
metrics_d1_setup() {
    local table=$1 extra=${2:-}
    psql_q -c "CREATE TABLE $table (id int PRIMARY KEY, v text NOT NULL)" \
        -c "CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE $table" >/dev/null
    mkdir -p "$WORK/mappings"
    echo "{ \"table\": \"public.$table\", \"d1\": { \"database\": \"app\", \"on_error\": \"skip\" } }" \
        >"$WORK/mappings/$table.jsonc"
    write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$WORK/changes.ndjson\"}, \"d1\": { \"app\": {} },
  \"mappings\": [\"mappings/*.jsonc\"], \"metrics\": { \"listen\": \"127.0.0.1:0\"$extra }"
    run_w2e slot --config "$WORK/w.jsonc" slot create
    expect_rc slot 0
    run_w2e migrate --config "$WORK/w.jsonc" migrate
    expect_rc migrate 0
    start_metrics_run "$WORK/w.jsonc"
    trap 'rc=$?; kill $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true;
          [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
}

# give_slot_back: drop $TEST_SLOT once no walsender holds it (slots are few on a shared server)
give_slot_back() {
    for _ in $(seq 50); do
        [ "$(psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND active")" = 0 ] && break
        sleep 0.1
    done
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND NOT active" >/dev/null
}
