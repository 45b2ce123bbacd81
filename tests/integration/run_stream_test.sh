#!/usr/bin/env bash
# Streamed in-progress transactions (a rolled-back savepoint, an aborted transaction,
# interleaving), two-phase commit (committed, rolled back, across a restart), and a
# 1,000,000-row transaction delivered once with bounded memory.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=run_stream TEST_PUBLICATION=run_stream_pub
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'run_stream'" >/dev/null
psql_q -c "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'w2e_%'" | while read -r g; do psql_q -c "ROLLBACK PREPARED '$g'"; done
psql_q <<'SQL' >/dev/null
DROP PUBLICATION IF EXISTS run_stream_pub;
DROP TABLE IF EXISTS rs_t;
CREATE TABLE rs_t (id bigserial PRIMARY KEY, txn int NOT NULL, pad text);
CREATE PUBLICATION run_stream_pub FOR TABLE rs_t;
SQL
# A small logical_decoding_work_mem for our walsender only, so that transactions stream.
export DATABASE_URL="$DATABASE_URL?options=-c%20logical_decoding_work_mem%3D64kB"
log="$WORK/changes.ndjson"
write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$log\"}"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0

pad="repeat('p', 100)"
psql_q <<SQL >/dev/null
-- 1: a streamed transaction with a rolled-back savepoint
BEGIN;
INSERT INTO rs_t (txn, pad) SELECT 1, $pad FROM generate_series(1, 5000);
SAVEPOINT s1;
INSERT INTO rs_t (txn, pad) SELECT -1, $pad FROM generate_series(1, 3000);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO rs_t (txn, pad) SELECT 1, $pad FROM generate_series(1, 1000);
COMMIT;
-- 2: a streamed transaction that aborts
BEGIN;
INSERT INTO rs_t (txn, pad) SELECT -2, $pad FROM generate_series(1, 5000);
ROLLBACK;
SQL
# 3 and 4: a large transaction interleaved with small ones from another session
psql_q -c "BEGIN; INSERT INTO rs_t (txn, pad) SELECT 3, $pad FROM generate_series(1, 3000); SELECT pg_sleep(1.5); INSERT INTO rs_t (txn, pad) SELECT 3, $pad FROM generate_series(1, 3000); COMMIT;" >/dev/null &
# the small ones while the large one sleeps half way (not after a fixed delay: its psql may start late)
for _ in $(seq 1 100); do
    [ "$(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")" -ge 1 ] && break
    sleep 0.05
done
for i in $(seq 1 10); do psql_q -c "INSERT INTO rs_t (txn, pad) VALUES (4, 'small $i')" >/dev/null; done
wait
# 5 and 6: two-phase, prepared now, decided after a restart of wal2edge
psql_q <<SQL >/dev/null
BEGIN; INSERT INTO rs_t (txn, pad) SELECT 5, $pad FROM generate_series(1, 100); PREPARE TRANSACTION 'w2e_g1';
BEGIN; INSERT INTO rs_t (txn, pad) SELECT -6, $pad FROM generate_series(1, 100); PREPARE TRANSACTION 'w2e_g2';
SQL

run_w2e run1 --log-format json --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run1 0
rows() { grep -c "\"txn\":\"$1\"" "$log" || true; }
[ "$(rows 1)" = 6000 ] && pass "streamed transaction delivered without its rolled-back savepoint" || fail "txn 1 rows: $(rows 1)"
[ "$(rows -1)" = 0 ] && pass "rows of the rolled-back savepoint are absent" || fail "savepoint rows: $(rows -1)"
[ "$(rows -2)" = 0 ] && pass "an aborted streamed transaction is absent" || fail "aborted rows: $(rows -2)"
[ "$(rows 3)" = 6000 ] && pass "the interleaved large transaction arrives whole" || fail "txn 3 rows: $(rows 3)"
[ "$(rows 4)" = 10 ] && pass "the small interleaved transactions arrive" || fail "txn 4 rows: $(rows 4)"
[ "$(rows 5)" = 0 ] && pass "a prepared transaction is not delivered before COMMIT PREPARED" || fail "txn 5 early: $(rows 5)"
grep -q '"msg":"stopped (caught up): [0-9]* transactions, [0-9]* changes, [1-9][0-9]* streamed' "$WORK/run1.err" &&
    pass "transactions were streamed (spooled and replayed)" || fail "no streaming: $(tail -1 "$WORK/run1.err")"
