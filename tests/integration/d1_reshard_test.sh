#!/usr/bin/env bash
# Re-sharding N -> M online (docs/sharding.md, "Re-sharding"): a table sharded by id over two
# embedded D1 databases is spread over three while writers go on - the mapping gets the third
# database, `run` restarts, `wal2edge resync` re-copies the table through the stream; each database
# then holds exactly the rows the Workers library's shardFor(id, 3) gives it, equal to Postgres.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_reshard TEST_PUBLICATION=d1_reshard_pub
LIB="$WAL2EDGE_SOURCE_DIR/workers/lib/src/index.mjs"
dir="$WORK"
D1_BACKEND=embedded

psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS rsh CASCADE;
CREATE TABLE rsh (id int PRIMARY KEY, n int NOT NULL, note text);
INSERT INTO rsh SELECT g, 0, 'start' FROM generate_series(1, 600) g;
SQL
d1_drop_slot
psql_q -c "CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE rsh" >/dev/null

reshard_config() {   # reshard_config DATABASE...
    local d1="" s list=""
    for s in "$@"; do d1+="\"$s\": {},"; list+="\"$s\","; done
    mkdir -p "$dir/mappings"
    write_config "$dir/w.jsonc" "\"d1\": { ${d1%,} }, \"mappings\": [\"mappings/*.jsonc\"]"
    printf '{ "table": "public.rsh", "d1": { "database": [%s], "shard_by": ["id"] } }\n' "${list%,}" >"$dir/mappings/rsh.jsonc"
}

compare() {   # compare LABEL N
    local i
    psql_q -F $'\t' -c "SELECT id, id || '|' || n || '|' || coalesce(note, '~') FROM rsh" | node -e '
const { shardFor } = await import(process.argv[1]);
let s = ""; for await (const c of process.stdin) s += c;
for (const l of s.split("\n")) { if (!l) continue; const [id, line] = l.split("\t"); console.log(shardFor(id, Number(process.argv[2])) + "|" + line); }
' "$LIB" "$2" >"$WORK/$1.pg"
    for ((i = 0; i < $2; i++)); do
        grep "^$i|" "$WORK/$1.pg" | cut -d'|' -f2- | LC_ALL=C sort >"$WORK/$1.pg$i"
        sqlite3 -batch -noheader "$dir/state/d1/r$i.sqlite" "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM rsh" |
            LC_ALL=C sort >"$WORK/$1.d1$i"
        if [ -s "$WORK/$1.pg$i" ] && cmp -s "$WORK/$1.pg$i" "$WORK/$1.d1$i"; then
            pass "$1: r$i holds exactly its $(wc -l <"$WORK/$1.pg$i") rows of $2 databases"
        else
            fail "$1: r$i differs from its rows in Postgres (of $2 databases)"
            { diff "$WORK/$1.pg$i" "$WORK/$1.d1$i" || true; } | head -6 | sed 's/^/    | /' >&2
        fi
    done
}

writer() {   # writer TXNS
    local i
    {
        for ((i = 0; i < $1; i++)); do
            echo "UPDATE rsh SET n = n + 1, note = 'w$i' WHERE id = $((i * 7 % 600 + 1));"
            if ((i % 10 == 3)); then echo "DELETE FROM rsh WHERE id = $((i * 3 % 600 + 1));"; fi
            if ((i % 10 == 6)); then echo "INSERT INTO rsh VALUES ($((600 + i)), $i, 'new');"; fi
            if ((i % 5 == 0)); then echo "SELECT pg_sleep(0.01);"; fi
        done
    } | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1
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
run_w2e resync --config "$dir/w.jsonc" resync public.rsh --chunk-rows 100 --no-progress
expect_rc resync 0
wait $wpid
sleep 1
final=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")   # not the write position: with synchronous_commit off it can be before the last chunks
for _ in $(seq 150); do
    behind=0
    for i in 0 1 2; do
        ck=$(sqlite3 "$dir/state/d1/r$i.sqlite" "SELECT end_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'" 2>/dev/null)
        [ "$(psql_q -c "SELECT '${ck:-0/0}'::pg_lsn >= '$final'::pg_lsn")" = t ] || behind=1
    done
    [ $behind = 0 ] && break
    sleep 0.2
done
kill -TERM $run_pid; wait $run_pid && pass "run on three databases stops cleanly" || { fail "run on three databases"; tail -5 "$WORK/run3.err" >&2; }
compare three 3
d1_drop_slot
psql_q -c "DROP TABLE IF EXISTS rsh CASCADE" >/dev/null
finish
