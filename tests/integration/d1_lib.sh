# tests/integration/d1_lib.sh - helpers for the d1_*_test.sh tests (sourced after lib.sh).
#
# Each test runs its scenario against both D1 targets: the embedded file and the REST API of
# the local edge emulator. d1_use BACKEND selects one; d1_config writes a config whose d1
# target "app" is that backend; d1_q runs one SELECT returning a single text column and prints
# one line per row, the same way for both (sqlite3 CLI / POST .../raw through curl).

D1_BACKENDS=${D1_BACKENDS:-embedded rest}

d1_use() {   # d1_use embedded|rest
    D1_BACKEND=$1
    D1_DB_ID=""
    if [ "$D1_BACKEND" = rest ]; then
        use_edge
        D1_DB_ID="w2e-${TEST_NAME}-$$-$RANDOM"
        D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_DB_ID"
    fi
}

# d1_config DIR TABLE... : DIR/w.jsonc + DIR/mappings/TABLE.jsonc (public.TABLE → app.TABLE)
d1_config() {
    local dir=$1; shift
    mkdir -p "$dir/mappings"
    local d1='"app": {}' cf=''
    if [ "$D1_BACKEND" = rest ]; then
        d1="\"app\": { \"database_id\": \"$D1_DB_ID\" }"
        cf='"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}", "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },'
    fi
    write_config "$dir/w.jsonc" "$cf \"d1\": { $d1 }, \"mappings\": [\"mappings/*.jsonc\"]"
    local t
    for t in "$@"; do
        printf '{ "table": "public.%s", "d1": { "database": "app" } }\n' "$t" >"$dir/mappings/$t.jsonc"
    done
    D1_FILE="$dir/state/d1/app.sqlite"
}

d1_q() {   # d1_q SQL
    if [ "$D1_BACKEND" = embedded ]; then
        sqlite3 -batch -noheader "$D1_FILE" "$1"
    else
        jq -n --arg sql "$1" '{sql: $sql}' |
            curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
                -H 'Content-Type: application/json' --data-binary @- |
            jq -r 'if .success then .result[0].results.rows[] | .[0] | tostring
                   else "D1 ERROR: \(.errors)" end'
    fi
}

d1_exec() {   # d1_exec SQL (statements without output)
    if [ "$D1_BACKEND" = embedded ]; then
        sqlite3 -batch "$D1_FILE" "$1"
    else
        jq -n --arg sql "$1" '{sql: $sql}' |
            curl -sS -X POST "$D1_API/query" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
                -H 'Content-Type: application/json' --data-binary @- | jq -e .success >/dev/null
    fi
}

# d1_same NAME PG_SQL D1_SQL : both queries return one text column; compare the sorted lines
d1_same() {
    local name=$1
    psql_q -c "$2" | LC_ALL=C sort >"$WORK/$name.pg"
    d1_q "$3" | LC_ALL=C sort >"$WORK/$name.d1"
    if cmp -s "$WORK/$name.pg" "$WORK/$name.d1"; then
        pass "[$D1_BACKEND] $name: D1 matches Postgres ($(wc -l <"$WORK/$name.pg") rows)"
    else
        fail "[$D1_BACKEND] $name: D1 differs from Postgres"
        diff "$WORK/$name.pg" "$WORK/$name.d1" | head -20 | sed 's/^/    | /' >&2
    fi
}

# The slot and publication of this test (TEST_SLOT / TEST_PUBLICATION), recreated empty.
d1_reset_slot() {   # d1_reset_slot TABLE...
    local tables
    tables=$(IFS=,; echo "$*")
    psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT';
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE $tables;
SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput');
-- a slot made afresh starts a new history: no (table, target) pair of the old one counts as copied
DO \$\$BEGIN
    IF to_regclass('public.wal2edge_copied') IS NOT NULL THEN DELETE FROM public.wal2edge_copied WHERE slot = '$TEST_SLOT'; END IF;
END\$\$;
SQL
}

d1_drop_slot() {
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'" \
        -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
}

# Start `run` and SIGKILL it after 0.2-0.8 s, TIMES times (its stderr appended to ERRFILE).
d1_kill_runs() {   # d1_kill_runs CONFIG TIMES ERRFILE
    local k pid
    for k in $(seq 1 "$2"); do
        "$WAL2EDGE_BIN" --config "$1" run 2>>"$3" &
        pid=$!
        sleep "0.$((RANDOM % 7 + 2))"
        kill -KILL $pid 2>/dev/null || true
        wait $pid 2>/dev/null || true
    done
}
