#!/usr/bin/env bash
# `wal2edge resync TABLE`: an online re-copy of a 50,000-row table into the embedded D1 while
# `run` streams and a writer keeps inserting, updating and deleting rows of it. D1 starts out
# drifted (rows missing, stale values, rows Postgres never had); the resync is killed with
# SIGKILL half way and started again (it resumes after the last chunk it sent). Afterwards D1
# equals Postgres value by value.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=rs_slot TEST_PUBLICATION=rs_pub
DIR=$WORK/rs
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.rs_items", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "i:{id}", "value": "row" } ] }' >"$DIR/mappings/items.jsonc"
KV=$DIR/state/kv/cache.sqlite
D1=$DIR/state/d1/app.sqlite

psql_q -c "CREATE TABLE rs_items (id bigint PRIMARY KEY, v text, n int)" \
    -c "CREATE PUBLICATION rs_pub FOR TABLE rs_items" \
    -c "INSERT INTO rs_items (id, v, n) SELECT g, md5(g::text), g % 97 FROM generate_series(1, 50000) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0
# drift: rows missing, stale values, rows Postgres never had (inside and past the key range)
sqlite3 "$D1" "DELETE FROM rs_items WHERE id % 500 = 7; UPDATE rs_items SET v = 'stale' WHERE id % 700 = 3;
               INSERT INTO rs_items (id, v, n) VALUES (-5, 'ghost', 0), (70000, 'ghost', 0);" 
psql_q -c "DELETE FROM rs_items WHERE id BETWEEN 20000 AND 20010" >/dev/null   # streamed, then re-copied
sqlite3 "$D1" "INSERT OR REPLACE INTO rs_items (id, v, n) VALUES (20005, 'ghost', 0)"
# KV drifted too: keys missing, stale values, the key of a row Postgres no longer has (in the key index)
sqlite3 "$KV" "DELETE FROM kv WHERE key IN ('i:7', 'i:507'); UPDATE kv SET value = '{\"v\":\"stale\"}' WHERE key = 'i:3';
               INSERT OR REPLACE INTO kv (key, value) VALUES ('i:20005', '{\"v\":\"ghost\"}');
               INSERT OR REPLACE INTO _wal2edge_kv_rows (tbl, pk, keys) VALUES ('public.rs_items', '[\"20005\"]', '[\"i:20005\"]');"

writer() {
    local i=0
    while [ ! -e "$WORK/stop_writer" ]; do
        psql_q -c "UPDATE rs_items SET v = 'w$i', n = $i WHERE id = $(( (i * 7919) % 50000 + 1 ));
                   INSERT INTO rs_items (id, v, n) VALUES ($((100000 + i)), 'new', $i);
                   DELETE FROM rs_items WHERE id = $(( (i * 104729) % 50000 + 1 ))" >/dev/null 2>&1 || true
        i=$((i + 1))
    done
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer &
writer_pid=$!

d1_local_q() { sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "$1"; }
wait_streamed rs_items "999998, 'streaming'" "id = 999998" d1_local_q
# killed half way, then resumed
resync_killed_midway "$DIR/w.jsonc" public.rs_items 2000 8 25
run_w2e rs2 --config "$DIR/w.jsonc" resync public.rs_items --chunk-rows 2000
expect_rc rs2 0
expect_contains "$WORK/rs2.err" "resuming after key" "the second resync resumes"
expect_contains "$WORK/rs2.out" "resync public.rs_items:" "and reports what it sent"
[ ! -e "$DIR/state/resync/public.rs_items.json" ] && pass "the progress file is gone once done" || fail "progress file left"

touch "$WORK/stop_writer"
wait "$writer_pid"
psql_q -c "INSERT INTO rs_items (id, v) VALUES (999999, 'marker')" >/dev/null
for _ in $(seq 1 240); do
    [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM rs_items WHERE id = 999999")" = 1 ] && break
    sleep 0.25
done
compare_table rs_items "$D1" "after the resync under writes and a kill -9"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM rs_items WHERE v = 'ghost' OR v = 'stale'")" = 0 ] &&
    pass "no stale or ghost row is left" || fail "stale rows left"
# KV: one key per row of Postgres, its value the row
psql_q -F '|' -c "SELECT 'i:' || id, v, coalesce(n::text, '') FROM rs_items ORDER BY 1" >"$WORK/pg_kv"
sqlite3 -batch -noheader -separator '|' "$KV" "SELECT key, json_extract(value, '$.v'), coalesce(json_extract(value, '$.n'), '')
                                               FROM kv ORDER BY 1" >"$WORK/kv_rows"
if cmp -s "$WORK/pg_kv" "$WORK/kv_rows"; then pass "KV equals Postgres ($(wc -l <"$WORK/kv_rows") keys, values compared)"; else
    fail "KV differs from Postgres"; diff "$WORK/pg_kv" "$WORK/kv_rows" | head -5 >&2 || true; fi
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run.err" >&2; }

# the queue got the chunks as op "r" read events (the rows the stream changed meanwhile left out)
SPOOL=$DIR/state/queues/changes.ndjson
jq -r 'select(.op == "r") | "\(.id) \(.source.snapshot) \(.key.id)"' "$SPOOL" >"$WORK/r_events"
r_count=$(wc -l <"$WORK/r_events")
[ "$r_count" -ge 45000 ] && [ "$(cut -d' ' -f1 "$WORK/r_events" | sort -u | wc -l)" = "$r_count" ] &&
    [ "$(cut -d' ' -f2 "$WORK/r_events" | sort -u)" = true ] &&
    pass "$r_count op \"r\" events, ids unique, marked snapshot" || fail "read events: $r_count"
# replayed in stream order over an empty copy, the queue's last event per key gives Postgres' rows
jq -r 'select(.op == "r" or .op == "c" or .op == "u" or .op == "d") | [.op, (.key.id|tostring), (.after.v // ""), (.after.n // "" | tostring)] | @tsv' "$SPOOL" |
    awk -F'\t' '{ if ($1 == "d") delete row[$2]; else row[$2] = $3 "|" $4 } END { for (k in row) print k "|" row[k] }' |
    sort -t'|' -k1,1n >"$WORK/replayed"
psql_q -F '|' -c "SELECT id, v, coalesce(n::text, '') FROM rs_items WHERE id >= 1 ORDER BY id" | sort -t'|' -k1,1n >"$WORK/pg_rows"
if cmp -s "$WORK/replayed" "$WORK/pg_rows"; then pass "the queue's events replayed give Postgres' rows"; else
    fail "replayed queue events differ from Postgres"; diff "$WORK/replayed" "$WORK/pg_rows" | head -5 >&2 || true; fi

psql_q -c "SELECT pg_drop_replication_slot('rs_slot')" >/dev/null
finish
