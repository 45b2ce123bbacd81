#!/usr/bin/env bash
# `wal2edge resync TABLE` into the REST D1 (the local edge's Cloudflare API): an online re-copy of
# a 6,000-row table while `run` streams and a writer keeps inserting, updating and deleting rows
# of it. D1 starts out drifted (rows missing, stale values, rows Postgres never had); the resync
# is killed with SIGKILL half way and started again. Each chunk goes in the batch of its
# watermark's checkpoint; afterwards D1 equals Postgres value by value.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=rsr_slot TEST_PUBLICATION=rsr_pub
d1_use rest
DIR=$WORK/rsr
d1_config "$DIR" rsr_items
psql_q -c "DROP TABLE IF EXISTS rsr_items" -c "DROP PUBLICATION IF EXISTS rsr_pub" \
    -c "CREATE TABLE rsr_items (id bigint PRIMARY KEY, v text, n int)" \
    -c "CREATE PUBLICATION rsr_pub FOR TABLE rsr_items" \
    -c "INSERT INTO rsr_items (id, v, n) SELECT g, md5(g::text), g % 97 FROM generate_series(1, 6000) g" \
    -c "DELETE FROM rsr_items WHERE id = 3005" >/dev/null 2>&1   # D1's ghost 3005 below: only the resync removes it
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
# drift: rows missing, stale values, rows Postgres never had (inside and past the key range)
for sql in "DELETE FROM rsr_items WHERE id % 500 = 7" "UPDATE rsr_items SET v = 'stale' WHERE id % 700 = 3" \
    "INSERT INTO rsr_items (id, v, n) VALUES (-5, 'ghost', 0), (70000, 'ghost', 0), (3005, 'ghost', 0)"; do
    d1_exec "$sql" || fail "drifting D1: $sql"
done
[ "$(d1_q "SELECT count(*) FROM rsr_items WHERE v IN ('ghost', 'stale')")" -gt 10 ] && pass "D1 drifted" || fail "no drift"

writer() {
    local i=0
    while [ ! -e "$WORK/stop_writer" ]; do
        psql_q -c "UPDATE rsr_items SET v = 'w$i', n = $i WHERE id = $(( (i * 7919) % 6000 + 1 ));
                   INSERT INTO rsr_items (id, v, n) VALUES ($((100000 + i)), 'new', $i);
                   DELETE FROM rsr_items WHERE id = $(( (i * 104729) % 6000 + 1 ))" >/dev/null 2>&1 || true
        i=$((i + 1))
        sleep 0.02
    done
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer &
writer_pid=$!
trap 'rc=$?; touch "$WORK/stop_writer"; kill "$writer_pid" "$run_pid" 2>/dev/null || true; wait 2>/dev/null || true
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

wait_streamed rsr_items "999998, 'streaming'" "id = 999998" d1_q
# killed half way, then resumed
resync_killed_midway "$DIR/w.jsonc" public.rsr_items 100 4 60
run_w2e rs2 --config "$DIR/w.jsonc" resync public.rsr_items --chunk-rows 100
expect_rc rs2 0
expect_contains "$WORK/rs2.err" "resuming after key" "the second resync resumes"

touch "$WORK/stop_writer"
wait "$writer_pid"
psql_q -c "INSERT INTO rsr_items (id, v) VALUES (999999, 'marker')" >/dev/null
for _ in $(seq 1 240); do
    [ "$(d1_q "SELECT count(*) FROM rsr_items WHERE id = 999999")" = 1 ] && break
    sleep 0.25
done
d1_same "after the resync under writes and a kill -9" \
    "SELECT concat_ws('|', id, v, coalesce(n::text, 'NULL')) FROM rsr_items" \
    "SELECT id || '|' || v || '|' || coalesce(n, 'NULL') FROM rsr_items"
[ "$(d1_q "SELECT count(*) FROM rsr_items WHERE v IN ('ghost', 'stale')")" = 0 ] &&
    pass "no stale or ghost row is left" || fail "stale rows left"
grep -q "left out" "$WORK/run.err" && fail "a chunk was left out: $(grep -m1 "left out" "$WORK/run.err")" ||
    pass "every chunk the stream saw was applied"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run.err" >&2; }

d1_drop_slot
finish
