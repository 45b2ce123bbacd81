#!/usr/bin/env bash
# A mapping added to a running pipeline (issue 14): its table is copied into its new targets only,
# while `run` streams under writers, found on SIGHUP and at a restart, and recorded in Postgres
# (public.wal2edge_copied) so that neither a restart nor a standby-style start with an empty state
# directory copies anything again; a first start with no record copies nothing (an upgraded
# pipeline); a broken config on SIGHUP is logged and the run goes on. Embedded D1, KV and queue.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=nm_slot TEST_PUBLICATION=nm_pub
DIR=$WORK/nm
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"],
  "run": {"flush_interval_ms": 50, "resync_chunk_rows": 200}'
echo '{ "table": "public.nm_old", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "o:{id}", "value": "row" } ] }' >"$DIR/mappings/old.jsonc"
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
SPOOL=$DIR/state/queues/changes.ndjson

psql_q -c "CREATE TABLE nm_old (id bigint PRIMARY KEY, email text)" \
    -c "INSERT INTO nm_old SELECT g, 'u' || g || '@x' FROM generate_series(1, 50) g" \
    -c "CREATE TABLE nm_new (id bigint PRIMARY KEY, v text, n int)" \
    -c "INSERT INTO nm_new SELECT g, md5(g::text), g % 97 FROM generate_series(1, 30000) g" \
    -c "CREATE PUBLICATION nm_pub FOR TABLE nm_old" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0

start_run() {   # start_run LOG
    "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/$1.out" 2>"$WORK/$1.err" &
    run_pid=$!
}
wait_log() {   # wait_log LOG TEXT [TRIES of 0.25 s]
    local _
    for _ in $(seq 1 "${3:-240}"); do grep -q -- "$2" "$WORK/$1.err" && return 0; sleep 0.25; done
    return 1
}
stop_run() {
    kill -TERM "$run_pid"
    wait "$run_pid" && pass "run stopped cleanly ($1)" || { fail "run exit ($1)"; tail -5 "$WORK/$1.err" >&2; }
}
# every change of nm_old streamed so far is in D1: a marker row arrives
marker() {   # marker ID
    psql_q -c "INSERT INTO nm_old (id, email) VALUES ($1, 'marker') ON CONFLICT (id) DO UPDATE SET email = 'marker$1'" >/dev/null
    local _
    for _ in $(seq 1 240); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM nm_old WHERE id = $1 AND email LIKE 'marker%'")" = 1 ] &&
            return 0
        sleep 0.25
    done
    return 1
}
new_writer() {   # updates, inserts and deletes rows of nm_new (not mapped yet, then copied)
    local i=0
    while [ -d "$WORK" ] && [ ! -e "$WORK/stop_new_writer" ]; do
        psql_q -c "UPDATE nm_new SET v = 'w$i', n = $i WHERE id = $(( (i * 7919) % 30000 + 1 ));
                   INSERT INTO nm_new (id, v, n) VALUES ($((100000 + i)), 'new', $i);
                   DELETE FROM nm_new WHERE id = $(( (i * 104729) % 30000 + 1 ))" >/dev/null 2>&1 || true
        i=$((i + 1))
    done
}
compare_kv() {   # compare_kv TABLE PREFIX WHAT: KV has one key per row of TABLE, its value the row
    psql_q -F '|' -c "SELECT '$2' || id, v, coalesce(n::text, '') FROM $1 ORDER BY 1" >"$WORK/pg_kv"
    sqlite3 -batch -noheader -separator '|' "$KV" "SELECT key, json_extract(value, '$.v'), coalesce(json_extract(value, '$.n'), '')
                                                   FROM kv WHERE key LIKE '$2%' ORDER BY 1" >"$WORK/kv_rows"
    if cmp -s "$WORK/pg_kv" "$WORK/kv_rows"; then pass "$3: KV equals Postgres ($(wc -l <"$WORK/kv_rows") keys)"; else
        fail "$3: KV differs from Postgres"; diff "$WORK/pg_kv" "$WORK/kv_rows" | head -5 >&2 || true; fi
}
queue_ids_unique() {   # no event delivered twice (a replay after a reload or restart would repeat ids)
    local n u
    n=$(jq -r '.id' "$SPOOL" | wc -l)
    u=$(jq -r '.id' "$SPOOL" | sort -u | wc -l)
    [ "$n" = "$u" ] && [ "$n" -gt 0 ] && pass "$1: $n queue events, none delivered twice" || fail "$1: queue events $n, unique $u"
}
r_events() { jq -r 'select(.op == "r") | "\(.source.schema).\(.source.table)"' "$SPOOL" | grep -c "^$1\$" || true; }

