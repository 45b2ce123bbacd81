#!/usr/bin/env bash
# `wal2edge resync` of tables keyed by more than one integer column: a composite (text, integer)
# key whose text sorts differently bytewise than in the database's collation (upper case, "é",
# spaces), and a uuid key - into the embedded D1, KV and a queue, while `run` streams and a writer
# inserts, updates and deletes rows of both. Before the resync the targets drifted: rows missing,
# stale values, and rows Postgres deleted while the table was out of the publication (no delete
# in the stream: only the resync's range deletes remove them). The composite resync is killed
# with SIGKILL half way and resumes. Afterwards D1, KV and the queue's events replayed equal
# Postgres value by value. Also: an old one-column progress file still resumes, and a key of
# another type is refused with the supported ones named.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=rk_slot TEST_PUBLICATION=rk_pub
DIR=$WORK/rk
mkdir -p "$DIR/mappings"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"], "run": {"flush_interval_ms": 50}'
echo '{ "table": "public.rk_acct", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "a:{tenant}:{n}", "value": "row" } ] }' >"$DIR/mappings/acct.jsonc"
echo '{ "table": "public.rk_docs", "d1": { "database": "app" }, "queue": { "queue": "changes" },
        "kv": [ { "namespace": "cache", "key": "d:{id}", "value": "row" } ] }' >"$DIR/mappings/docs.jsonc"
echo '{ "table": "public.rk_old", "d1": { "database": "app" } }' >"$DIR/mappings/old.jsonc"
echo '{ "table": "public.rk_num", "d1": { "database": "app" } }' >"$DIR/mappings/num.jsonc"
KV=$DIR/state/kv/cache.sqlite
D1=$DIR/state/d1/app.sqlite
TENANTS="'Acme', 'acme', 'acm' || chr(233), 'beta', 'Z z', 'zed'"

# the tenant column in a language's collation where one exists ('acme' < 'Acme' < 'beta' < 'Z z'): the chunks
# must still be read in byte order (COLLATE "C"), the order D1 compares in
COLL=$(psql_q -c "SELECT 'COLLATE \"' || collname || '\"' FROM pg_collation WHERE collname = 'en-x-icu'")
psql_q -c "CREATE TABLE rk_acct (tenant text $COLL, n int, v text, PRIMARY KEY (tenant, n))" \
    -c "CREATE TABLE rk_docs (id uuid PRIMARY KEY, v text)" \
    -c "CREATE TABLE rk_old (id int PRIMARY KEY, v text)" \
    -c "CREATE TABLE rk_num (id numeric PRIMARY KEY, v text)" \
    -c "CREATE PUBLICATION rk_pub FOR TABLE rk_acct, rk_docs, rk_old, rk_num" \
    -c "INSERT INTO rk_acct SELECT t, g, md5(t || g) FROM unnest(ARRAY[$TENANTS]) t, generate_series(1, 1000) g" \
    -c "INSERT INTO rk_docs SELECT gen_random_uuid(), md5(g::text) FROM generate_series(1, 3000) g" \
    -c "INSERT INTO rk_old SELECT g, md5(g::text) FROM generate_series(1, 3000) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$DIR/w.jsonc" warm
expect_rc warm 0

# rows Postgres deletes while the tables are out of the publication: no delete reaches the stream
psql_q -c "ALTER PUBLICATION rk_pub DROP TABLE rk_acct, rk_docs" \
    -c "DELETE FROM rk_acct WHERE n % 97 = 5 OR (tenant = 'acm' || chr(233) AND n BETWEEN 400 AND 420)" \
    -c "DELETE FROM rk_docs WHERE v < '1'" \
    -c "ALTER PUBLICATION rk_pub ADD TABLE rk_acct, rk_docs" >/dev/null
gone_acct=$(psql_q -c "SELECT count(*) FROM rk_acct")
# D1 and KV drift too: rows missing, stale values
sqlite3 -cmd ".timeout 10000" "$D1" "DELETE FROM rk_acct WHERE n % 250 = 7; UPDATE rk_acct SET v = 'stale' WHERE n % 300 = 3;
               DELETE FROM rk_docs WHERE v LIKE 'f%'; UPDATE rk_docs SET v = 'stale' WHERE v LIKE 'e%';"
