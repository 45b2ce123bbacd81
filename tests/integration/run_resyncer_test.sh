#!/usr/bin/env bash
# `run`'s resyncer (daemon/resyncer): a re-copy left unfinished is resumed by `run` itself.
# 1. `wal2edge resync` is killed with SIGKILL half way; `run`, started afterwards, applies the
#    chunks already in the WAL and resumes the job after its last chunk, while a writer runs.
# 2. A re-copy asked for and not yet begun (its progress file with no chunk) is started by `run`;
#    SIGTERM stops it after the current chunk with its progress kept, and the next `run` ends it.
# After each, the embedded D1 and KV equal Postgres value by value.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=rr_slot TEST_PUBLICATION=rr_pub
DIR=$WORK/rr
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.rr_items", "d1": { "database": "app" },
        "kv": [ { "namespace": "cache", "key": "i:{id}", "value": "row" } ] }' >"$DIR/mappings/items.jsonc"
KV=$DIR/state/kv/cache.sqlite
D1=$DIR/state/d1/app.sqlite
PROGRESS=$DIR/state/resync/public.rr_items.json

psql_q -c "CREATE TABLE rr_items (id bigint PRIMARY KEY, email text)" \
    -c "CREATE PUBLICATION rr_pub FOR TABLE rr_items" \
    -c "INSERT INTO rr_items (id, email) SELECT g, md5(g::text) FROM generate_series(1, 200000) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0

drift() {   # rows missing, stale values, a row Postgres never had, in D1 and in KV
    sqlite3 "$D1" "DELETE FROM rr_items WHERE id % 5000 = 7; UPDATE rr_items SET email = 'stale' WHERE id % 7000 = 3;
                   INSERT OR REPLACE INTO rr_items (id, email) VALUES (150000, 'stale'), (-5, 'ghost');"
    sqlite3 "$KV" "DELETE FROM kv WHERE key IN ('i:7', 'i:5007'); UPDATE kv SET value = '{\"email\":\"stale\"}' WHERE key = 'i:3';"
}

converged() {   # WHAT: wait until run applied a marker written after everything, then compare
    psql_q -c "INSERT INTO rr_items (id, email) VALUES (999999, 'marker') ON CONFLICT (id) DO UPDATE SET email = 'marker2'" >/dev/null
    local want
    want=$(psql_q -c "SELECT email FROM rr_items WHERE id = 999999")
    for _ in $(seq 1 400); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT email FROM rr_items WHERE id = 999999")" = "$want" ] && break
        sleep 0.25
    done
    compare_table rr_items "$D1" "$1"
    psql_q -F '|' -c "SELECT 'i:' || id, email FROM rr_items ORDER BY 1" >"$WORK/pg_kv"
    sqlite3 -batch -noheader -separator '|' "$KV" "SELECT key, json_extract(value, '$.email') FROM kv ORDER BY 1" >"$WORK/kv_rows"
    if cmp -s "$WORK/pg_kv" "$WORK/kv_rows"; then pass "$1: KV equals Postgres ($(wc -l <"$WORK/kv_rows") keys)"; else
        fail "$1: KV differs from Postgres"; diff "$WORK/pg_kv" "$WORK/kv_rows" | head -5 >&2 || true; fi
}

wait_progress_gone() {
    for _ in $(seq 1 600); do [ ! -e "$PROGRESS" ] && return 0; sleep 0.2; done
    return 1
}

# --- 1: a `wal2edge resync` killed half way is resumed by run ---
drift
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" resync public.rr_items --chunk-rows 2000 >"$WORK/rs1.out" 2>"$WORK/rs1.err" &
rs_pid=$!
for _ in $(seq 1 600); do   # up to ~40 s: a slow (sanitizer) build starts late; the kill comes at chunk 5 all the same
    [ -f "$PROGRESS" ] && [ "$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)" -ge 5 ] && break
    sleep 0.05
done
kill -KILL "$rs_pid" 2>/dev/null || true
wait "$rs_pid" 2>/dev/null || true
chunk=$(jq -r .chunk "$PROGRESS")
[ "$chunk" -ge 1 ] && [ "$chunk" -lt 100 ] && pass "resync killed after chunk $chunk" || fail "resync not killed half way (chunk $chunk)"

writer rr_items &
writer_pid=$!
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run1.out" 2>"$WORK/run1.err" &
run_pid=$!
wait_progress_gone && pass "run finished the re-copy it found unfinished" || fail "the progress file is still there"
expect_contains "$WORK/run1.err" "resync public.rr_items: left unfinished by an earlier run: resuming it" "run says it resumes the job"
expect_contains "$WORK/run1.err" "resuming after key" "it resumes after the last chunk sent"
# (said just after the progress file goes)
for _ in $(seq 1 100); do grep -q "resync public.rr_items: every chunk sent" "$WORK/run1.err" && break; sleep 0.1; done
expect_contains "$WORK/run1.err" "resync public.rr_items: every chunk sent" "and says when every chunk is sent"
pause_writer
converged "a killed resync resumed by run under writes"

# --- 2: a queued re-copy started by run, stopped by SIGTERM after a chunk, ended by the next run ---
kill -TERM "$run_pid"
wait "$run_pid" && pass "run stopped on SIGTERM" || fail "run exit"
drift
echo '{"run": "test-queued", "after": null, "chunk": 0, "rows": 0}' >"$PROGRESS"
resume_writer
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run2.out" 2>"$WORK/run2.err" &
run_pid=$!
for _ in $(seq 1 400); do
    [ -f "$PROGRESS" ] && [ "$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)" -ge 3 ] && break
    sleep 0.05
done
kill -TERM "$run_pid"
wait "$run_pid" && pass "run stopped on SIGTERM during a re-copy" || fail "run exit during a re-copy"
chunk=$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo gone)
[ "$chunk" != gone ] && [ "$chunk" -ge 3 ] && [ "$chunk" -lt 200 ] &&
    pass "SIGTERM stopped the re-copy after chunk $chunk, its progress kept" || fail "progress after SIGTERM: $chunk"
expect_contains "$WORK/run2.err" "the next start of \`wal2edge run\` resumes it" "run says the next start resumes it"
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run3.out" 2>"$WORK/run3.err" &
run_pid=$!
wait_progress_gone && pass "the next run ended the re-copy" || fail "the progress file is still there after the next run"
expect_contains "$WORK/run3.err" "resuming after key" "the next run resumes after the last chunk"
pause_writer
converged "a re-copy stopped by SIGTERM and resumed"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM rr_items WHERE email IN ('stale', 'ghost')")" = 0 ] &&
    pass "no stale or ghost row is left" || fail "stale rows left"

touch "$WORK/stop_writer"
wait "$writer_pid" || true
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run3.err" >&2; }
psql_q -c "SELECT pg_drop_replication_slot('rr_slot')" >/dev/null
finish
