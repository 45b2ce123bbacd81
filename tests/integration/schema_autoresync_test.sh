#!/usr/bin/env bash
# A change that rewrites a table (ALTER COLUMN ... TYPE that converts every value, without a row
# change in the stream) while `run` streams and a writer keeps changing the table: run rebuilds the
# embedded D1 table in the new shape (a migration file too), copies the table again itself and
# goes on; afterwards D1 and KV equal Postgres value by value and the queue got the schema event and
# the rows again as read events; D1's and KV's requests for a re-copy at the rewrite get one copy.
# A second rewrite while run copies a 100,000-row table after a first: the copy, partly read
# before it, is made again. Then a rewrite of that table with run killed (SIGKILL) during its
# automatic re-copy: the next run resumes it and the targets end equal.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schema_lib.sh"

export TEST_SLOT=ar_slot TEST_PUBLICATION=ar_pub
DIR=$WORK/ar
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {"migrations_dir": "migrations"}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.ar_users", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "u:{id}", "value": "row" } ],
        "queue": { "queue": "changes" } }' >"$DIR/mappings/users.jsonc"
echo '{ "table": "public.ar_big", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "b:{id}", "value": "row" } ] }' \
    >"$DIR/mappings/big.jsonc"
D1=$DIR/state/d1/app.sqlite
KV=$DIR/state/kv/cache.sqlite
SPOOL=$DIR/state/queues/changes.ndjson

psql_q -c "CREATE TABLE ar_users (id bigint PRIMARY KEY, email text NOT NULL, score numeric(8,2))" \
    -c "CREATE TABLE ar_big (id bigint PRIMARY KEY, v int, email text)" \
    -c "CREATE PUBLICATION ar_pub FOR TABLE ar_users, ar_big" \
    -c "INSERT INTO ar_users SELECT g, 'u' || g || '@x', g * 1.25 FROM generate_series(1, 3000) g" \
    -c "INSERT INTO ar_big SELECT g, g, 'b' || g FROM generate_series(1, 100000) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0

kv_equal() {   # TABLE PREFIX WHAT: one key per row, its value's columns those of Postgres
    local cols
    cols=$(psql_q -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute
                      WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped")
    psql_q -F '|' -c "SELECT '$2' || id, $(sed 's/\([a-z_][a-z_]*\)/coalesce(\1::text, '"''"')/g' <<<"$cols") FROM $1 ORDER BY 1" >"$WORK/pg_kv"
    sqlite3 -batch -noheader -separator '|' "$KV" "SELECT key, $(sed "s/\([a-z_][a-z_]*\)/coalesce(json_extract(value, '$.\1'), '')/g" <<<"$cols")
                                                   FROM kv WHERE key LIKE '$2%' ORDER BY 1" >"$WORK/kv_rows"
    if cmp -s "$WORK/pg_kv" "$WORK/kv_rows"; then pass "$3: KV equals Postgres ($(wc -l <"$WORK/kv_rows") keys)"; else
        fail "$3: KV differs from Postgres"; diff "$WORK/pg_kv" "$WORK/kv_rows" | head -5 >&2 || true; fi
}
wait_marker() {   # TABLE ID: a row written now reached D1 and KV (everything before it did)
    local key=u:$2
    [ "$1" = ar_big ] && key=b:$2
    psql_q -c "INSERT INTO $1 (id, email) VALUES ($2, 'marker')" >/dev/null
    # KV too: run flushes the targets one after the other, so D1 having it says nothing of KV yet
    for _ in $(seq 1 400); do
        [ "$(sqlite3 -batch -noheader "$D1" "SELECT count(*) FROM $1 WHERE id = $2" 2>/dev/null)" = 1 ] &&
            [ "$(sqlite3 -batch -noheader "$KV" "SELECT count(*) FROM kv WHERE key = '$key'" 2>/dev/null)" = 1 ] && return 0
        sleep 0.25
    done
    fail "D1 and KV did not catch up to marker $2 of $1"
}
wait_resynced() {   # TABLE: run sent every chunk of its re-copy
    for _ in $(seq 1 600); do
        [ ! -e "$DIR/state/resync/$1.json" ] && [ ! -e "$DIR/state/resync/$1.again" ] && return 0
        sleep 0.2
    done
    return 1
}

# --- 1: a rewrite under a writer ---
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer ar_users &
writer_pid=$!
sleep 1
psql_q >/dev/null <<'SQL'
BEGIN;
UPDATE ar_users SET score = 7.75 WHERE id = 1;
ALTER TABLE ar_users ALTER COLUMN score TYPE int USING round(score * 3)::int;
INSERT INTO ar_users (id, email, score) VALUES (5000, 'after@x', 42);
COMMIT;
SQL
# a row written after the rewrite reached D1 first: run has seen the rewrite and queued its re-copy
# (its progress file is on disk before D1 goes on), so no progress file now means the copy was sent
wait_marker ar_users 9000
wait_resynced public.ar_users && pass "run copied the rewritten table again by itself" || fail "no re-copy after the rewrite"
pause_writer
wait_marker ar_users 9001
kill -0 "$run_pid" 2>/dev/null && pass "run goes on after the rewrite" || { fail "run stopped"; tail -5 "$WORK/run.err" >&2; }
compare_table ar_users "$D1" "after the rewrite under writes"
kv_equal ar_users u: "after the rewrite under writes"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT type FROM pragma_table_info('ar_users') WHERE name = 'score'")" = INTEGER ] &&
    pass "the D1 column has the new type" || fail "D1 type of score: $(sqlite3 "$D1" "SELECT type FROM pragma_table_info('ar_users') WHERE name = 'score'")"