# ---- 1. the first start with the record: what is mapped counts as copied (nothing copied again)
start_run run1
wait_log run1 "streaming from slot" || fail "run1 did not stream"
expect_contains "$WORK/run1.err" "(3 now mapped, taken as copied)" "the first start begins the record with what is mapped"
[ "$(psql_q -c "SELECT count(*) FROM wal2edge_copied WHERE slot = 'nm_slot' AND target <> ''")" = 3 ] &&
    pass "the record in Postgres holds the 3 pairs mapped" || fail "record: $(psql_q -c "TABLE wal2edge_copied")"
expect_not_contains "$WORK/run1.err" "a new mapping of" "nothing is copied again at the first start"
writer nm_old &
old_writer_pid=$!
new_writer &
new_writer_pid=$!
sleep 1

# ---- 2. a new mapping file, then SIGHUP: nm_new is copied into D1 and KV (not the queue)
echo '{ "table": "public.nm_new", "d1": { "database": "app" },
        "kv": [ { "namespace": "cache", "key": "n:{id}", "value": "row" } ] }' >"$DIR/mappings/new.jsonc"
kill -HUP "$run_pid"
wait_log run1 "reloading the config" || fail "SIGHUP did not reload"
# status --json shows the copy while it runs
seen=0
for _ in $(seq 1 200); do
    "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" status --json >"$WORK/status.json" 2>/dev/null || true
    if jq -e '.resyncs[]? | select(.table == "public.nm_new" and .rows > 0 and .why == "new mapping" and
              .state == "copying" and (.targets | index("d1.app")) and (.targets | index("kv.cache")))' \
        "$WORK/status.json" >/dev/null 2>&1; then
        seen=1
        break
    fi
    grep -q "every chunk of the new mapping's copy is sent" "$WORK/run1.err" && break
    sleep 0.1
done
[ "$seen" = 1 ] && pass "status --json shows the copy while it runs ($(jq -c '.resyncs[0] | {table, targets, state, rows, chunks, why}' "$WORK/status.json"))" ||
    fail "status --json never showed the copy: $(cat "$WORK/status.json")"
wait_log run1 "public.nm_new: every chunk of the new mapping's copy is sent" || fail "the copy did not end"
expect_contains "$WORK/run1.err" "added public.nm_new to publication" "the new table joins the publication"
expect_contains "$WORK/run1.err" "d1.app: a new mapping of public.nm_new" "the new D1 pair is found"
expect_contains "$WORK/run1.err" "kv.cache: a new mapping of public.nm_new" "the new KV pair is found"
expect_not_contains "$WORK/run1.err" "queues.changes: a new mapping" "the queue is not a new target"
touch "$WORK/stop_writer" "$WORK/stop_new_writer"
wait "$old_writer_pid" "$new_writer_pid" || true
psql_q -c "INSERT INTO nm_new (id, v, n) VALUES (999999, 'marker', 0)" >/dev/null
marker 999001 || fail "run stopped streaming after the reload"
for _ in $(seq 1 240); do
    [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM nm_new WHERE id = 999999" 2>/dev/null)" = 1 ] && break
    sleep 0.25
done
compare_table nm_new "$D1" "the new mapping after SIGHUP, under writers"
compare_table nm_old "$D1" "the mapping that was there"
compare_kv nm_new "n:" "the new mapping after SIGHUP"
[ "$(r_events public.nm_new)" = 0 ] && [ "$(r_events public.nm_old)" = 0 ] &&
    pass "the queue got no read events (not a new target)" || fail "read events in the queue"
