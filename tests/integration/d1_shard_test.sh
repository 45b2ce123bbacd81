#!/usr/bin/env bash
# Sharded D1 (docs/sharding.md), on the embedded files and on REST D1 of the local edge: a table
# spread over three databases by tenant. `migrate` copies each database's rows only; `run` then
# streams inserts, updates (some moving a row to another tenant, so another database), deletes
# and one-tenant transactions, and is killed with SIGKILL at random moments under writers. Each
# database must then hold exactly the rows whose tenant the Workers library's shardFor (the
# JavaScript twin of wal2edge's shard function) sends there, equal to Postgres value by value;
# no insert of the append-only table is applied twice; every database keeps its own checkpoint,
# moved by transactions that touched none of its rows too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_shard TEST_PUBLICATION=d1_shard_pub
SHARDS=(s0 s1 s2)
LIB="$WAL2EDGE_SOURCE_DIR/workers/lib/src/index.mjs"

setup_tables() {
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS shd_acct, shd_ev CASCADE;
CREATE TABLE shd_acct (tenant text NOT NULL, id int NOT NULL, n int NOT NULL, note text, PRIMARY KEY (tenant, id));
CREATE TABLE shd_ev (tenant text NOT NULL, id bigserial, w int NOT NULL, PRIMARY KEY (tenant, id));
INSERT INTO shd_acct SELECT 't' || (g % 12), g, 0, 'start' FROM generate_series(0, 299) g;
INSERT INTO shd_ev (tenant, w) SELECT 't' || (g % 12), 0 FROM generate_series(1, 200) g;
SQL
}

# DIR/w.jsonc: databases s0, s1, s2 (embedded files, or REST databases ID_PREFIX-sN)
shard_config() {   # shard_config DIR
    local dir=$1 d1="" cf="" s
    mkdir -p "$dir/mappings"
    for s in "${SHARDS[@]}"; do
        if [ "$D1_BACKEND" = rest ]; then d1+="\"$s\": { \"database_id\": \"$D1_DB_ID-$s\" },"; else d1+="\"$s\": {},"; fi
    done
    [ "$D1_BACKEND" = rest ] &&
        cf='"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}", "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },'
    write_config "$dir/w.jsonc" "$cf \"run\": { \"fence_interval_ms\": 200 }, \"d1\": { ${d1%,} }, \"mappings\": [\"mappings/*.jsonc\"]"
    for t in shd_acct shd_ev; do
        printf '{ "table": "public.%s",\n  "d1": { "database": ["s0", "s1", "s2"], "shard_by": ["tenant"] } }\n' $t \
            >"$dir/mappings/$t.jsonc"
    done
}

shard_q() {   # shard_q SHARD SQL
    if [ "$D1_BACKEND" = embedded ]; then D1_FILE="$dir/state/d1/$1.sqlite"; else
        D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_DB_ID-$1"; fi
    d1_q "$2"
}
shard_exec() {   # shard_exec SHARD SQL
    if [ "$D1_BACKEND" = embedded ]; then D1_FILE="$dir/state/d1/$1.sqlite"; else
        D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_DB_ID-$1"; fi
    d1_exec "$2"
}

# Postgres rows "shard|line" with the shard computed by the Workers library from the tenant.
pg_rows_by_shard() {   # pg_rows_by_shard SQL (selecting tenant, line)
    psql_q -F $'\t' -c "$1" | node -e '
const { shardFor } = await import(process.argv[1]);
let s = ""; for await (const c of process.stdin) s += c;
for (const l of s.split("\n")) { if (!l) continue; const [t, line] = l.split("\t"); console.log(shardFor(t, 3) + "|" + line); }
' "$LIB"
}

compare() {   # compare LABEL
    local s i table sql
    for table in acct ev; do
        [ $table = acct ] && sql="tenant || '|' || id || '|' || n || '|' || coalesce(note, '~')" ||
            sql="tenant || '|' || id || '|' || w"
        pg_rows_by_shard "SELECT tenant, $sql FROM shd_$table" >"$WORK/$1_$table.pg"
        [ "$(wc -l <"$WORK/$1_$table.pg")" -gt 100 ] || fail "[$D1_BACKEND] $1: too few shd_$table rows in Postgres"
        for i in 0 1 2; do
            grep "^$i|" "$WORK/$1_$table.pg" | cut -d'|' -f2- | LC_ALL=C sort >"$WORK/$1_$table.pg$i"
            shard_q "s$i" "SELECT $sql FROM shd_$table" | LC_ALL=C sort >"$WORK/$1_$table.d1$i"
            if [ -s "$WORK/$1_$table.pg$i" ] && cmp -s "$WORK/$1_$table.pg$i" "$WORK/$1_$table.d1$i"; then
                pass "[$D1_BACKEND] $1: shard s$i holds exactly its $(wc -l <"$WORK/$1_$table.pg$i") shd_$table rows"
            else
                fail "[$D1_BACKEND] $1: shard s$i differs from its shd_$table rows in Postgres"
                { diff "$WORK/$1_$table.pg$i" "$WORK/$1_$table.d1$i" || true; } | head -10 | sed "s/^/    | /" >&2
            fi
        done
    done
    local dups=0
    for s in "${SHARDS[@]}"; do dups=$((dups + $(shard_q "$s" "SELECT count(*) FROM shd_dup"))); done
    [ "$dups" = 0 ] && pass "[$D1_BACKEND] $1: no insert applied twice" || fail "[$D1_BACKEND] $1: $dups inserts applied twice"
}

