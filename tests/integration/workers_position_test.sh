#!/usr/bin/env bash
# The read-your-writes position of D1's checkpoint row (_wal2edge_state.position: the end LSN as
# 16 hex digits, compared as text). Checkpoint tables made before it get it on start, in the
# embedded and the REST D1, filled from end_lsn; migrate writes it; then it moves with every
# checkpoint of run, also when the commit touched only a table no mapping names (the fence), and a
# token taken after a commit (pg_current_wal_lsn in the same form) compares below it in SQL exactly
# when the commit is applied - the query a Worker's waitFor runs. Needs the local edge.
source "$(dirname "$0")/lib.sh"
use_edge

export TEST_SLOT=workers_position TEST_PUBLICATION=workers_position_pub
command -v sqlite3 >/dev/null && command -v jq >/dev/null || { echo "$TEST_NAME: sqlite3 and jq are required" >&2; exit 1; }
DB_ID="wp-$$-$RANDOM-db"
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$DB_ID"
EMB="$WORK/state/d1/app.sqlite"
psql_q <<'SQL' >/dev/null
CREATE TABLE wp_orders (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE wp_remote (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE wp_other (id int PRIMARY KEY);
CREATE PUBLICATION workers_position_pub FOR TABLE wp_orders, wp_remote;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.wp_orders", "d1": { "database": "app" } }' >"$WORK/mappings/a.jsonc"
echo '{ "table": "public.wp_remote", "d1": { "database": "remote" } }' >"$WORK/mappings/b.jsonc"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": {}, \"remote\": { \"database_id\": \"$DB_ID\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"run\": { \"flush_interval_ms\": 100, \"fence_interval_ms\": 200 }"

# SQL on the REST D1 (the emulator's /raw); prints the first column of the first row
remote_sql() {
    jq -n --arg sql "$1" '{sql: $sql}' |
        curl -sS -X POST "$D1_API/raw" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
            --data-binary @- | jq -r '.result[0].results.rows[0][0] // empty'
}
emb_sql() { sqlite3 -batch -noheader "$EMB" "$1"; }
OLD_TABLE='CREATE TABLE "_wal2edge_state" ("slot" TEXT NOT NULL PRIMARY KEY, "commit_lsn" TEXT NOT NULL, "end_lsn" TEXT NOT NULL, "updated_at" TEXT NOT NULL)'
OLD_ROW="INSERT INTO \"_wal2edge_state\" VALUES ('an_old_slot', '16/B374D800', '16/B374D848', '2026-01-01T00:00:00Z')"

# --- the upgrade: both D1s hold a checkpoint table from before the position
mkdir -p "$WORK/state/d1"
emb_sql "$OLD_TABLE; $OLD_ROW"
remote_sql "$OLD_TABLE" >/dev/null
remote_sql "$OLD_ROW" >/dev/null
[ -z "$(remote_sql "SELECT name FROM pragma_table_info('_wal2edge_state') WHERE name = 'position'")" ] ||
    fail "the REST D1's old table already has a position"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$WORK/w.jsonc" migrate
expect_rc migrate 0
pos_q() { echo "SELECT \"position\" FROM \"_wal2edge_state\" WHERE \"slot\" = '$1'"; }
[ "$(emb_sql "$(pos_q an_old_slot)")" = 00000016B374D848 ] && pass "embedded D1: the old row's position is filled from its end_lsn" ||
    fail "embedded D1: the old row's position is '$(emb_sql "$(pos_q an_old_slot)")'"
[ "$(remote_sql "$(pos_q an_old_slot)")" = 00000016B374D848 ] && pass "REST D1: the old row's position is filled from its end_lsn" ||
    fail "REST D1: the old row's position is '$(remote_sql "$(pos_q an_old_slot)")'"

# --- plan --write-migrations into a directory written before the position adds its upgrade
mkdir -p "$WORK/mig/app"
cat >"$WORK/mig/app/0001_wal2edge_state.sql" <<'SQL'
-- wal2edge: the replication checkpoint (slot, last applied commit LSN), written in the same batch as the data
CREATE TABLE IF NOT EXISTS "_wal2edge_state" (
  "slot" TEXT NOT NULL PRIMARY KEY,
  "commit_lsn" TEXT NOT NULL,
  "end_lsn" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL
);
SQL
run_w2e plan --config "$WORK/w.jsonc" plan --write-migrations "$WORK/mig"
expect_rc plan 0
up="$WORK/mig/app/0002_wal2edge_state_position.sql"
[ -f "$up" ] && pass "plan adds $(basename "$up")" || fail "no upgrade file: $(ls "$WORK/mig/app")"
cat "$WORK"/mig/app/*.sql | sqlite3 "$WORK/mig.sqlite" &&
    [ "$(sqlite3 "$WORK/mig.sqlite" "SELECT count(*) FROM pragma_table_info('_wal2edge_state') WHERE name = 'position'")" = 1 ] &&
    pass "the files apply in order and leave the position column" || fail "the migration files do not apply"
run_w2e plan2 --config "$WORK/w.jsonc" plan --write-migrations "$WORK/mig"
[ "$(ls "$WORK/mig/app" | grep -c position)" = 1 ] && pass "a rerun adds no second upgrade" || fail "rerun: $(ls "$WORK/mig/app")"

# --- migrate wrote it with its checkpoint: position = end_lsn in the fixed form
fixed() { psql_q -c "SELECT upper(lpad(to_hex(('$1'::pg_lsn - '0/0')::bigint), 16, '0'))"; }
same_form() {   # same_form NAME SQLFN (one read: the fence may move the row between two)
    local row end pos
    row=$($2 "SELECT \"end_lsn\" || ' ' || \"position\" FROM \"_wal2edge_state\" WHERE \"slot\" = '$TEST_SLOT'")
    end=${row% *} pos=${row#* }
    [ -n "$end" ] && [ "$pos" = "$(fixed "$end")" ] && pass "$1: position $pos is end_lsn $end" ||
        fail "$1: position '$pos' for end_lsn '$end'"
}
same_form "embedded D1 after migrate" emb_sql
same_form "REST D1 after migrate" remote_sql

"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
trap 'rc=$?; kill $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true;
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

# The Worker's check: the row compares at or past the token in SQL (text order).
caught_up_q() { echo "SELECT \"position\" >= '$1' FROM \"_wal2edge_state\" WHERE \"slot\" = '$TEST_SLOT'"; }
waits() {   # waits SQLFN TOKEN SECONDS: prints the milliseconds until caught up
    local t0; t0=$(date +%s%N)
    for _ in $(seq $(($3 * 20))); do
        [ "$($1 "$(caught_up_q "$2")" 2>/dev/null)" = 1 ] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
        sleep 0.05
    done
    return 1
}
# the insert position: with synchronous_commit = off (the test cluster) the write position may
# still be before the commit record (docs/workers.md, "Tokens")
token() { fixed "$(psql_q -c "SELECT pg_current_wal_insert_lsn()")"; }

psql_q -c "BEGIN; INSERT INTO wp_orders VALUES (1, 'a'); INSERT INTO wp_remote VALUES (1, 'a'); COMMIT" >/dev/null
tok=$(token)
[ "$(emb_sql "$(caught_up_q "$tok")")" = 0 ] && pass "right after the commit the embedded D1 is not yet at token $tok" ||
    echo "note - the embedded D1 was already at $tok"
ms=$(waits emb_sql "$tok" 20) && pass "embedded D1 reaches token $tok ($ms ms)" || fail "the embedded D1 never reached $tok"
[ "$(emb_sql "SELECT v FROM wp_orders WHERE id = 1")" = a ] && pass "and holds the row then" || fail "the embedded D1 lacks the row"
ms=$(waits remote_sql "$tok" 20) && pass "REST D1 reaches token $tok ($ms ms)" || fail "the REST D1 never reached $tok"
[ "$(remote_sql "SELECT v FROM wp_remote WHERE id = 1")" = a ] && pass "and holds the row then" || fail "the REST D1 lacks the row"
same_form "embedded D1 after run's checkpoint" emb_sql
same_form "REST D1 after run's checkpoint" remote_sql

# a commit to a table no mapping names: the fence carries the position past its token
for round in 1 2; do
    psql_q -c "INSERT INTO wp_other VALUES ($round)" >/dev/null
    tok=$(token)
    ms=$(waits emb_sql "$tok" 15) && pass "round $round: an unmapped commit's token $tok is reached in the embedded D1 ($ms ms)" ||
        fail "round $round: the embedded D1's position stays at $(emb_sql "$(pos_q "$TEST_SLOT")"), before $tok"
    ms=$(waits remote_sql "$tok" 15) && pass "round $round: and in the REST D1 ($ms ms)" ||
        fail "round $round: the REST D1's position stays at $(remote_sql "$(pos_q "$TEST_SLOT")"), before $tok"
done
# a token no checkpoint can have reached yet compares below nothing
[ "$(emb_sql "$(caught_up_q FFFFFFFF00000000)")" = 0 ] && pass "a token in the future is not caught up" ||
    fail "a future token compares as caught up"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || { fail "run exits $?"; sed 's/^/    | /' "$WORK/run.err" >&2; }
# slots are few on a shared server: give ours back
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
finish