[ "$(sqlite3 -batch -noheader "$D1" "SELECT typeof(score) FROM ar_users WHERE id = 2")" = integer ] &&
    pass "and its values are stored as the new type" || fail "typeof score: $(sqlite3 "$D1" "SELECT typeof(score) FROM ar_users WHERE id = 2")"
expect_contains "$WORK/run.err" "D1 table \\\"ar_users\\\" rebuilt in the new shape, and its rows are copied again" "run logs the rebuild"
# D1 (its table rebuilt) and KV (its values) each ask for a re-copy at the rewrite: one copy answers both
[ "$(grep -c 'resync public.ar_users: copying' "$WORK/run.err")" = 1 ] && grep -q 'resync public.ar_users: .*answers' "$WORK/run.err" &&
    pass "one copy answers both targets' requests" ||
    fail "copies of ar_users: $(grep -o 'resync public.ar_users: [a-z ]*' "$WORK/run.err" | sort | uniq -c | tr '\n' ';')"
mig=$(ls "$DIR/migrations" | tail -1)
expect_contains "$DIR/migrations/$mig" "INSERT OR REPLACE INTO \"_wal2edge_rebuild_ar_users\"" "the rebuild is written as a migration"
# the migration, applied to the table as it was before, gives the live table's columns and types
sqlite3 "$WORK/replay.sqlite" "CREATE TABLE ar_users (id INTEGER NOT NULL, email TEXT NOT NULL, score REAL, PRIMARY KEY (id));
                               INSERT INTO ar_users VALUES (1, 'a', 1.5)"
sqlite3 "$WORK/replay.sqlite" <"$DIR/migrations/$mig"
[ "$(sqlite3 "$WORK/replay.sqlite" "SELECT group_concat(name || ' ' || type) FROM pragma_table_info('ar_users')")" = \
  "$(sqlite3 "$D1" "SELECT group_concat(name || ' ' || type) FROM pragma_table_info('ar_users')")" ] &&
    pass "the migration replayed gives the live D1 table" || fail "replayed migration differs"
