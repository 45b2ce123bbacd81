#!/usr/bin/env bash
# Schema changes followed into the REST D1 (the local edge's Cloudflare API) while `run` streams
# and a writer keeps changing the table: ADD COLUMN with a constant default, RENAME COLUMN, DROP
# COLUMN, each in a transaction with row changes before and after it; after each, D1 is compared
# with Postgres value by value. Then run is killed (-9) at random points around more changes and
# restarted: no ALTER applied twice (the shape is kept in D1 with the checkpoint), D1 equal again.
# Last, a rewrite by a type change: run rebuilds the table and copies it again itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=srest_slot TEST_PUBLICATION=srest_pub
d1_use rest
DIR=$WORK/sr
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}", "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },
  "d1": {"app": {"database_id": "'"$D1_DB_ID"'", "migrations_dir": "migrations"}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.sr_users", "d1": { "database": "app" } }' >"$DIR/mappings/users.jsonc"

psql_q -c "DROP TABLE IF EXISTS sr_users" -c "DROP PUBLICATION IF EXISTS srest_pub" \
    -c "CREATE TABLE sr_users (id bigint PRIMARY KEY, email text NOT NULL, name text, score int)" \
    -c "CREATE PUBLICATION srest_pub FOR TABLE sr_users" \
    -c "INSERT INTO sr_users SELECT g, 'u' || g || '@x', 'n' || g, g * 3 FROM generate_series(1, 50) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0

# D1 equals Postgres, value by value, over the columns the table has now (in Postgres order)
compare() {
    local cols pgx d1x
    cols=$(psql_q -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute
                       WHERE attrelid = 'sr_users'::regclass AND attnum > 0 AND NOT attisdropped")
    pgx="concat_ws('|', $(sed -E "s/([^,]+)/coalesce(\1::text, 'NULL')/g" <<<"$cols"))"
    d1x=$(sed -E "s/([^,]+)/coalesce(\1, 'NULL')/g; s/\),/) || '|' || /g" <<<"$cols")
    d1_same "$1" "SELECT $pgx FROM sr_users" "SELECT $d1x FROM sr_users"
}

wait_caught_up() {   # until D1 has the row just written (a marker insert), or 60 s
    local id=$1 _
    psql_q -c "INSERT INTO sr_users (id, email) VALUES ($id, 'marker')" >/dev/null
    for _ in $(seq 1 240); do
        [ "$(d1_q "SELECT count(*) FROM sr_users WHERE id = $id" 2>/dev/null)" = 1 ] && return 0
        sleep 0.25
    done
    fail "D1 did not catch up to marker $id"; tail -5 "$WORK/run.err" >&2
}
checkpoint() { pause_writer; wait_caught_up "$1"; compare "$2"; resume_writer; }

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer sr_users &
writer_pid=$!
trap 'rc=$?; touch "$WORK/stop_writer"; kill "$writer_pid" "$run_pid" 2>/dev/null || true; wait 2>/dev/null || true
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sr_users SET name = 'before add' WHERE id = 1;
ALTER TABLE sr_users ADD COLUMN plan text NOT NULL DEFAULT 'free';
INSERT INTO sr_users (id, email, plan) VALUES (100, 'new@x', 'pro');
UPDATE sr_users SET plan = 'team' WHERE id = 2;
COMMIT;
SQL
checkpoint 9001 "ADD COLUMN with a default"
[ "$(d1_q "SELECT plan FROM sr_users WHERE id = 3")" = free ] &&
    pass "a row from before the ADD COLUMN has the default in D1" || fail "default not applied to old rows"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sr_users SET name = 'before rename' WHERE id = 4;
ALTER TABLE sr_users RENAME COLUMN name TO full_name;
UPDATE sr_users SET full_name = 'after rename' WHERE id = 5;
INSERT INTO sr_users (id, email, full_name) VALUES (101, 'r@x', 'renamed');
COMMIT;
SQL
checkpoint 9002 "RENAME COLUMN"
[ "$(d1_q "SELECT full_name FROM sr_users WHERE id = 101")" = renamed ] &&
    pass "a row after the rename has its value under the new name" || fail "renamed column lost its value"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sr_users SET score = 99 WHERE id = 6;
ALTER TABLE sr_users DROP COLUMN score;
INSERT INTO sr_users (id, email) VALUES (102, 'd@x');
COMMIT;
SQL
checkpoint 9003 "DROP COLUMN"
[ "$(d1_q "SELECT count(*) FROM pragma_table_info('sr_users') WHERE name = 'score'")" = 0 ] &&
    pass "the dropped column is gone from D1" || fail "score still in D1"
expect_contains "$WORK/run.err" "add column plan (text)" "run logs the change it followed"
ls "$DIR/migrations" | tr '\n' ' ' >"$WORK/migrations.txt"
[ "$(cat "$WORK/migrations.txt")" = "0001_wal2edge_sr_users.sql 0002_wal2edge_sr_users.sql 0003_wal2edge_sr_users.sql " ] &&
    pass "a wrangler migration file for each change" || fail "migrations: $(cat "$WORK/migrations.txt")"

# kill -9 right after schema changes (and at random points around them), restart: no ALTER twice.
kill -KILL "$run_pid"; wait "$run_pid" 2>/dev/null || true
for k in 1 2 3 4; do
    psql_q -c "BEGIN; UPDATE sr_users SET email = 'k$k' WHERE id = 7;
               ALTER TABLE sr_users ADD COLUMN extra$k int DEFAULT $k;
               INSERT INTO sr_users (id, email, extra$k) VALUES ($((200 + k)), 'k@x', $((10 * k))); COMMIT;" >/dev/null
    [ "$k" = 3 ] && psql_q -c "ALTER TABLE sr_users RENAME COLUMN extra1 TO extra_one" >/dev/null
    d1_kill_runs "$DIR/w.jsonc" 2 "$WORK/kill.err"
done
touch "$WORK/stop_writer"
wait "$writer_pid"
rm -f "$WORK/pause"
run_w2e again --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc again 0
! grep -q "duplicate column" "$WORK/kill.err" "$WORK/again.err" && pass "no ALTER applied twice after kill -9" ||
    fail "an ALTER was applied twice: $(grep -m1 "duplicate column" "$WORK/kill.err" "$WORK/again.err")"
compare "after kill -9 around schema changes"
[ "$(d1_q "SELECT group_concat(name) FROM pragma_table_info('sr_users')")" = "id,email,full_name,plan,extra_one,extra2,extra3,extra4" ] &&
    pass "D1 has the live table's columns" || fail "D1 columns: $(d1_q "SELECT group_concat(name) FROM pragma_table_info('sr_users')")"
[ "$(d1_q "SELECT count(*) FROM _wal2edge_schema WHERE source = 'public.sr_users'")" = 1 ] &&
    pass "the last known shape is kept in D1 (_wal2edge_schema)" || fail "no shape kept in D1"

# A rewrite (a type change that converts every value): run rebuilds the REST D1 table in the new
# shape in the /query batch of its checkpoint, copies it again itself, and goes on.
psql_q -c "UPDATE sr_users SET extra2 = id" -c "ALTER TABLE sr_users ALTER COLUMN extra2 TYPE text USING 'r' || (extra2 * 3)::text" >/dev/null
run_w2e rewrite --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc rewrite 0
expect_contains "$WORK/rewrite.err" 'D1 table \"sr_users\" rebuilt in the new shape, and its rows are copied again' "run rebuilds the REST D1 table"
expect_contains "$WORK/rewrite.err" "resync public.sr_users: every chunk sent" "and copies it again"
compare "after a rewrite (REST D1 rebuilt and copied again by run)"
[ "$(d1_q "SELECT type FROM pragma_table_info('sr_users') WHERE name = 'extra2'")" = TEXT ] &&
    pass "the REST D1 column has the new type" || fail "D1 type of extra2: $(d1_q "SELECT type FROM pragma_table_info('sr_users') WHERE name = 'extra2'")"

d1_drop_slot
finish
