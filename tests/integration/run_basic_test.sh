#!/usr/bin/env bash
# `wal2edge run` into the change-log target against the real Postgres: every kind of change,
# every REPLICA IDENTITY, unchanged TOAST, logical messages, truncate; reruns add nothing twice.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=run_basic TEST_PUBLICATION=run_basic_pub
psql_q <<'SQL' >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'run_basic';
DROP PUBLICATION IF EXISTS run_basic_pub;
DROP TABLE IF EXISTS rb_default, rb_full, rb_index, rb_nothing, rb_toast CASCADE;
CREATE TABLE rb_default (id int PRIMARY KEY, v text);
CREATE TABLE rb_full (id int PRIMARY KEY, v text);
ALTER TABLE rb_full REPLICA IDENTITY FULL;
CREATE TABLE rb_index (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX rb_index_code ON rb_index (code);
ALTER TABLE rb_index REPLICA IDENTITY USING INDEX rb_index_code;
CREATE TABLE rb_nothing (id int, v text);
ALTER TABLE rb_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE rb_toast (id int PRIMARY KEY, big text, n int);
ALTER TABLE rb_toast ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE PUBLICATION run_basic_pub FOR TABLE rb_default, rb_full, rb_index, rb_toast;
ALTER PUBLICATION run_basic_pub ADD TABLE rb_nothing;
ALTER PUBLICATION run_basic_pub SET (publish = 'insert, update, delete, truncate');
SQL
log="$WORK/changes.ndjson"
write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$log\"}"

run_w2e slot_create --config "$WORK/w.jsonc" slot create
expect_rc slot_create 0
expect_contains "$WORK/slot_create.out" 'created replication slot "run_basic"'
run_w2e slot_again --config "$WORK/w.jsonc" slot create
expect_rc slot_again 0
expect_contains "$WORK/slot_again.out" 'replication slot "run_basic" exists'

psql_q <<'SQL' >/dev/null
INSERT INTO rb_default VALUES (1, 'one'), (2, 'two');
INSERT INTO rb_full VALUES (1, 'f1');
INSERT INTO rb_index VALUES (1, 'c1', 'i1');
INSERT INTO rb_nothing VALUES (1, 'n1');
INSERT INTO rb_toast VALUES (1, repeat('x', 20000) || 'END', 0);
BEGIN;
UPDATE rb_default SET v = 'uno' WHERE id = 1;
UPDATE rb_default SET id = 10 WHERE id = 2;
UPDATE rb_full SET v = 'f1b' WHERE id = 1;
UPDATE rb_index SET v = 'i1b' WHERE code = 'c1';
UPDATE rb_toast SET n = 1 WHERE id = 1;
SELECT pg_logical_emit_message(true, 'tx-prefix', 'inside');
COMMIT;
SELECT pg_logical_emit_message(false, 'nontx-prefix', 'outside');
DELETE FROM rb_default WHERE id = 1;
DELETE FROM rb_full WHERE id = 1;
DELETE FROM rb_index WHERE code = 'c1';
INSERT INTO rb_default VALUES (3, E'line\nbreak "quoted" \\ and ünïcode'), (4, NULL);
TRUNCATE rb_nothing;
SQL

run_w2e run1 --log-format json --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run1 0
expect_contains "$WORK/run1.err" '"msg":"stopped (caught up)'
jq -c . "$log" >/dev/null && pass "the change log is valid NDJSON" || fail "invalid NDJSON"

count() { jq -s "[.[] | select($1)] | length" "$log"; }
[ "$(count '.type == "commit"')" = 11 ] && pass "11 transactions" || fail "commits: $(count '.type == "commit"')"
[ "$(count '.type == "insert"')" = 8 ] && pass "8 inserts" || fail "inserts: $(count '.type == "insert"')"
[ "$(jq -s '[.[] | select(.type == "commit") | .commit_lsn] | (length == (unique | length))' "$log")" = true ] &&
    pass "commit LSNs are unique" || fail "duplicate commit LSNs"

# REPLICA IDENTITY: what old data arrives
check() { if jq -es "$1" "$log" >/dev/null; then pass "$2"; else fail "$2"; fi; }
check '[.[] | select(.type=="update" and .table=="public.rb_default" and .new.id=="10")][0] | .old == {"id":"2","v":null} and .old_kind=="key"' \
    "DEFAULT: a primary-key change sends the old key"
check '[.[] | select(.type=="update" and .table=="public.rb_default" and .new.id=="1")][0] | has("old") | not' \
    "DEFAULT: an update keeping the key sends no old tuple"
check '[.[] | select(.type=="update" and .table=="public.rb_full")][0] | .old == {"id":"1","v":"f1"} and .old_kind=="row"' \
    "FULL: updates send the whole old row"
check '[.[] | select(.type=="delete" and .table=="public.rb_full")][0] | .old == {"id":"1","v":"f1b"}' \
    "FULL: deletes send the whole old row"
check '[.[] | select(.type=="delete" and .table=="public.rb_index")][0] | .old == {"id":null,"code":"c1","v":null}' \
    "USING INDEX: deletes send the index columns"
check '[.[] | select(.type=="delete" and .table=="public.rb_default")][0] | .old == {"id":"1","v":null}' \
    "DEFAULT: deletes send the primary key"
check '[.[] | select(.type=="insert" and .table=="public.rb_nothing")] | length == 1' \
    "NOTHING: inserts still arrive"
check '[.[] | select(.type=="update" and .table=="public.rb_toast")][0] | .new.big == {"unchanged_toast":true} and .new.n == "1"' \
    "unchanged TOAST is marked, never null"
check '[.[] | select(.type=="insert" and .table=="public.rb_toast")][0] | .new.big | endswith("END") and (length == 20003)' \
    "TOASTed values arrive whole on insert"
check '[.[] | select(.type=="insert" and .new.id=="3")][0] | .new.v == "line\nbreak \"quoted\" \\ and ünïcode"' \
    "text values survive escaping"
check '[.[] | select(.type=="insert" and .new.id=="4")][0] | .new.v == null' "NULL stays null"
check '[.[] | select(.type=="truncate")][0] | .tables == ["public.rb_nothing"]' "truncate names its table"
check '[.[] | select(.type=="message" and .transactional==true)][0] | .prefix=="tx-prefix" and .content=="inside" and .xid > 0' \
    "a transactional message arrives inside its transaction"
check '[.[] | select(.type=="message" and .transactional==false)][0] | .prefix=="nontx-prefix" and .content=="outside"' \
    "a non-transactional message arrives on its own"
check '[.[] | select(.type=="begin")] | all(.commit_time | test("^20[0-9]{2}-[0-9]{2}-[0-9]{2}T.*Z$"))' \
    "commit times are ISO 8601 UTC"

# A rerun with nothing new appends nothing; new changes are appended exactly once.
before=$(wc -l <"$log")
run_w2e run2 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run2 0
[ "$(wc -l <"$log")" = "$before" ] && pass "a rerun with nothing new appends nothing" || fail "rerun appended lines"
psql_q -c "INSERT INTO rb_default VALUES (5, 'five')" >/dev/null
run_w2e run3 --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc run3 0
[ "$(count '.type == "commit"')" = 12 ] && pass "one new transaction appended" || fail "commits after rerun: $(count '.type == "commit"')"

# status and slot info
run_w2e status --config "$WORK/w.jsonc" status --json
expect_rc status 0
jq -e '.slot == "run_basic" and .slot_exists and (.targets | length == 1) and .targets[0].target == "changelog" and (.lag_bytes | type == "number")' \
    "$WORK/status.out" >/dev/null && pass "status --json shows the slot, lag and the target checkpoint" ||
    fail "status: $(cat "$WORK/status.out")"
run_w2e status_text --config "$WORK/w.jsonc" status
expect_contains "$WORK/status_text.out" "confirmed_flush_lsn"
run_w2e info --config "$WORK/w.jsonc" slot info --json
jq -e '.exists and .plugin == "pgoutput" and .two_phase' "$WORK/info.out" >/dev/null && pass "slot info" ||
    fail "slot info: $(cat "$WORK/info.out")"

# A second run on the same state directory is refused while one holds it.
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/bg.out" 2>"$WORK/bg.err" &
bg=$!
# the first holds the state directory once it streams (a slow build takes more than a second to get there)
for _ in $(seq 1 600); do grep -q "streaming from slot" "$WORK/bg.err" && break; sleep 0.1; done
run_w2e second --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc second 1
expect_contains "$WORK/second.err" "another wal2edge (run, pid"
kill -TERM $bg
wait $bg && pass "SIGTERM stops run with exit 0" || fail "run exited $? on SIGTERM"

run_w2e drop_held --config "$WORK/w.jsonc" slot drop --publication
expect_rc drop_held 1
expect_contains "$WORK/drop_held.err" "changelog (complete through"
expect_contains "$WORK/drop_held.err" "slot drop --force"
run_w2e drop --config "$WORK/w.jsonc" slot drop --publication --force
expect_rc drop 0
[ "$(psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'run_basic'")" = 0 ] &&
    pass "slot drop --force removed the slot" || fail "slot still there"

# run on its own creates what is missing: the publication (no mappings here: all tables) and the slot;
# the change log's checkpoint belongs to the dropped slot, so run refuses until its gap is accepted
run_w2e fresh --log-format json --config "$WORK/w.jsonc" run --exit-when-caught-up
expect_rc fresh 1
expect_contains "$WORK/fresh.err" 'created publication \"run_basic_pub\" for all tables'
expect_contains "$WORK/fresh.err" 'created replication slot \"run_basic\"'
expect_contains "$WORK/fresh.err" '--accept-gap changelog'
run_w2e accepted --config "$WORK/w.jsonc" run --exit-when-caught-up --accept-gap changelog
expect_rc accepted 0
run_w2e drop2 --config "$WORK/w.jsonc" slot drop --publication --force
expect_rc drop2 0
finish