queue_ids_unique "after SIGHUP"

# ---- 3. a new target section on that mapping, SIGHUP: the queue only gets nm_new's rows, once
rows_new=$(psql_q -c "SELECT count(*) FROM nm_new")
echo '{ "table": "public.nm_new", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "n:{id}", "value": "row" } ] }' >"$DIR/mappings/new.jsonc"
kill -HUP "$run_pid"
for _ in $(seq 1 240); do
    [ "$(grep -c "public.nm_new: every chunk of the new mapping's copy is sent" "$WORK/run1.err")" = 2 ] && break
    sleep 0.25
done
marker 999002 || fail "run stopped streaming after the second reload"
for _ in $(seq 1 240); do [ "$(r_events public.nm_new)" -ge "$rows_new" ] && break; sleep 0.25; done
[ "$(r_events public.nm_new)" = "$rows_new" ] && pass "the new queue pair got each of the $rows_new rows once as op r" ||
    fail "queue read events: $(r_events public.nm_new) of $rows_new"
[ "$(grep -c "a new mapping of public.nm_new" "$WORK/run1.err")" = 3 ] &&
    expect_contains "$WORK/run1.err" "queues.changes: a new mapping of public.nm_new" "only the queue is new the second time" ||
    fail "pairs found: $(grep "a new mapping of" "$WORK/run1.err")"
queue_ids_unique "after the second SIGHUP"

# ---- 3b. a new KV namespace in the config and on that mapping: only it gets the copy (the queue,
# which has the table now, gets no read event again; D1 and kv.cache are not asked for it)
sed -i 's/"kv": {"cache": {}}/"kv": {"cache": {}, "cache2": {}}/' "$DIR/w.jsonc"
echo '{ "table": "public.nm_new", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "n:{id}", "value": "row" },
                { "namespace": "cache2", "key": "m:{id}", "value": "row" } ] }' >"$DIR/mappings/new.jsonc"
