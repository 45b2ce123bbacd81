#!/usr/bin/env bash
# `wal2edge resync` of a large table (RESYNC_KILL_ROWS rows, default 120,000; the bench script runs
# 1,000,000, docs/resync.md) with a composite (text, bigint) key, while pgbench (2 clients) updates,
# inserts and deletes random rows of it and `run` streams into the embedded D1, KV and a queue.
# Both `resync` and `run` are killed with SIGKILL at random points several times and started again
# (resync resumes after its last chunk; run after its checkpoint, which never falls between a
# chunk's watermarks: daemon/resync_hold). Before, the targets drifted, and Postgres deleted rows
# while the table was out of the publication. Afterwards every target equals Postgres value by
# value: D1's rows, KV's keys and values, and the queue's c/u/d/r events replayed in order.
source "$(dirname "$0")/lib.sh"

ROWS=${RESYNC_KILL_ROWS:-120000}
PER=$((ROWS / 6))
CHUNK=${RESYNC_KILL_CHUNK:-$(( ROWS / 24 < 2500 ? ROWS / 24 : 2500 ))}   # at least 24 chunks to kill in
export TEST_SLOT=rkk_slot TEST_PUBLICATION=rkk_pub
DIR=$WORK/rkk
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.rkk", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "k:{tenant}:{id}", "value": "row" } ] }' >"$DIR/mappings/rkk.jsonc"
KV=$DIR/state/kv/cache.sqlite
D1=$DIR/state/d1/app.sqlite
TENANTS="'Acme', 'acme', 'acm' || chr(233), 'beta', 'Z z', 'zed'"
COLL=$(psql_q -c "SELECT 'COLLATE \"' || collname || '\"' FROM pg_collation WHERE collname = 'en-x-icu'")
psql_q -c "CREATE TABLE rkk (tenant text $COLL, id bigint, v text, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id))" \
    -c "CREATE PUBLICATION rkk_pub FOR TABLE rkk" \
    -c "INSERT INTO rkk SELECT t, g, md5(t || g), 0 FROM unnest(ARRAY[$TENANTS]) t, generate_series(1, $PER) g" \
    -c "VACUUM ANALYZE rkk" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate --no-progress
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0
# drift: Postgres deletes rows out of the publication; D1 and KV lose rows and get stale values
psql_q -c "ALTER PUBLICATION rkk_pub DROP TABLE rkk" -c "DELETE FROM rkk WHERE id % 101 = 5" \
    -c "ALTER PUBLICATION rkk_pub ADD TABLE rkk" >/dev/null
sqlite3 -cmd ".timeout 10000" "$D1" "DELETE FROM rkk WHERE id % 211 = 7; UPDATE rkk SET v = 'stale' WHERE id % 307 = 3;"
sqlite3 -cmd ".timeout 10000" "$KV" "DELETE FROM kv WHERE key LIKE 'k:beta:1%'; UPDATE kv SET value = '{\"v\":\"stale\"}' WHERE key LIKE 'k:zed:2%';"

cat >"$WORK/load.sql" <<SQL
\\set t random(1, 6)
\\set id random(1, $((PER + PER / 10)))
\\set id2 random(1, $((PER + PER / 10)))
UPDATE rkk SET v = md5(random()::text), n = n + 1 WHERE tenant = (ARRAY[$TENANTS])[:t] AND id = :id;
INSERT INTO rkk VALUES ((ARRAY[$TENANTS])[:t], :id2 + $PER, 'ins', 0) ON CONFLICT (tenant, id) DO UPDATE SET v = 'upd', n = rkk.n + 1;
DELETE FROM rkk WHERE tenant = (ARRAY[$TENANTS])[:t % 6 + 1] AND id = :id2;
SQL
"$PG_BINDIR/pgbench" -n -f "$WORK/load.sql" -c 2 -R 150 -T 900 >"$WORK/pgbench.out" 2>&1 &
load_pid=$!

