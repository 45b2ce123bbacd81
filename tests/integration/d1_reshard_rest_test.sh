#!/usr/bin/env bash
# Re-sharding N -> M online into REST D1 (docs/sharding.md, "Re-sharding"), on a private edge
# emulator: a table sharded by id over two REST D1 databases is spread over three while writers
# go on - the mapping gets the third database, `run` restarts and streams, and `wal2edge resync`
# re-copies the table through the stream (each chunk in the /query batch of its high watermark's
# checkpoint). Each database then holds exactly the rows the Workers library's shardFor gives it
# (by id for rsh; by tenant for rsh_t, whose key is the composite (tenant, id)), equal to
# Postgres value by value, and no database holds a row that is another's. rsh_t is re-copied
# while a writer keeps updating its rows: a row the stream changes between a chunk's watermarks
# goes to its new database, and its stale copy in the old one must still be deleted (fails when
# every database records every change of the table as its own).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_reshard_rest TEST_PUBLICATION=d1_reshard_rest_pub
LIB="$WAL2EDGE_SOURCE_DIR/workers/lib/src/index.mjs"
dir="$WORK/rest"
start_consumer_edge unused
D1_BACKEND=rest
DBID="rsh-$$"

psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS rsh CASCADE;
CREATE TABLE rsh (id int PRIMARY KEY, n int NOT NULL, note text);
INSERT INTO rsh SELECT g, 0, 'start' FROM generate_series(1, 900) g;
DROP TABLE IF EXISTS rsh_t CASCADE;
CREATE TABLE rsh_t (tenant text NOT NULL, id int NOT NULL, n int NOT NULL, PRIMARY KEY (tenant, id));
INSERT INTO rsh_t SELECT 't' || (g % 37), g, 0 FROM generate_series(1, 600) g;
SQL
d1_drop_slot
psql_q -c "CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE rsh, rsh_t" >/dev/null

reshard_config() {   # reshard_config DATABASE...
    local d1="" s list=""
    for s in "$@"; do d1+="\"$s\": { \"database_id\": \"$DBID-$s\" },"; list+="\"$s\","; done
    mkdir -p "$dir/mappings"
    write_config "$dir/w.jsonc" '"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },'" \"d1\": { ${d1%,} }, \"mappings\": [\"mappings/*.jsonc\"]"
    printf '{ "table": "public.rsh", "d1": { "database": [%s], "shard_by": ["id"] } }\n' "${list%,}" >"$dir/mappings/rsh.jsonc"
    printf '{ "table": "public.rsh_t", "d1": { "database": [%s], "shard_by": ["tenant"] } }\n' "${list%,}" >"$dir/mappings/rsh_t.jsonc"
}
shard_q() {   # shard_q DATABASE SQL
    D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$DBID-$1"
    d1_q "$2"
}

compare() {   # compare LABEL N
    compare_table "$1" "$2" rsh id "id || '|' || n || '|' || coalesce(note, '~')" id
    compare_table "$1_t" "$2" rsh_t tenant "tenant || '|' || id || '|' || n" "tenant || '|' || id"
}
compare_table() {   # compare_table LABEL N TABLE SHARD_COLUMN LINE_SQL KEY_SQL
    local i j
    psql_q -F $'\t' -c "SELECT $4, $5 FROM $3" | node -e '
const { shardFor } = await import(process.argv[1]);
let s = ""; for await (const c of process.stdin) s += c;
for (const l of s.split("\n")) { if (!l) continue; const [id, line] = l.split("\t"); console.log(shardFor(id, Number(process.argv[2])) + "|" + line); }
' "$LIB" "$2" >"$WORK/$1.pg"
    for ((i = 0; i < $2; i++)); do
        grep "^$i|" "$WORK/$1.pg" | cut -d'|' -f2- | LC_ALL=C sort >"$WORK/$1.pg$i"
        shard_q "r$i" "SELECT $5 FROM $3" | LC_ALL=C sort >"$WORK/$1.d1$i"
        if [ -s "$WORK/$1.pg$i" ] && cmp -s "$WORK/$1.pg$i" "$WORK/$1.d1$i"; then
            pass "$1: r$i holds exactly its $(wc -l <"$WORK/$1.pg$i") $3 rows of $2 databases"
        else
            fail "$1: r$i differs from its $3 rows in Postgres (of $2 databases)"
            { diff "$WORK/$1.pg$i" "$WORK/$1.d1$i" || true; } | head -6 | sed 's/^/    | /' >&2
        fi
        # no database holds a row that is another's (by key alone, whatever its values)
        shard_q "r$i" "SELECT $6 FROM $3" >"$WORK/$1.ids$i"
        for ((j = 0; j < $2; j++)); do
            [ $j = $i ] && continue
            psql_q -F $'\t' -c "SELECT $4, $6 FROM $3" | node -e '
const { shardFor } = await import(process.argv[1]);
let s = ""; for await (const c of process.stdin) s += c;
for (const l of s.split("\n")) { if (!l) continue; const [k, key] = l.split("\t"); if (shardFor(k, Number(process.argv[2])) === Number(process.argv[3])) console.log(key); }
' "$LIB" "$2" "$j" | LC_ALL=C sort >"$WORK/$1.other"
            n=$(LC_ALL=C comm -12 "$WORK/$1.other" <(LC_ALL=C sort "$WORK/$1.ids$i") | wc -l)
            [ "$n" = 0 ] || fail "$1: r$i holds $n $3 rows of r$j"
        done
    done
}

