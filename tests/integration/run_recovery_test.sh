#!/usr/bin/env bash
# Faults during `wal2edge run`: the walsender terminated mid-stream, wal2edge killed with
# SIGKILL and restarted, both while writers commit; afterwards the change log holds every
# committed transaction exactly once. And an idle slot keeps confirming while other
# databases write WAL.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=run_recovery TEST_PUBLICATION=run_recovery_pub
psql_q <<'SQL' >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'run_recovery';
DROP PUBLICATION IF EXISTS run_recovery_pub;
DROP TABLE IF EXISTS rr_t;
CREATE TABLE rr_t (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, pad text);
CREATE PUBLICATION run_recovery_pub FOR TABLE rr_t;
SQL
log="$WORK/changes.ndjson"
write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$log\"}"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0

# writers: each commits transactions of 1-3 rows, tagged (writer, seq)
writer() {   # writer ID COUNT
    local sql=""
    for seq in $(seq 1 "$2"); do
        sql+="BEGIN; INSERT INTO rr_t (writer, seq, pad) SELECT $1, $seq, repeat('w', 50) FROM generate_series(1, 1 + $seq % 3); COMMIT;"
    done
    psql_q -c "$sql" >/dev/null
}

start_run() { "$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >>"$WORK/run.out" 2>>"$WORK/run.err" & run_pid=$!; }

# 1. the walsender is terminated three times while two writers commit
start_run
# (once run streams: a slow build may not have a walsender yet when the first one is terminated)
for _ in $(seq 1 600); do grep -q "streaming from slot" "$WORK/run.err" && break; sleep 0.1; done
writer 1 400 & w1=$!
writer 2 400 & w2=$!
for i in 1 2 3; do
    sleep 0.7
    psql_q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'wal2edge'" >/dev/null
done
wait $w1 $w2
sleep 1
kill -TERM $run_pid
wait $run_pid && pass "run survived terminated walsenders and stopped cleanly on SIGTERM" || fail "run exited $?"
grep -q "reconnecting in" "$WORK/run.err" && pass "run reconnected after losing the walsender" || fail "no reconnect logged"

# 2. wal2edge is killed with SIGKILL at random moments, five times, while writers commit
writer 3 600 & w3=$!
writer 4 600 & w4=$!
for i in 1 2 3 4 5; do
    start_run
    sleep "0.$((RANDOM % 8 + 2))"
    kill -KILL $run_pid
    wait $run_pid 2>/dev/null || true
done
wait $w3 $w4
run_w2e final --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc final 0

# every committed transaction exactly once: compare (writer, seq) pairs and row counts with Postgres
expected_txns=$(psql_q -c "SELECT count(DISTINCT (writer, seq)) FROM rr_t")
expected_rows=$(psql_q -c "SELECT count(*) FROM rr_t")
commits=$(grep -c '"type":"commit"' "$log")
unique_commits=$(grep '"type":"commit"' "$log" | jq -r .commit_lsn | sort -u | wc -l)
rows=$(grep -c '"type":"insert"' "$log")
unique_rows=$(grep '"type":"insert"' "$log" | jq -r .new.id | sort -u | wc -l)
[ "$commits" = "$expected_txns" ] && pass "$commits transactions in the change log, as committed" ||
    fail "change log has $commits transactions, Postgres committed $expected_txns"
[ "$unique_commits" = "$commits" ] && pass "no transaction appears twice" || fail "$((commits - unique_commits)) duplicates"
[ "$rows" = "$expected_rows" ] && [ "$unique_rows" = "$rows" ] && pass "$rows rows, each once" ||
    fail "rows: $rows in the log ($unique_rows unique), $expected_rows in Postgres"
jq -c . "$log" >/dev/null && pass "no torn line survived the kills" || fail "the change log has a broken line"

# 3. an idle slot does not pin WAL: while another database writes, confirmed_flush_lsn advances
psql_q -d postgres -c "DROP DATABASE IF EXISTS w2e_other" -c "CREATE DATABASE w2e_other" >/dev/null
start_run
sleep 1
before=$(psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'run_recovery'")
psql_q -d w2e_other -c "CREATE TABLE noise AS SELECT g, repeat('n', 200) AS pad FROM generate_series(1, 20000) g" >/dev/null
after_write=$(psql_q -c "SELECT pg_current_wal_lsn()")
advanced=no
for i in $(seq 1 40); do
    now=$(psql_q -c "SELECT confirmed_flush_lsn >= '$after_write'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'run_recovery'")
    if [ "$now" = t ]; then advanced=yes; break; fi
    sleep 0.5
done
kill -TERM $run_pid
wait $run_pid || true
[ $advanced = yes ] && pass "confirmed_flush_lsn moved from $before past $after_write while idle" ||
    fail "confirmed_flush_lsn stuck at $(psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'run_recovery'") (WAL at $after_write)"
psql_q -d postgres -c "DROP DATABASE w2e_other" >/dev/null
psql_q -c "SELECT pg_drop_replication_slot('run_recovery')" >/dev/null
finish
