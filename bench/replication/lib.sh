# bench/replication/lib.sh - what run.sh and callgrind.sh share (sourced): one table and publication,
# a slot per client created at the same point, a wal2edge config per client, the workload with its
# end marker, and a check that each client applied all of it.
# Clients: recv (pg_recvlogical, run.sh only), log, d1, kv, queue, all (see run.sh).
eval "$("$repo/scripts/pg-local.sh" env)"
pgdata=${PG_LOCAL_DIR:-$repo/.local/pg}/data
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
bench_slots="'bench_recv', 'bench_log', 'bench_d1', 'bench_kv', 'bench_queue', 'bench_all'"

# bench_config WORK CLIENT: WORK/CLIENT/w.jsonc and its mapping, on slot bench_CLIENT
bench_config() {
    local dir=$1/$2 targets map=""
    local d1='"d1": { "database": "app" }' kv='"kv": [ { "namespace": "cache", "key": "acct:{aid}", "value": "row" } ]'
    local queue='"queue": { "queue": "changes" }'
    case $2 in
        log) targets="\"changelog\": { \"path\": \"$dir/changes.ndjson\" }" ;;
        d1) targets='"d1": { "app": {} }'; map=$d1 ;;
        kv) targets='"kv": { "cache": {} }'; map=$kv ;;
        queue) targets='"queues": { "changes": {} }'; map=$queue ;;
        all) targets='"d1": { "app": {} }, "kv": { "cache": {} }, "queues": { "changes": {} }'; map="$d1, $kv, $queue" ;;
        *) echo "unknown client $2" >&2; exit 2 ;;
    esac
    mkdir -p "$dir/mappings"
    [ -n "$map" ] && echo "{ \"table\": \"public.bench_accounts\", $map }" >"$dir/mappings/bench_accounts.jsonc"
    cat >"$dir/w.jsonc" <<JSONC
{ "source": { "dsn": "\${DATABASE_URL}", "publication": "bench_pub", "slot": "bench_$2" },
  "state_dir": "$dir/state", $targets${map:+, \"mappings\": [\"mappings/*.jsonc\"]} }
JSONC
}

# bench_prepare WORK CLIENTS: a fresh table, publication and slot per client; each wal2edge client
# started once before the workload (its D1 schema, its stores and checkpoints made outside the timing)
bench_prepare() {
    local work=$1 c
    psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($bench_slots);
DROP PUBLICATION IF EXISTS bench_pub;
DROP TABLE IF EXISTS bench_accounts;
CREATE TABLE bench_accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))
    WITH (autovacuum_enabled = false);  -- no vacuum or analyze of it competing with the clients
CREATE PUBLICATION bench_pub FOR TABLE bench_accounts;
SQL
    for c in $2; do
        psql_q -c "SELECT pg_create_logical_replication_slot('bench_$c', 'pgoutput')" >/dev/null
        [ "$c" = recv ] && continue
        rm -rf "${work:?}/$c"
        bench_config "$work" "$c"
        "$bin" --config "$work/$c/w.jsonc" run --exit-when-caught-up 2>"$work/$c.prep.log" ||
            { echo "$c: the first run failed:" >&2; tail -5 "$work/$c.prep.log" >&2; exit 1; }
    done
}

# bench_workload SQL: run it; sets bench_end_lsn (a synchronously committed marker after it, so
# every client can reach it) and bench_wal_mb
bench_workload() {
    local start_lsn
    start_lsn=$(psql_q -c "SELECT pg_current_wal_lsn()")
    psql_q -c "$1" >/dev/null
    bench_end_lsn=$(psql_q -c "SET synchronous_commit = on" -c "BEGIN" \
        -c "CREATE TEMP TABLE bench_marker (x int) ON COMMIT DROP" -c "COMMIT" -c "SELECT pg_current_wal_flush_lsn()")
    bench_wal_mb=$(psql_q -c "SELECT round(pg_wal_lsn_diff('$bench_end_lsn', '$start_lsn') / 1048576.0, 1)")
}

# bench_check WORK CLIENT CHANGES: the client applied the whole range (D1 rows, queue events)
bench_check() {
    local dir=$1/$2/state want got
    want=$(psql_q -c "SELECT count(*) FROM bench_accounts")
    if [ "$2" = d1 ] || [ "$2" = all ]; then
        got=$(sqlite3 "$dir/d1/app.sqlite" "SELECT count(*) FROM bench_accounts")
        [ "$got" = "$want" ] || { echo "$2: $got rows in D1, expected $want" >&2; exit 1; }
    fi
    if [ "$2" = queue ] || [ "$2" = all ]; then
        got=$(cat "$dir"/queues/changes*.ndjson 2>/dev/null | wc -l)
        [ "$got" -ge "$3" ] || { echo "$2: $got queue events, expected $3" >&2; exit 1; }
    fi
}

bench_cleanup() {
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($bench_slots)" \
        -c "DROP PUBLICATION IF EXISTS bench_pub" -c "DROP TABLE IF EXISTS bench_accounts" >/dev/null
}
