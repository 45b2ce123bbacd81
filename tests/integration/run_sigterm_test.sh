#!/usr/bin/env bash
# SIGTERM during the replay of a 500,000-row streamed transaction: run exits 0 within 5 s (the
# replay is abandoned as a rollback, not run to its end), and the next run applies the
# transaction exactly once to every target (the change log, embedded D1 and KV). Without the
# fix the run goes on until the replay ends (5-35 s here, depending on the machine and build).
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=run_sigterm TEST_PUBLICATION=run_sigterm_pub
ROWS=${ROWS:-500000}
psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS rt_big;
CREATE TABLE rt_big (id bigint PRIMARY KEY, pad text NOT NULL);
SQL
# a small logical_decoding_work_mem for our walsender only, so that the transaction streams
export DATABASE_URL="$DATABASE_URL?options=-c%20logical_decoding_work_mem%3D64kB"
mkdir -p "$WORK/mappings"
log="$WORK/changes.ndjson"
write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$log\"}, \"d1\": { \"app\": {} }, \"kv\": { \"cache\": {} },
  \"mappings\": [\"mappings/*.jsonc\"]"
echo '{ "table": "public.rt_big", "d1": { "database": "app" },
  "kv": [ { "namespace": "cache", "key": "big:{id}", "value": "row" } ] }' >"$WORK/mappings/rt_big.jsonc"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
psql_q -c "INSERT INTO rt_big VALUES (0, 'before')" >/dev/null
run_w2e run0 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run0 0

psql_q -c "INSERT INTO rt_big SELECT g, 'r' || g FROM generate_series(1, $ROWS) g" >/dev/null
"$WAL2EDGE_BIN" --log-level debug --config "$WORK/w.jsonc" run >"$WORK/run1.out" 2>"$WORK/run1.err" &
run_pid=$!
for _ in $(seq 1200); do
    grep -q 'replaying staged transaction' "$WORK/run1.err" && break
    kill -0 $run_pid 2>/dev/null || break
    sleep 0.05
done
if grep -q 'replaying staged transaction' "$WORK/run1.err"; then pass "run is replaying the streamed transaction"; else
    fail "the replay did not start"; tail -5 "$WORK/run1.err" >&2; fi
sleep 1
kill -TERM $run_pid
t0=$(date +%s%N)
stopped=no
for _ in $(seq 300); do
    kill -0 $run_pid 2>/dev/null || { stopped=yes; break; }
    sleep 0.02
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ $stopped = yes ] || { kill -KILL $run_pid; sleep 1; }
rc=0
wait $run_pid || rc=$?
if [ $stopped = yes ] && [ $ms -lt 5000 ] && [ $rc = 0 ]; then
    pass "SIGTERM 1 s into the replay: run exited 0 after $ms ms"
else
    fail "SIGTERM 1 s into the replay: stopped=$stopped after $ms ms, rc=$rc"; tail -5 "$WORK/run1.err" >&2
fi
expect_contains "$WORK/run1.err" "interrupted" "the replay was abandoned, not finished"
rows_log() { grep -c "\"table\":\"public.rt_big\"" "$log" || true; }
[ "$(rows_log)" = 1 ] && pass "nothing of the interrupted transaction reached the change log" ||
    fail "change log rows after the interrupted run: $(rows_log)"

run_w2e run2 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run2 0
[ "$(rows_log)" = $((ROWS + 1)) ] && pass "the next run delivers the transaction to the change log once ($ROWS rows)" ||
    fail "change log rows: $(rows_log), expected $((ROWS + 1))"
commits=$(grep -c '"type":"commit"' "$log")
[ "$commits" = "$(grep '"type":"commit"' "$log" | jq -r .commit_lsn | sort -u | wc -l)" ] &&
    pass "every transaction is in the change log once ($commits commits)" || fail "duplicate commits in the change log"
d1_rows=$(sqlite3 -batch "$WORK/state/d1/app.sqlite" "SELECT count(*) || ':' || sum(id) FROM rt_big")
want=$(psql_q -c "SELECT count(*) || ':' || sum(id) FROM rt_big")
[ "$d1_rows" = "$want" ] && pass "D1 equals Postgres ($want)" || fail "D1 has $d1_rows, Postgres $want"
kv_keys=$(sqlite3 -batch "$WORK/state/kv/cache.sqlite" "SELECT count(*) FROM kv WHERE key LIKE 'big:%'")
[ "$kv_keys" = $((ROWS + 1)) ] && pass "KV has every row once ($kv_keys keys)" || fail "KV keys: $kv_keys"
# SIGTERM cut the replay part-way (it did not run to its end first)
cut_at=$(sed -n 's/.*"stopped: [0-9]* transactions, \([0-9]*\) changes.*/\1/p' "$WORK/run1.err")
[ -n "$cut_at" ] && [ "$cut_at" -lt "$ROWS" ] && pass "SIGTERM cut the replay after $cut_at of $ROWS changes" ||
    fail "the interrupted run replayed ${cut_at:-?} of $ROWS changes"
replay_s=$(sed -n 's/.*, \([0-9.]*\) s replaying them.*/\1/p' "$WORK/run2.err")
echo "# the whole replay, left to finish, takes $replay_s s here"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
finish
