#!/usr/bin/env bash
# A `wal2edge resync` killed with SIGKILL while its chunk statement runs leaves that statement
# running in the server (it notices the client is gone only once it finishes), so the chunk's
# high watermark can still commit. The resync started again resumes at the same chunk: before,
# it sent that chunk's low watermark at once, the dead copy's high watermark came after it and
# closed the new window with rows read before changes that window never saw (stale rows), and the
# new copy's own high watermark was then "left out" (seen in the 1,000,000-row kill test). Now the
# new copy waits for the old connection (a session lock in the source), and a high watermark of
# another attempt at a chunk is ignored. Made deterministic here by a session that holds the table
# locked, so the killed copy's statement waits in the server.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=rlg_slot TEST_PUBLICATION=rlg_pub
DIR=$WORK/rlg
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.rlg", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "r:{id}", "value": "row" } ] }' \
    >"$DIR/mappings/rlg.jsonc"
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
psql_q -c "CREATE TABLE rlg (id bigint PRIMARY KEY, v text)" -c "CREATE PUBLICATION rlg_pub FOR TABLE rlg" \
    -c "INSERT INTO rlg SELECT g, 'v' || g FROM generate_series(1, 3000) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate --no-progress
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0
# drift for the copy to repair
sqlite3 -cmd ".timeout 10000" "$D1" "UPDATE rlg SET v = 'stale' WHERE id % 10 = 0; DELETE FROM rlg WHERE id % 97 = 1"

# a session holds the table: a chunk's statement waits for it, in the server
# (held 10 s: the copy, killed, and the one started again must both reach the server meanwhile,
# two starts of a slow sanitizer build)
psql_q -c "BEGIN" -c "LOCK TABLE rlg IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(10)" \
    -c "UPDATE rlg SET v = 'changed while held' WHERE id IN (5, 1500)" -c "COMMIT" >/dev/null &
holder=$!
# the lock taken before the copy starts (not after a fixed delay: the holder's psql may start late)
for _ in $(seq 1 200); do
    [ "$(psql_q -c "SELECT count(*) FROM pg_locks WHERE relation = 'rlg'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
    sleep 0.05
done
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" resync public.rlg --chunk-rows 2000 --no-progress >"$WORK/a.out" 2>"$WORK/a.err" &
first=$!
waiting() {   # the copy's chunk statement waits for the table's lock in the server
    [ "$(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wal2edge resync' AND
                    wait_event_type = 'Lock' AND query LIKE '%pg_logical_emit_message%'")" -ge 1 ]
}
for _ in $(seq 1 100); do waiting && break; sleep 0.05; done
waiting && pass "the first copy sent its low watermark and its chunk waits in the server" ||
    fail "the first copy's chunk is not waiting: $(cat "$WORK/a.err")"
kill -KILL "$first"; wait "$first" 2>/dev/null || true
waiting && pass "killed with SIGKILL, its statement goes on in the server" || fail "the killed copy's statement ended"

# started again at once: it resumes at the same chunk
run_w2e again --config "$DIR/w.jsonc" resync public.rlg --chunk-rows 2000 --no-progress
expect_rc again 0
grep -q "waiting up to 30 s for backend pid" "$WORK/again.err" &&
    pass "the copy started again waited for the killed one's connection" ||
    fail "it did not wait: $(cat "$WORK/again.err")"
wait "$holder"

# the stream applies both copies' watermarks in WAL order
psql_q -c "INSERT INTO rlg VALUES (999999, 'marker')" >/dev/null
run_w2e run --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run 0
if grep -q "left out" "$WORK/run.err"; then fail "a chunk was left out: $(grep -m1 'left out' "$WORK/run.err")"; else
    pass "no chunk was left out"; fi

same_rows "D1 equals Postgres" "SELECT id, v FROM rlg" "$D1" "SELECT id, v FROM rlg"
same_rows "KV equals Postgres" "SELECT 'r:' || id, v FROM rlg" "$KV" "SELECT key, json_extract(value, '$.v') FROM kv"

psql_q -c "SELECT pg_drop_replication_slot('rlg_slot')" >/dev/null
finish