# order: txn 3 commits after the small ones
first3=$(awk '/"txn":"3"/ { print NR; exit }' "$log")
last4=$(awk '/"txn":"4"/ { n = NR } END { print n }' "$log")
[ "$first3" -gt "$last4" ] && pass "transactions arrive in commit order" || fail "order: txn3 at $first3, txn4 at $last4"
ls "$WORK/state/spool"/prepared-*.spool >/dev/null 2>&1 && pass "prepared transactions are staged on disk" || fail "no staged spool"

psql_q -c "COMMIT PREPARED 'w2e_g1'" -c "ROLLBACK PREPARED 'w2e_g2'" >/dev/null
psql_q <<SQL >/dev/null
BEGIN; INSERT INTO rs_t (txn, pad) SELECT 7, $pad FROM generate_series(1, 5000); PREPARE TRANSACTION 'w2e_g3';
COMMIT PREPARED 'w2e_g3';
SQL
run_w2e run2 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run2 0
[ "$(rows 5)" = 100 ] && pass "COMMIT PREPARED after a restart delivers the staged transaction" || fail "txn 5 rows: $(rows 5)"
[ "$(rows -6)" = 0 ] && pass "ROLLBACK PREPARED delivers nothing" || fail "txn 6 rows: $(rows -6)"
[ "$(rows 7)" = 5000 ] && pass "a streamed prepared transaction is delivered at COMMIT PREPARED" || fail "txn 7 rows: $(rows 7)"
grep -q '"gid":"w2e_g1"' "$log" && pass "two-phase transactions carry their GID" || fail "no gid"
ls "$WORK/state/spool"/*.spool >/dev/null 2>&1 && fail "spool files left behind: $(ls "$WORK/state/spool")" || pass "no spool files left behind"

# 8: one transaction of 1,000,000 rows, streamed, with memory bounded
psql_q -c "INSERT INTO rs_t (txn, pad) SELECT 8, 'r' || g FROM generate_series(1, 1000000) g" >/dev/null
run_w2e run3 --log-format json --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run3 0
[ "$(rows 8)" = 1000000 ] && pass "1,000,000-row transaction delivered complete" || fail "txn 8 rows: $(rows 8)"
[ "$(grep -c '"type":"commit"' "$log")" = "$(grep '"type":"commit"' "$log" | jq -r .commit_lsn | sort -u | wc -l)" ] &&
    pass "every transaction delivered once" || fail "duplicate commits"
peak=$(sed -n 's/.*peak RSS \([0-9]*\) KB.*/\1/p' "$WORK/run3.err")
if grep -q __asan_init "$WAL2EDGE_BIN"; then
    pass "peak RSS ${peak} KB (not bounded here: AddressSanitizer's shadow memory and quarantine inflate it)"
elif [ -n "$peak" ] && [ "$peak" -lt 131072 ]; then
    pass "peak RSS ${peak} KB for a 1,000,000-row transaction (bound: 128 MB)"
else
    fail "peak RSS: ${peak:-unknown} KB"
fi

# 9: SIGTERM while a streamed transaction is still arriving: the reader thread stops, the COPY
# ends cleanly and promptly (exit 0), nothing of it is delivered; the next run gets it whole, once
psql_q -c "INSERT INTO rs_t (txn, pad) SELECT 9, 'q' || g FROM generate_series(1, 200000) g" >/dev/null
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run4.out" 2>"$WORK/run4.err" &
run_pid=$!
for _ in $(seq 1000); do   # up to ~30 s: a slow (sanitizer) build starts late
    ls "$WORK/state/spool"/stream-*.spool >/dev/null 2>&1 && break
    sleep 0.02
done
ls "$WORK/state/spool"/stream-*.spool >/dev/null 2>&1 && pass "run is receiving the streamed transaction" ||
    fail "no stream spool appeared"
kill -TERM $run_pid
stopped=no
for _ in $(seq 100); do
    kill -0 $run_pid 2>/dev/null || { stopped=yes; break; }
    sleep 0.1
done
[ $stopped = yes ] || kill -KILL $run_pid
wait $run_pid
rc=$?
[ $stopped = yes ] && [ $rc = 0 ] && pass "SIGTERM mid-stream: run stopped cleanly within 10 s" ||
    fail "SIGTERM mid-stream: stopped=$stopped rc=$rc"
run_w2e run5 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run5 0
[ "$(rows 9)" = 200000 ] && pass "the interrupted streamed transaction is delivered whole by the next run" ||
    fail "txn 9 rows: $(rows 9)"
finish