# the queue: the schema event at the change, then every row again as a read event with the new type
# the queue: the schema event at the change, then every row again as a read event with the new type
r_after=$(jq -rs '(map(.op == "s" and .ddl.table == "ar_users") | indices(true) | last) as $s
                  | if $s == null then "no schema event" else .[$s:] | map(select(.op == "r" and (.after.id | tostring) == "2"))
                    | last | .after.score | tostring end' "$SPOOL")
[ "$r_after" = "$(psql_q -c "SELECT score FROM ar_users WHERE id = 2")" ] &&
    pass "the queue has the schema event, then the rows again as read events in the new type ($r_after)" ||
    fail "read event of id 2 after the rewrite: $r_after"
resume_writer
touch "$WORK/stop_writer"
wait "$writer_pid"

# --- 1b: a second rewrite while run copies the table again after a first: the chunks read before
# it hold the first one's values, so that copy starts over (or a new one follows it) ---
psql_q -c "ALTER TABLE ar_big ALTER COLUMN v TYPE bigint USING v * 3" >/dev/null
# (up to ~60 s: on a slow build a second rewrite before the first chunk would rightly join the copy)
for _ in $(seq 1 1000); do
    [ "$(jq -r .chunk "$DIR/state/resync/public.ar_big.json" 2>/dev/null || echo 0)" -ge 3 ] && break
    sleep 0.05
done
psql_q -c "ALTER TABLE ar_big ALTER COLUMN v TYPE int USING v + 1" >/dev/null
wait_marker ar_big 999990
wait_resynced public.ar_big || fail "the re-copy after the second rewrite is still pending"
wait_marker ar_big 999991
compare_table ar_big "$D1" "after a rewrite during the copy of another"
kv_equal ar_big b: "after a rewrite during the copy of another"
[ "$(grep -c 'resync public.ar_big: copying' "$WORK/run.err")" -ge 2 ] &&
    pass "the second rewrite copies the table again" || fail "one copy of ar_big for two rewrites"
psql_q -c "DELETE FROM ar_big WHERE id IN (999990, 999991)" >/dev/null

# --- 2: run killed with SIGKILL during its own re-copy of a 100,000-row table ---
rm -f "$WORK/stop_writer"
psql_q -c "ALTER TABLE ar_big ALTER COLUMN v TYPE text USING (v * 2)::text" >/dev/null
for _ in $(seq 1 1000); do   # up to ~60 s on a slow (sanitizer) build; the kill comes at chunk 5 all the same
    [ -f "$DIR/state/resync/public.ar_big.json" ] &&
        [ "$(jq -r .chunk "$DIR/state/resync/public.ar_big.json" 2>/dev/null || echo 0)" -ge 5 ] && break
    sleep 0.05
done
kill -KILL "$run_pid"
wait "$run_pid" 2>/dev/null || true
chunk=$(jq -r .chunk "$DIR/state/resync/public.ar_big.json" 2>/dev/null || echo gone)
[ "$chunk" != gone ] && [ "$chunk" -ge 1 ] && [ "$chunk" -lt 100 ] &&
    pass "run killed during its re-copy (chunk $chunk of 100)" || fail "run not killed during its re-copy ($chunk)"
"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run2.out" 2>"$WORK/run2.err" &
run_pid=$!
writer ar_big &
writer_pid=$!
wait_resynced public.ar_big && pass "the next run ended the re-copy" || fail "the re-copy is still pending"
expect_contains "$WORK/run2.err" "resync public.ar_big: left unfinished by an earlier run" "the next run resumes it"
touch "$WORK/stop_writer"
wait "$writer_pid"
wait_marker ar_big 999999
compare_table ar_big "$D1" "after a kill -9 during the automatic re-copy"
kv_equal ar_big b: "after a kill -9 during the automatic re-copy"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run2.err" >&2; }

psql_q -c "SELECT pg_drop_replication_slot('ar_slot')" >/dev/null
finish
