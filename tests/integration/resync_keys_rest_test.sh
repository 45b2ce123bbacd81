#!/usr/bin/env bash
# `wal2edge resync` into the REST D1 (the local edge's Cloudflare API) of a table with a composite
# (text, integer) key and one with a uuid key, while `run` streams and a writer inserts, updates and
# deletes rows of both. D1 drifted before (rows missing, stale values) and has rows Postgres deleted
# while the tables were out of the publication, which only the resync's range deletes remove. The
# composite resync is killed with SIGKILL half way and resumes; afterwards D1 equals Postgres.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=rkr_slot TEST_PUBLICATION=rkr_pub
d1_use rest
DIR=$WORK/rkr
d1_config "$DIR" rkr_acct rkr_docs
TENANTS="'Acme', 'acme', 'acm' || chr(233), 'beta', 'Z z'"
COLL=$(psql_q -c "SELECT 'COLLATE \"' || collname || '\"' FROM pg_collation WHERE collname = 'en-x-icu'")
psql_q -c "CREATE TABLE rkr_acct (tenant text $COLL, n int, v text, PRIMARY KEY (tenant, n))" \
    -c "CREATE TABLE rkr_docs (id uuid PRIMARY KEY, v text)" \
    -c "CREATE PUBLICATION rkr_pub FOR TABLE rkr_acct, rkr_docs" \
    -c "INSERT INTO rkr_acct SELECT t, g, md5(t || g) FROM unnest(ARRAY[$TENANTS]) t, generate_series(1, 500) g" \
    -c "INSERT INTO rkr_docs SELECT gen_random_uuid(), md5(g::text) FROM generate_series(1, 1500) g" >/dev/null
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$DIR/w.jsonc" migrate
expect_rc migrate 0
psql_q -c "ALTER PUBLICATION rkr_pub DROP TABLE rkr_acct, rkr_docs" \
    -c "DELETE FROM rkr_acct WHERE n % 47 = 5" -c "DELETE FROM rkr_docs WHERE v < '2'" \
    -c "ALTER PUBLICATION rkr_pub ADD TABLE rkr_acct, rkr_docs" >/dev/null
for sql in "DELETE FROM rkr_acct WHERE n % 100 = 7" "UPDATE rkr_acct SET v = 'stale' WHERE n % 90 = 3" \
    "UPDATE rkr_docs SET v = 'stale' WHERE v LIKE 'e%'"; do
    d1_exec "$sql" || fail "drifting D1: $sql"
done
[ "$(d1_q "SELECT count(*) FROM rkr_acct WHERE n % 47 = 5")" -gt 0 ] && pass "D1 has rows Postgres deleted" ||
    fail "no rows to remove"

writer() {
    local i=0 t
    while [ -d "$WORK" ] && [ ! -e "$WORK/stop_writer" ]; do
        t=$(( i % 5 ))
        psql_q -c "UPDATE rkr_acct SET v = 'w$i' WHERE tenant = (ARRAY[$TENANTS])[$t + 1] AND n = $(( (i * 7919) % 500 + 1 ));
                   INSERT INTO rkr_acct VALUES ((ARRAY[$TENANTS])[$t + 1], $((1000 + i)), 'new$i');
                   DELETE FROM rkr_acct WHERE tenant = (ARRAY[$TENANTS])[($t + 2) % 5 + 1] AND n = $(( (i * 104729) % 500 + 1 ));
                   UPDATE rkr_docs SET v = 'w$i' WHERE id = (SELECT id FROM rkr_docs ORDER BY id OFFSET $(( (i * 31) % 1200 )) LIMIT 1);
                   INSERT INTO rkr_docs VALUES (gen_random_uuid(), 'new$i');
                   DELETE FROM rkr_docs WHERE id = (SELECT id FROM rkr_docs ORDER BY id OFFSET $(( (i * 53) % 1200 )) LIMIT 1)" \
            >/dev/null 2>&1 || true
        i=$((i + 1))
        sleep 0.02
    done
}

"$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
writer &
writer_pid=$!

wait_streamed rkr_docs "'eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee', 'streaming'" "v = 'streaming'" d1_q

# (chunks of 20 rows: 25 chunks of 100 could all be sent between two looks at the progress file)
resync_killed_midway "$DIR/w.jsonc" public.rkr_acct 20 6 125
run_w2e rs2 --config "$DIR/w.jsonc" resync public.rkr_acct --chunk-rows 100
expect_rc rs2 0
expect_contains "$WORK/rs2.err" "resuming after key [" "the second resync resumes after a composite key"
run_w2e rs3 --config "$DIR/w.jsonc" resync public.rkr_docs --chunk-rows 100
expect_rc rs3 0

touch "$WORK/stop_writer"
wait "$writer_pid"
psql_q -c "INSERT INTO rkr_docs VALUES ('ffffffff-ffff-ffff-ffff-ffffffffffff', 'marker')" >/dev/null
for _ in $(seq 1 240); do
    [ "$(d1_q "SELECT count(*) FROM rkr_docs WHERE v = 'marker'")" = 1 ] && break
    sleep 0.25
done
d1_same "rkr_acct" "SELECT concat_ws('|', tenant, n, v) FROM rkr_acct" "SELECT tenant || '|' || n || '|' || v FROM rkr_acct"
d1_same "rkr_docs" "SELECT concat_ws('|', id, v) FROM rkr_docs" "SELECT id || '|' || v FROM rkr_docs"
grep -q "left out" "$WORK/run.err" && fail "a chunk was left out: $(grep -m1 "left out" "$WORK/run.err")" ||
    pass "every chunk the stream saw was applied"
kill -TERM "$run_pid"
wait "$run_pid" && pass "run drained on SIGTERM" || { fail "run exit"; tail -5 "$WORK/run.err" >&2; }
psql_q -c "SELECT pg_drop_replication_slot('rkr_slot')" >/dev/null
finish