writer() {   # writer TXNS
    local i
    {
        for ((i = 0; i < $1; i++)); do
            echo "UPDATE rsh SET n = n + 1, note = 'w$i' WHERE id = $((i * 7 % 900 + 1));"
            if ((i % 10 == 3)); then echo "DELETE FROM rsh WHERE id = $((i * 3 % 900 + 1));"; fi
            if ((i % 10 == 6)); then echo "INSERT INTO rsh VALUES ($((900 + i)), $i, 'new');"; fi
            echo "UPDATE rsh_t SET n = n + 1 WHERE id = $((i * 11 % 600 + 1));"
            if ((i % 10 == 4)); then echo "DELETE FROM rsh_t WHERE id = $((i * 5 % 600 + 1));"; fi
            if ((i % 10 == 8)); then echo "INSERT INTO rsh_t VALUES ('t$((i % 41))', $((600 + i)), $i);"; fi
            if ((i % 5 == 0)); then echo "SELECT pg_sleep(0.01);"; fi
        done
    } | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1
}

wait_checkpoints() {   # wait_checkpoints N: every database's checkpoint past the WAL insert position now
    local final i ck behind
    final=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    for _ in $(seq 240); do
        behind=0
        for ((i = 0; i < $1; i++)); do
            ck=$(shard_q "r$i" "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'" 2>/dev/null || true)
            [[ "$ck" =~ ^[0-9A-F]+/[0-9A-F]+$ ]] || ck=0/0
            [ "$(psql_q -c "SELECT '$ck'::pg_lsn >= '$final'::pg_lsn")" = t ] || behind=1
        done
        [ $behind = 0 ] && return 0
        sleep 0.25
    done
    return 1
}

# two databases, copied and streaming
reshard_config r0 r1
run_w2e migrate --config "$dir/w.jsonc" migrate --no-progress
expect_rc migrate 0
writer 200
run_w2e two --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc two 0
compare two 2

# three: run restarts on the new mapping while writers go on, and resync moves the rows
reshard_config r0 r1 r2
writer 400 & wpid=$!
"$WAL2EDGE_BIN" --config "$dir/w.jsonc" run 2>"$WORK/run3.err" &
run_pid=$!
# the resync once run streams (docs/sharding.md: restart run, then resync)
for _ in $(seq 120); do grep -q "streaming from slot" "$WORK/run3.err" && break; sleep 0.25; done
sleep 1
run_w2e resync --config "$dir/w.jsonc" resync public.rsh --chunk-rows 20 --no-progress
expect_rc resync 0
# rsh_t under a writer of its own: rows the stream changes between a chunk's watermarks
writer_t() {
    local i=0
    while [ ! -e "$WORK/stop_writer_t" ]; do
        echo "UPDATE rsh_t SET n = n + 1 WHERE id IN ($((i * 7 % 600 + 1)), $((i * 13 % 600 + 1)), $((i * 29 % 600 + 1)));"
        i=$((i + 1))
    done | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1
}
writer_t & wtpid=$!
run_w2e resync_t --config "$dir/w.jsonc" resync public.rsh_t --chunk-rows 20 --no-progress
expect_rc resync_t 0
touch "$WORK/stop_writer_t"
wait $wtpid || true
wait $wpid
sleep 1
wait_checkpoints 3 && pass "every database's checkpoint passed the last write" || fail "a database's checkpoint stayed behind"
grep -q "left out" "$WORK/run3.err" && fail "a chunk was left out: $(grep -m1 "left out" "$WORK/run3.err")" ||
    pass "every chunk the stream saw was applied"
kill -TERM $run_pid; wait $run_pid && pass "run on three databases stops cleanly" || { fail "run on three databases"; tail -5 "$WORK/run3.err" >&2; }
compare three 3
d1_drop_slot
psql_q -c "DROP TABLE IF EXISTS rsh, rsh_t CASCADE" >/dev/null
finish