start_run() { "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >>"$WORK/run.out" 2>>"$WORK/run.err" & run_pid=$!; }
start_resync() {
    "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" resync public.rkk --chunk-rows "$CHUNK" --no-progress >>"$WORK/rs.out" 2>>"$WORK/rs.err" &
    rs_pid=$!
}
alive() { kill -0 "$1" 2>/dev/null; }
start_run
# first, deterministically: run killed between a chunk's watermarks (a hand-made chunk for D1 of one
# row no one writes), the high one committed while run is down: the restarted run sees the whole
# window again and applies the chunk (it would be left out had the checkpoint passed the low one)
emit() { psql_q -c "SELECT pg_logical_emit_message(true, 'wal2edge.resync', '$1')" >/dev/null; }
HDR='"run":"probe","table":"public.rkk","chunk":1,"targets":["d1.app"],"key":["tenant","id"],"key_types":["text","integer"]'
emit "{\"phase\":\"low\",$HDR}"
sleep 1.5   # pgbench's transactions keep coming: run would flush a checkpoint past the low watermark
kill -KILL "$run_pid"; wait "$run_pid" 2>/dev/null || true
emit "{\"phase\":\"high\",$HDR,\"from\":[\"~probe\",\"0\"],\"to\":[\"~probe\",\"1\"],\"last\":false,
       \"columns\":[\"tenant\",\"id\",\"v\",\"n\"],\"rows\":[[\"~probe\",\"1\",\"probe\",\"0\"]]}"
start_run
for _ in $(seq 1 200); do
    [ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT v FROM rkk WHERE tenant = '~probe'" 2>/dev/null)" = probe ] && break
    sleep 0.1
done
[ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT v FROM rkk WHERE tenant = '~probe'" 2>/dev/null)" = probe ] &&
    pass "a chunk whose low watermark came before a kill -9 of run and its high one after is applied" ||
    fail "the chunk around run's kill was not applied: $(grep -m1 "left out" "$WORK/run.err")"
start_resync
PROGRESS=$DIR/state/resync/public.rkk.json
resync_kills=0 run_kills=1 k=0   # run_kills: the one above
# run's own resyncer resumes a resync a killed one left (its progress file), so after a kill the
# table's copy goes on in `run` or in a `wal2edge resync` started again, never in both at once
# (the second one says so and exits): done when no resync is alive and the progress file is gone
# (a start over run's resyncer was asked for keeps a .again marker until its progress file is written)
resync_done() { ! alive "$rs_pid" && [ ! -e "$PROGRESS" ] && [ ! -e "${PROGRESS%.json}.again" ]; }
# the first kill: both, a few chunks in (so what comes next resumes); then at random points until it is through
for _ in $(seq 1 400); do
    [ "$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)" -ge 3 ] && break
    sleep 0.05
done
while ! resync_done && [ "$k" -lt 40 ]; do
    k=$((k + 1))
    victim=$(( k == 1 ? 2 : RANDOM % 3 ))   # 0 resync, 1 run, 2 both
    if [ "$victim" != 1 ] && alive "$rs_pid"; then
        kill -KILL "$rs_pid" 2>/dev/null && resync_kills=$((resync_kills + 1))
        wait "$rs_pid" 2>/dev/null || true
        echo "# kill $k: resync killed after chunk $(jq -r .chunk "$PROGRESS" 2>/dev/null || echo -)"
    fi
    if [ "$victim" != 0 ]; then
        kill -KILL "$run_pid" 2>/dev/null && run_kills=$((run_kills + 1))
        wait "$run_pid" 2>/dev/null || true
        echo "# kill $k: run killed after chunk $(jq -r .chunk "$PROGRESS" 2>/dev/null || echo -)"
        start_run
    fi
    [ "$victim" != 1 ] && ! alive "$rs_pid" && start_resync
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
done
wait "$rs_pid" 2>/dev/null || true
for _ in $(seq 1 2400); do resync_done && break; sleep 0.25; done
resync_done && pass "the copy ran to its end (after $k kill rounds)" || fail "the copy did not end: $(cat "$PROGRESS")"
errors=$(grep '^wal2edge:' "$WORK/rs.err" | grep -v 'another resync of it is running' || true)
[ -z "$errors" ] && pass "every resync ended, was killed, or left the table to the one running" ||
    fail "a resync failed: $errors"
[ "$resync_kills" -ge 1 ] && [ "$run_kills" -ge 2 ] &&
    pass "killed with SIGKILL: resync $resync_kills times, run $run_kills times" ||
    fail "not killed enough: resync $resync_kills, run $run_kills"
[ ! -e "$PROGRESS" ] && pass "the progress file is gone once done" || fail "progress file left: $(cat "$PROGRESS")"
cat "$WORK/rs.err" "$WORK/run.err" | grep -q 'resuming after key \[' && pass "the copy resumed after a kill" ||
    fail "no resync resumed"

kill -TERM "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
written=$(psql_q -c "SELECT count(*) FROM rkk WHERE n > 0 OR v IN ('ins', 'upd')")
[ "$written" -gt 100 ] && pass "pgbench wrote meanwhile ($written rows updated or inserted now)" ||
    fail "pgbench wrote little: $written rows; $(tail -3 "$WORK/pgbench.out")"
psql_q -c "INSERT INTO rkk VALUES ('~marker', 1, 'marker', 0)" >/dev/null
for _ in $(seq 1 600); do
    [ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT count(*) FROM rkk WHERE tenant = '~marker'" 2>/dev/null)" = 1 ] &&
        [ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$KV" "SELECT count(*) FROM kv WHERE key = 'k:~marker:1'" 2>/dev/null)" = 1 ] && break
    sleep 0.25
done

same_rows "D1 equals Postgres, every row and value" "SELECT tenant, id, v, n FROM rkk" "$D1" "SELECT tenant, id, v, n FROM rkk"
same_rows "KV equals Postgres, every key and value" "SELECT 'k:' || tenant || ':' || id, v, n FROM rkk" \
    "$KV" "SELECT key, json_extract(value, '$.v'), json_extract(value, '$.n') FROM kv"
grep -q "left out" "$WORK/run.err" && fail "a chunk was left out: $(grep -m1 "left out" "$WORK/run.err")" ||
    pass "no chunk was left out across the kills"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run.err" >&2; }

SPOOL=$DIR/state/queues/changes.ndjson
r_events=$(jq -r 'select(.op == "r") | .id' "$SPOOL" | sort -u | wc -l)
[ "$r_events" -ge $((ROWS * 9 / 10)) ] && pass "$r_events read events" || fail "only $r_events read events"
jq -r 'select(.op == "r" or .op == "c" or .op == "u" or .op == "d") |
       [.op, .key.tenant, (.key.id | tostring), (.after.v // ""), (.after.n // "" | tostring)] | @tsv' "$SPOOL" |
    awk -F'\t' '{ k = $2 "|" $3; if ($1 == "d") delete row[k]; else row[k] = $4 "|" $5 } END { for (k in row) print k "|" row[k] }' |
    LC_ALL=C sort >"$WORK/replayed"
psql_q -F '|' -c "SELECT tenant, id, v, n FROM rkk" | LC_ALL=C sort >"$WORK/pg_rows"
if cmp -s "$WORK/replayed" "$WORK/pg_rows"; then pass "the queue's events replayed in order equal Postgres ($(wc -l <"$WORK/pg_rows") rows)"; else
    fail "the queue's replayed events differ from Postgres"; diff "$WORK/replayed" "$WORK/pg_rows" | head -5 >&2 || true; fi

psql_q -c "SELECT pg_drop_replication_slot('rkk_slot')" >/dev/null
finish
