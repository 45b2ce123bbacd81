#!/usr/bin/env bash
# migrate --then-stream continues as run in the same process: the global options stay in force
# (--log-format text and --log-level debug reach run's lines; a new process would have fallen back
# to the defaults: JSON lines, as stderr is no terminal, and no debug), the row written after the
# hand-over reaches D1, and SIGTERM ends it with run's exit code 0.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=w2e_cts_slot TEST_PUBLICATION=w2e_cts_pub
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'" >/dev/null
psql_q -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS cts_items;
CREATE TABLE cts_items (id int PRIMARY KEY, name text);
INSERT INTO cts_items SELECT g, 'n' || g FROM generate_series(1, 100) g;
SQL
cd "$WORK"
mkdir -p mappings
write_config w.jsonc '"d1": { "app": {} }, "mappings": ["mappings/*.jsonc"]'
printf '{ "table": "public.cts_items", "d1": { "database": "app" } }\n' >mappings/cts_items.jsonc
DB=state/d1/app.sqlite

"$WAL2EDGE_BIN" --log-format text --log-level debug --config w.jsonc migrate --then-stream --no-progress \
    >"$WORK/ts.out" 2>"$WORK/ts.err" &
pid=$!
for _ in $(seq 200); do grep -q "continuing as" "$WORK/ts.err" && break; sleep 0.1; done
expect_contains "$WORK/ts.err" "continuing as \`wal2edge run\`"
psql_q -c "INSERT INTO cts_items VALUES (1001, 'after the hand-over')" >/dev/null
got=""
for _ in $(seq 150); do
    got=$(sqlite3 "$DB" "select name from cts_items where id = 1001" 2>/dev/null || true)
    [ -n "$got" ] && break
    sleep 0.1
done
[ "$got" = "after the hand-over" ] && pass "the row written after the hand-over is in D1" ||
    fail "row 1001 in D1: '$got'"
kill -TERM $pid
rc=0
wait $pid || rc=$?
[ "$rc" = 0 ] && pass "SIGTERM ends it with run's exit code 0" || fail "exit code $rc"

# run's lines: after the hand-over, in the text format, debug included
sed -n '/continuing as/,$p' "$WORK/ts.err" | tail -n +2 >"$WORK/run.err"
grep -q . "$WORK/run.err" && pass "run logged after the hand-over" || fail "no line after the hand-over"
if grep -q '^{' "$WORK/run.err"; then
    fail "run's lines fell back to JSON: $(grep -m1 '^{' "$WORK/run.err")"
else
    pass "run's lines keep --log-format text"
fi
grep -qi 'debug' "$WORK/run.err" && pass "run's lines keep --log-level debug" ||
    { fail "no debug line from run"; sed 's/^/    | /' "$WORK/run.err" >&2; }

psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND NOT active" >/dev/null
finish