writer() {   # writer W TXNS: inserts, updates in place, tenant changes (a row moves database), deletes
    local w=$1 n=$2 i id
    {
        for ((i = 0; i < n; i++)); do
            id=$(((i * 7 + w * 31) % 300))
            echo "BEGIN; INSERT INTO shd_ev (tenant, w) VALUES ('t$(((i + w) % 12))', $w);"
            echo "UPDATE shd_acct SET n = n + 1, note = 'w$w-$i' WHERE id = $id;"
            if ((i % 4 == 1)); then echo "UPDATE shd_acct SET tenant = 't$(((i * 5 + w) % 12))' WHERE id = $(((id + 1) % 300));"; fi
            if ((i % 10 == 5)); then
                echo "DELETE FROM shd_acct WHERE id = $(((id + 2) % 300));"
                echo "INSERT INTO shd_acct SELECT 't$((i % 12))', $(((id + 2) % 300)), $i, 'again' WHERE NOT EXISTS (SELECT 1 FROM shd_acct WHERE id = $(((id + 2) % 300)));"
            fi
            echo "COMMIT;"
            if ((i % 3 == 0)); then echo "SELECT pg_sleep(0.01);"; fi
        done
    } | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1
}

for backend in $D1_BACKENDS; do
    d1_use "$backend"
    dir="$WORK/$backend"
    setup_tables
    d1_drop_slot
    psql_q -c "CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE shd_acct, shd_ev" >/dev/null
    shard_config "$dir"

    # 1. plan: one DDL per database; migrate: each database gets its own rows
    run_w2e "plan_$backend" --config "$dir/w.jsonc" plan
    expect_rc "plan_$backend" 0
    [ "$(grep -c '^CREATE TABLE IF NOT EXISTS "shd_acct"' "$WORK/plan_$backend.out")" = 3 ] &&
        pass "[$backend] plan: the table's DDL for each of the 3 databases" || fail "[$backend] plan: DDL per database"
    # plan's predicted share of each database = the share shardFor gives the rows (a table this small is read whole)
    pg_rows_by_shard "SELECT tenant, id FROM shd_acct" | cut -d'|' -f1 | sort | uniq -c >"$WORK/share.txt"
    for i in 0 1 2; do
        want=$(awk -v i=$i '$2 == i { printf "%.1f%%", 100 * $1 / 300 }' "$WORK/share.txt")
        expect_contains "$WORK/plan_$backend.out" "--   s$i: $want of the rows" "[$backend] plan predicts s$i's share ($want)"
    done
    expect_contains "$WORK/plan_$backend.out" "-- sharded tables per D1 database (D1 holds at most 10 GB each):"
    run_w2e "migrate_$backend" --config "$dir/w.jsonc" migrate --no-progress
    expect_rc "migrate_$backend" 0
    [ "$(grep -c ': ok$' "$WORK/migrate_$backend.out")" = 6 ] &&
        pass "[$backend] migrate verified 2 tables x 3 databases" || fail "[$backend] migrate verification lines"
    for s in "${SHARDS[@]}"; do
        shard_exec "$s" "CREATE TABLE shd_dup (id INTEGER); CREATE TRIGGER shd_ev_dup AFTER UPDATE ON shd_ev BEGIN INSERT INTO shd_dup VALUES (new.id); END;"
    done
    compare migrated

    # 2. run streams while two writers go, then SIGKILL at random moments while two more write
    "$WAL2EDGE_BIN" --config "$dir/w.jsonc" run 2>"$WORK/stream_$backend.err" &
    run_pid=$!
    writer 1 150 & w1=$!
    writer 2 150 & w2=$!
    wait $w1 $w2
    sleep 1
    kill -TERM $run_pid
    wait $run_pid && pass "[$backend] streaming run stops cleanly" || { fail "[$backend] streaming run"; tail -5 "$WORK/stream_$backend.err" >&2; }
    writer 3 300 & w1=$!
    writer 4 300 & w2=$!
    d1_kill_runs "$dir/w.jsonc" 6 "$WORK/kill_$backend.err"
    wait $w1 $w2
    run_w2e "catchup_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "catchup_$backend" 0
    compare killed
    moved=$(psql_q -c "SELECT count(*) FROM shd_acct WHERE tenant <> 't' || (id % 12)")
    [ "$moved" -gt 10 ] && pass "[$backend] $moved rows changed tenant" || fail "[$backend] only $moved rows changed tenant"

    # 3. a transaction of one tenant moves every database's checkpoint, each in its own database
    # (the others' by a checkpoint alone, at the fence interval; 200 ms here)
    before=$(psql_q -c "SELECT pg_current_wal_lsn()")
    psql_q -c "UPDATE shd_acct SET n = n + 1 WHERE tenant = 't1' AND id = (SELECT min(id) FROM shd_acct WHERE tenant = 't1')" >/dev/null
    "$WAL2EDGE_BIN" --config "$dir/w.jsonc" run 2>"$WORK/last_$backend.err" &
    run_pid=$!
    for _ in $(seq 100); do
        behind=0
        for s in "${SHARDS[@]}"; do
            ck=$(shard_q "$s" "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
            [ "$(psql_q -c "SELECT '${ck:-0/0}'::pg_lsn > '$before'::pg_lsn")" = t ] || behind=1
        done
        [ $behind = 0 ] && break
        sleep 0.2
    done
    kill -TERM $run_pid; wait $run_pid || fail "[$backend] last run"
    for s in "${SHARDS[@]}"; do
        ck=$(shard_q "$s" "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
        [ -n "$ck" ] && [ "$(psql_q -c "SELECT '$ck'::pg_lsn > '$before'::pg_lsn")" = t ] &&
            pass "[$backend] $s: its own checkpoint $ck moved past the last transaction's start $before" ||
            fail "[$backend] $s: checkpoint '$ck' did not move past the last transaction's start $before"
    done
    compare last
    d1_drop_slot
done
psql_q -c "DROP TABLE IF EXISTS shd_acct, shd_ev CASCADE" >/dev/null
finish
