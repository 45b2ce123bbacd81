#!/usr/bin/env bash
# Schema migrations of the kinds applications ship, while pgbench writes to the mapped tables and
# `run` streams into the embedded D1, KV and a queue (issue 14's test): ADD COLUMN with a default,
# RENAME COLUMN and DROP COLUMN (each in a transaction with row changes before and after it), a
# rewrite by a type change, and a table dropped and created again. `run` never stops; after each
# step every target is compared with Postgres value by value: D1's rows, every KV key and value,
# and the queue's events replayed in order over empty tables.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
pgbench=$(command -v pgbench || echo "${PG_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench")
[ -x "$pgbench" ] || { echo "$TEST_NAME: pgbench is required (postgresql-15)" >&2; exit 1; }

export TEST_SLOT=sp_slot TEST_PUBLICATION=sp_pub
DIR=$WORK/sp
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}},
  "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
for t in users orders tags; do
    echo "{ \"table\": \"public.sp_$t\", \"d1\": { \"database\": \"app\" }, \"queue\": { \"queue\": \"changes\" },
            \"kv\": [ { \"namespace\": \"cache\", \"key\": \"$t:{id}\", \"value\": \"row\" } ] }" >"$DIR/mappings/$t.jsonc"
done
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
SPOOL=$DIR/state/queues/changes.ndjson

psql_q >/dev/null <<'SQL'
CREATE TABLE sp_users (id bigint PRIMARY KEY, email text NOT NULL, name text, score numeric(8,2));
CREATE TABLE sp_orders (id int PRIMARY KEY, user_id bigint, total int NOT NULL);
CREATE TABLE sp_tags (id int PRIMARY KEY, label text);
INSERT INTO sp_users SELECT g, 'u' || g || '@x', 'n' || g, g * 1.5 FROM generate_series(1, 2000) g;
INSERT INTO sp_orders SELECT g, g % 2000 + 1, g FROM generate_series(1, 2000) g;
INSERT INTO sp_tags SELECT g, 't' || g FROM generate_series(1, 500) g;
CREATE PUBLICATION sp_pub FOR TABLE sp_users, sp_orders, sp_tags;
SQL
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
for t in users orders tags; do   # the queue consumer's copy starts from the rows at the slot's point
    psql_q -c "SELECT (SELECT json_object_agg(key, value) FROM json_each_text(row_to_json(t))) FROM sp_$t t" >"$WORK/seed.sp_$t"
done
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0