kill -HUP "$run_pid"
for _ in $(seq 1 240); do
    [ "$(grep -c "public.nm_new: every chunk of the new mapping's copy is sent" "$WORK/run1.err")" = 3 ] && break
    sleep 0.25
done
marker 999006 || fail "run stopped streaming after the third reload"
KV=$DIR/state/kv/cache2.sqlite compare_kv nm_new "m:" "a new KV namespace on the mapping"
[ "$(r_events public.nm_new)" = "$rows_new" ] && pass "the queue got no read event again ($rows_new)" ||
    fail "the queue got read events again: $(r_events public.nm_new) for $rows_new rows"
[ "$(grep -c "a new mapping of public.nm_new" "$WORK/run1.err")" = 4 ] &&
    expect_contains "$WORK/run1.err" "kv.cache2: a new mapping of public.nm_new" "only kv.cache2 is new the third time" ||
    fail "pairs found: $(grep "a new mapping of" "$WORK/run1.err")"

# ---- 4. a broken config on SIGHUP: logged, the run goes on with the one it has
echo '{ "table": "public.nm_missing", "d1": { "database": "app" } }' >"$DIR/mappings/bad.jsonc"
kill -HUP "$run_pid"
wait_log run1 "reloading the config (SIGHUP): " || fail "the broken config is not logged"
expect_contains "$WORK/run1.err" "the run goes on with the config it has" "a broken config keeps the old one"
marker 999003 && pass "run streams on after the broken config" || fail "run stopped after the broken config"
kill -0 "$run_pid" && pass "run is still running" || fail "run died on a broken config"
rm -f "$DIR/mappings/bad.jsonc"
stop_run run1

# ---- 5. a table created and mapped while run is stopped: copied at the restart
psql_q -c "CREATE TABLE nm_third (id int PRIMARY KEY, v text, n int)"     -c "INSERT INTO nm_third SELECT g, 'third' || g, g FROM generate_series(1, 5000) g" >/dev/null
echo '{ "table": "public.nm_third", "d1": { "database": "app" } }' >"$DIR/mappings/third.jsonc"
start_run run2
wait_log run2 "public.nm_third: every chunk of the new mapping's copy is sent" || fail "restart did not copy nm_third"
psql_q -c "UPDATE nm_third SET v = 'after' WHERE id = 7" >/dev/null
marker 999004 || fail "run2 does not stream"
for _ in $(seq 1 240); do
    [ "$(sqlite3 -batch -noheader "$D1" "SELECT v FROM nm_third WHERE id = 7" 2>/dev/null)" = after ] && break
    sleep 0.25
done
compare_table nm_third "$D1" "a table created and mapped while run was stopped"
[ "$(grep -c "a new mapping of" "$WORK/run2.err")" = 1 ] && pass "the restart copied only the new pair" ||
    fail "restart pairs: $(grep "a new mapping of" "$WORK/run2.err")"
stop_run run2

# ---- 6. a standby-style start: the state directory empty but for the targets' own files
r_before=$(jq -r 'select(.op == "r")' "$SPOOL" | wc -l)
find "$DIR/state" -mindepth 1 -maxdepth 1 ! -name d1 ! -name kv ! -name queues -exec rm -rf {} +
start_run run3
wait_log run3 "streaming from slot" || fail "run3 did not stream"
marker 999005 || fail "run3 does not stream"
expect_not_contains "$WORK/run3.err" "a new mapping of" "an empty state directory copies nothing again"
expect_not_contains "$WORK/run3.err" "taken as copied" "the record in Postgres is found"
[ "$(jq -r 'select(.op == "r")' "$SPOOL" | wc -l)" = "$r_before" ] && pass "no read event sent again" || fail "read events sent again"
queue_ids_unique "after the standby-style start"
stop_run run3

# ---- 7. kill -9 in the middle of a new mapping's copy: the next start resumes it into the new
# target only (the queue, which has the table, gets no read event again), and records it
r_before=$(r_events public.nm_new)
sed -i 's/"kv": {"cache": {}, "cache2": {}}/"kv": {"cache": {}, "cache2": {}, "cache3": {}}/' "$DIR/w.jsonc"
echo '{ "table": "public.nm_new", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "n:{id}", "value": "row" },
                { "namespace": "cache2", "key": "m:{id}", "value": "row" },
                { "namespace": "cache3", "key": "k:{id}", "value": "row" } ] }' >"$DIR/mappings/new.jsonc"
PROGRESS=$DIR/state/resync/public.nm_new.json
start_run run4
for _ in $(seq 1 1500); do   # up to ~40 s: a slow (sanitizer) build starts late; the kill comes at chunk 5 all the same
    [ "$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)" -ge 5 ] && break
    sleep 0.02
done
kill -KILL "$run_pid"
wait "$run_pid" 2>/dev/null || true
chunk=$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo gone)
[ "$chunk" != gone ] && [ "$chunk" -ge 1 ] && [ "$(jq -c .targets "$PROGRESS")" = '["kv.cache3"]' ] &&
    pass "run killed in the copy after chunk $chunk, its progress names kv.cache3 only" || fail "progress after kill -9: $chunk"
start_run run5
wait_log run5 "public.nm_new: every chunk of the new mapping's copy is sent" || fail "the copy did not end after kill -9"
expect_contains "$WORK/run5.err" "resuming after key" "the copy resumes after its last chunk"
marker 999007 || fail "run5 does not stream"
KV=$DIR/state/kv/cache3.sqlite compare_kv nm_new "k:" "a copy killed half way and resumed"
[ "$(r_events public.nm_new)" = "$r_before" ] && pass "the queue got no read event again" ||
    fail "the queue got read events again: $(r_events public.nm_new), before $r_before"
[ "$(psql_q -c "SELECT count(*) FROM wal2edge_copied WHERE target = 'kv.cache3'")" = 1 ] &&
    pass "the resumed copy is recorded" || fail "kv.cache3 not recorded"
stop_run run5

psql_q -c "SELECT pg_drop_replication_slot('nm_slot')" >/dev/null
finish