sqlite3 -cmd ".timeout 10000" "$KV" "DELETE FROM kv WHERE key LIKE 'a:beta:1%'; UPDATE kv SET value = '{\"v\":\"stale\"}' WHERE key LIKE 'a:Z z:2%';
               UPDATE kv SET value = '{\"v\":\"stale\"}' WHERE key LIKE 'd:a%';"
ghosts_d1() { sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT (SELECT count(*) FROM rk_acct) + (SELECT count(*) FROM rk_docs)"; }

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
# the stream alone does not remove the rows deleted out of the publication
psql_q -c "INSERT INTO rk_old VALUES (-1, 'marker')" >/dev/null
for _ in $(seq 1 200); do
    [ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT count(*) FROM rk_old WHERE id = -1")" = 1 ] && break
    sleep 0.1
done
[ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT count(*) FROM rk_acct WHERE n % 97 = 5")" -gt 0 ] &&
    pass "before the resync D1 still has rows Postgres deleted ($(ghosts_d1) rows in D1, $gone_acct + docs in Postgres)" ||
    fail "the stream removed the rows deleted out of the publication: the test proves nothing"

writer() {
    local i=0 t
    while [ -d "$WORK" ] && [ ! -e "$WORK/stop_writer" ]; do
        t=$(( i % 6 ))
        psql_q -c "UPDATE rk_acct SET v = 'w$i' WHERE tenant = (ARRAY[$TENANTS])[$t + 1] AND n = $(( (i * 7919) % 1000 + 1 ));
                   INSERT INTO rk_acct VALUES ((ARRAY[$TENANTS])[$t + 1], $((2000 + i)), 'new$i');
                   DELETE FROM rk_acct WHERE tenant = (ARRAY[$TENANTS])[($t + 3) % 6 + 1] AND n = $(( (i * 104729) % 1000 + 1 ));
                   UPDATE rk_docs SET v = 'w$i' WHERE id = (SELECT id FROM rk_docs ORDER BY id OFFSET $(( (i * 31) % 2500 )) LIMIT 1);
                   INSERT INTO rk_docs VALUES (gen_random_uuid(), 'new$i');
                   DELETE FROM rk_docs WHERE id = (SELECT id FROM rk_docs ORDER BY id OFFSET $(( (i * 53) % 2500 )) LIMIT 1)" \
            >/dev/null 2>&1 || true
        i=$((i + 1))
    done
}
writer &
writer_pid=$!

# the composite key: killed half way, then resumed
# (chunks of 60 rows: of 300, the kill came as late as chunk 15 of 20 on a sanitizer build)
resync_killed_midway "$DIR/w.jsonc" public.rk_acct 60 6 100
[ "$(jq -c .key "$PROGRESS")" = '["tenant","n"]' ] && [ "$(jq -r '.after | length' "$PROGRESS")" = 2 ] &&
    pass "the progress keeps both key columns: $(jq -c .after "$PROGRESS")" || fail "progress: $(cat "$PROGRESS")"
run_w2e rs2 --config "$DIR/w.jsonc" resync public.rk_acct --chunk-rows 300
expect_rc rs2 0
expect_contains "$WORK/rs2.err" "resuming after key [" "the second resync resumes after a composite key"
# the uuid key, in one go
run_w2e rs3 --config "$DIR/w.jsonc" resync public.rk_docs --chunk-rows 200
expect_rc rs3 0

# an old progress file (a one-column key's value as "after", no "key") still resumes
mkdir -p "$DIR/state/resync"
echo '{"run":"old-1","after":"1500","chunk":3,"rows":1500}' >"$DIR/state/resync/public.rk_old.json"
sqlite3 -cmd ".timeout 10000" "$D1" "UPDATE rk_old SET v = 'stale' WHERE id IN (10, 2000)"
run_w2e rs4 --config "$DIR/w.jsonc" resync public.rk_old --chunk-rows 500
expect_rc rs4 0
expect_contains "$WORK/rs4.err" "resuming after key 1500 (chunk 3)" "an old one-column progress file resumes"
expect_contains "$WORK/rs4.out" "3000 rows in 7 chunks" "after its key: the rows above 1500"
# a key of another type: refused, the supported ones named
run_w2e rs5 --config "$DIR/w.jsonc" resync public.rk_num
[ "$(rc_of rs5)" != 0 ] && pass "a numeric key is refused" || fail "a numeric key was accepted"
expect_contains "$WORK/rs5.err" "primary key column id is of type numeric" "the error names the column and its type"
expect_contains "$WORK/rs5.err" "smallint, integer, bigint, text, varchar or uuid" "and the supported types"

touch "$WORK/stop_writer"
wait "$writer_pid"
psql_q -c "INSERT INTO rk_docs VALUES ('ffffffff-ffff-ffff-ffff-ffffffffffff', 'marker')" >/dev/null
for _ in $(seq 1 240); do
    [ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT count(*) FROM rk_docs WHERE v = 'marker'")" = 1 ] && break
    sleep 0.25
done

same_rows "D1 rk_acct equals Postgres" "SELECT tenant, n, v FROM rk_acct" "$D1" "SELECT tenant, n, v FROM rk_acct"
same_rows "D1 rk_docs equals Postgres" "SELECT id, v FROM rk_docs" "$D1" "SELECT id, v FROM rk_docs"
same_rows "D1 rk_old equals Postgres above the old progress's key" "SELECT id, v FROM rk_old WHERE id > 1500" "$D1" \
    "SELECT id, v FROM rk_old WHERE id > 1500"
[ "$(sqlite3 -cmd ".timeout 10000" -batch -noheader "$D1" "SELECT v FROM rk_old WHERE id = 10")" = stale ] &&
    pass "and not below it: the old progress was resumed, not started over" || fail "rk_old was copied from the start"
same_rows "KV equals Postgres: every key and value" \
    "SELECT 'a:' || tenant || ':' || n, v, n::text FROM rk_acct UNION ALL SELECT 'd:' || id, v, '' FROM rk_docs" \
    "$KV" "SELECT key, json_extract(value, '$.v'), coalesce(json_extract(value, '$.n'), '') FROM kv"
grep -q "left out" "$WORK/run.err" && fail "a chunk was left out: $(grep -m1 "left out" "$WORK/run.err")" ||
    pass "every chunk the stream saw was applied"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run.err" >&2; }

# the queue: c/u/d/r events replayed in order over empty tables give Postgres' rows
SPOOL=$DIR/state/queues/changes.ndjson
[ "$(jq -r 'select(.op == "r" and .source.table == "rk_acct") | .key.tenant' "$SPOOL" | sort -u | wc -l)" = 6 ] &&
    [ "$(jq -r 'select(.op == "r" and .source.table == "rk_docs") | .key.id' "$SPOOL" | sort -u | wc -l)" -gt 2000 ] &&
    pass "read events for every tenant and the uuid rows" ||
    fail "read events: $(jq -c 'select(.op == "r") | .key' "$SPOOL" | sort | uniq -c | head -3)"
jq -r 'select(.op == "r" or .op == "c" or .op == "u" or .op == "d") | select(.source.table == "rk_acct") |
       [.op, .key.tenant, (.key.n | tostring), (.after.v // "")] | @tsv' "$SPOOL" |
    awk -F'\t' '{ k = $2 "|" $3; if ($1 == "d") delete row[k]; else row[k] = $4 } END { for (k in row) print k "|" row[k] }' |
    LC_ALL=C sort >"$WORK/replayed"
psql_q -F '|' -c "SELECT tenant, n, v FROM rk_acct" | LC_ALL=C sort >"$WORK/pg_rows"
if cmp -s "$WORK/replayed" "$WORK/pg_rows"; then pass "rk_acct's queue events replayed give Postgres' rows ($(wc -l <"$WORK/pg_rows"))"; else
    fail "rk_acct's replayed queue events differ"; diff "$WORK/replayed" "$WORK/pg_rows" | head -5 >&2 || true; fi
jq -r 'select(.op == "r" or .op == "c" or .op == "u" or .op == "d") | select(.source.table == "rk_docs") |
       [.op, .key.id, (.after.v // "")] | @tsv' "$SPOOL" |
    awk -F'\t' '{ if ($1 == "d") delete row[$2]; else row[$2] = $3 } END { for (k in row) print k "|" row[k] }' |
    LC_ALL=C sort >"$WORK/replayed"
psql_q -F '|' -c "SELECT id, v FROM rk_docs" | LC_ALL=C sort >"$WORK/pg_rows"
if cmp -s "$WORK/replayed" "$WORK/pg_rows"; then pass "rk_docs's queue events replayed give Postgres' rows ($(wc -l <"$WORK/pg_rows"))"; else
    fail "rk_docs's replayed queue events differ"; diff "$WORK/replayed" "$WORK/pg_rows" | head -5 >&2 || true; fi

psql_q -c "SELECT pg_drop_replication_slot('rk_slot')" >/dev/null
finish