# pgbench: every statement its own transaction, on ids 100-3000 only (the migrations below update
# ids 1-10 before their ALTER TABLE: a pgbench statement waiting on one of those rows while holding
# its lock on the table would deadlock with the ALTER). It uses only columns no step changes but
# for total's type, which its statements survive.
cat >"$WORK/main.sql" <<'SQL'
\set id random(100, 3000)
\set other random(100, 3000)
\set coin random(1, 4)
INSERT INTO sp_users (id, email) VALUES (:id, 'p' || :id) ON CONFLICT (id) DO UPDATE SET email = sp_users.email || '.';
DELETE FROM sp_users WHERE id = :other AND :coin = 1;
INSERT INTO sp_orders (id, user_id, total) VALUES (:other, :id, :coin) ON CONFLICT (id) DO UPDATE SET total = sp_orders.total + 1;
DELETE FROM sp_orders WHERE id = :id AND :coin = 2;
SQL
cat >"$WORK/tags.sql" <<'SQL'
\set id random(100, 1000)
INSERT INTO sp_tags (id, label) VALUES (:id, 'b' || :id) ON CONFLICT (id) DO UPDATE SET label = sp_tags.label || '+';
DELETE FROM sp_tags WHERE id = :id + 1;
SQL
start_bench() {   # start_bench NAME SCRIPT: pgbench in the background until stop_bench NAME
    "$pgbench" -n -c 2 -j 2 -R 150 -T 600 -f "$WORK/$2" >"$WORK/pgbench.$1.out" 2>&1 &
    echo $! >"$WORK/pgbench.$1.pid"
}
stop_bench() {   # stop_bench NAME: stop it; it must not have failed (a failed statement aborts a client)
    local pid
    pid=$(cat "$WORK/pgbench.$1.pid")
    kill -TERM "$pid" 2>/dev/null || true   # (SIGINT: ignored by a background job of a script)
    wait "$pid" 2>/dev/null || true
    if grep -q -E "aborted|ERROR" "$WORK/pgbench.$1.out"; then
        fail "pgbench $1: $(grep -m1 -E "aborted|ERROR" "$WORK/pgbench.$1.out")"
    fi
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
start_bench main main.sql
start_bench tags tags.sql

# A marker row in each table through the stream: D1 has caught up when it has all three.
marker=9000
caught_up() {
    marker=$((marker + 1))
    psql_q -c "INSERT INTO sp_users (id, email) VALUES ($marker, 'marker')" \
        -c "INSERT INTO sp_orders (id, user_id, total) VALUES ($marker, 1, 0)" \
        -c "INSERT INTO sp_tags (id, label) VALUES ($marker, 'marker')" >/dev/null
    local _
    for _ in $(seq 1 360); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT (SELECT count(*) FROM sp_users WHERE id = $marker) +
            (SELECT count(*) FROM sp_orders WHERE id = $marker) + (SELECT count(*) FROM sp_tags WHERE id = $marker)" \
            2>/dev/null)" = 3 ] && return 0
        sleep 0.25
    done
    return 1
}
columns_of() {   # columns_of TABLE: its live columns, in attnum order
    psql_q -c "SELECT string_agg(attname, ' ' ORDER BY attnum) FROM pg_attribute
               WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped"
}
textual() { jq -c -S 'with_entries(.value |= (if . == null then null else tostring end))'; }
pg_json() {   # Postgres' rows of TABLE as JSON objects over its live columns, values as text
    local c sel=""
    for c in $(columns_of "$1"); do sel+="${sel:+, }'$c', $c::text"; done
    psql_q -c "SELECT json_build_object($sel) FROM $1" | textual | LC_ALL=C sort
}
# Each check writes what it saw to $WORK/got.N and what Postgres has to $WORK/want.N.
check_d1() {   # check_d1 N TABLE
    local cols
    cols=$(columns_of "$2" | tr ' ' ',')
    psql_q -F '|' -c "SELECT $cols FROM $2 ORDER BY 1" >"$WORK/want.$1"
    sqlite3 -batch -noheader -separator '|' "$D1" "SELECT $cols FROM $2 ORDER BY 1" >"$WORK/got.$1" 2>&1 || true
}
check_kv() {   # check_kv N TABLE PREFIX: every key PREFIX:{id} and its value
    pg_json "$2" | jq -c -S --arg p "$3" '{k: ($p + ":" + .id), v: .}' | LC_ALL=C sort >"$WORK/want.$1"
    sqlite3 -batch -json "$KV" "SELECT key AS k, CAST(value AS TEXT) AS v FROM kv WHERE key LIKE '$3:%'" |
        jq -c '.[]? | {k, v: (.v | fromjson)}' | jq -c -S '.v |= with_entries(.value |= (if . == null then null else tostring end))' |
        LC_ALL=C sort >"$WORK/got.$1"
}
check_queue() {   # check_queue N TABLE: its events replayed in order
    pg_json "$2" >"$WORK/want.$1"
    jq -c -n --arg t "$2" --slurpfile seed "$WORK/seed.$2" -f "$(dirname "$0")/queue_replay.jq" "$SPOOL" | textual | LC_ALL=C sort >"$WORK/got.$1"
}
# compare_all WHAT: the load held still and D1 caught up, every target of every table equal to
# Postgres - at once, or within 90 s while run re-copies a table - then the load resumes.
compare_all() {
    local started=$SECONDS
    kill -STOP "$(cat "$WORK/pgbench.main.pid")" "$(cat "$WORK/pgbench.tags.pid")" 2>/dev/null || true
    caught_up || { fail "$1: D1 did not catch up to marker $marker"; tail -5 "$WORK/run.err" >&2; }
    local t n differ=() names=() until=$((SECONDS + ${SETTLE_SECONDS:-90}))
    while :; do
        n=0 differ=() names=()
        for t in users orders tags; do
            check_d1 $n "sp_$t"; names[n]="D1 sp_$t"; n=$((n + 1))
            check_kv $n "sp_$t" "$t"; names[n]="KV $t:*"; n=$((n + 1))
            check_queue $n "sp_$t"; names[n]="queue events of sp_$t replayed"; n=$((n + 1))
        done
        for n in "${!names[@]}"; do
            { [ -s "$WORK/want.$n" ] && cmp -s "$WORK/want.$n" "$WORK/got.$n"; } || differ+=("$n")
        done
        [ ${#differ[@]} = 0 ] || [ $SECONDS -ge $until ] && break
        sleep 1
    done
    for n in "${!names[@]}"; do
        if [[ " ${differ[*]} " == *" $n "* ]]; then
            fail "$1: ${names[n]} differs from Postgres"; diff "$WORK/want.$n" "$WORK/got.$n" | head -6 >&2 || true
        else
            pass "$1: ${names[n]} equals Postgres ($(wc -l <"$WORK/want.$n") rows)"
        fi
    done
    echo "# $1: compared in $((SECONDS - started)) s"
    kill -CONT "$(cat "$WORK/pgbench.main.pid")" "$(cat "$WORK/pgbench.tags.pid")" 2>/dev/null || true
}

sleep 2
compare_all "before any change"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sp_users SET name = 'before add' WHERE id = 1;
ALTER TABLE sp_users ADD COLUMN plan text NOT NULL DEFAULT 'free';
INSERT INTO sp_users (id, email, plan) VALUES (5000, 'new@x', 'pro');
UPDATE sp_users SET plan = 'team' WHERE id = 2;
COMMIT;
SQL
sleep 1
compare_all "ADD COLUMN with a default"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sp_users SET name = 'before rename' WHERE id = 3;
ALTER TABLE sp_users RENAME COLUMN name TO full_name;
UPDATE sp_users SET full_name = 'after rename' WHERE id = 4;
COMMIT;
SQL
sleep 1
compare_all "RENAME COLUMN"

psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sp_users SET score = 99 WHERE id = 5;
ALTER TABLE sp_users DROP COLUMN score;
INSERT INTO sp_users (id, email) VALUES (5001, 'd@x');
COMMIT;
SQL
sleep 1
compare_all "DROP COLUMN"

# a rewrite: the type change sends no row changes; run rebuilds the table and copies it again
psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE sp_orders SET total = 7 WHERE id = 6;
ALTER TABLE sp_orders ALTER COLUMN total TYPE bigint USING total * 1000;
UPDATE sp_orders SET total = total + 1 WHERE id = 7;
COMMIT;
SQL
sleep 2
compare_all "a rewrite by ALTER COLUMN TYPE"

# dropped and created again (its own load stopped meanwhile: pgbench's clients end at a missing table)
stop_bench tags
psql_q >/dev/null <<'SQL'
BEGIN;
DROP TABLE sp_tags;
CREATE TABLE sp_tags (id int PRIMARY KEY, label text, weight int DEFAULT 1);
INSERT INTO sp_tags (id, label) SELECT g, 'again ' || g FROM generate_series(1, 300) g;
COMMIT;
SQL
start_bench tags tags.sql
sleep 2
compare_all "a table dropped and created again"

stop_bench main
stop_bench tags
kill -0 "$run_pid" 2>/dev/null && pass "run never stopped" || { fail "run stopped"; tail -5 "$WORK/run.err" >&2; }
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || fail "run exit after SIGTERM"
n=$(psql_q -c "SELECT (SELECT count(*) FROM sp_users WHERE email LIKE 'p%') + (SELECT count(*) FROM sp_orders WHERE id >= 100 AND id <= 3000 AND user_id >= 100)")
[ "$n" -gt 100 ] && pass "pgbench wrote all along ($n rows of sp_users and sp_orders are its)" || fail "pgbench wrote little ($n rows)"

psql_q -c "SELECT pg_drop_replication_slot('sp_slot')" >/dev/null
finish
