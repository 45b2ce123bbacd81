#!/usr/bin/env bash
# migrate into the embedded D1 file: schema with many types and foreign keys, every row copied
# and verified (counts and checksums reported and matching); a rerun restarts cleanly; then
# migrate --then-stream with writers running throughout, continuing as run, ending with D1
# identical to Postgres (nothing lost, nothing applied twice).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snapshot_lib.sh"
source "$(dirname "$0")/migrate_lib.sh"

export TEST_SLOT=w2e_mge_slot TEST_PUBLICATION=w2e_mge_pub
mig_cleanup w2e_mge
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'w2e_snap_%'" >/dev/null
mig_schema mge 5000 20000
cd "$WORK"
mkdir -p mappings
write_config w.jsonc '"d1": { "app": {} }, "mappings": ["mappings/*.jsonc"]'
for t in mge_types mge_users mge_items; do
    printf '{ "table": "public.%s", "d1": { "database": "app" } }\n' $t >mappings/$t.jsonc
done
DB=state/d1/app.sqlite

run_w2e m1 --config w.jsonc migrate --no-progress
expect_rc m1 0
expect_contains "$WORK/m1.out" "migrated 3 table(s), 25003 rows"
[ "$(grep -c ': ok$' m1.out)" = 3 ] && pass "3 tables verified (rows and checksum)" || fail "verification lines"
[ "$(sqlite3 $DB 'select count(*) from mge_items')" = 20000 ] && pass "items copied" || fail "items count"
[ "$(sqlite3 $DB "select i8 || ' ' || num || ' ' || tstz from mge_types where id = 1")" = \
  "9223372036854775807 12345678901234567890.123456789012345678 2026-11-02T08:00:00.5Z" ] &&
    pass "lossless values in D1" || fail "values: $(sqlite3 $DB 'select i8, num, tstz from mge_types where id = 1')"
[ "$(psql_q -c "SELECT string_agg(slot_name || ':' || temporary, ',') FROM pg_replication_slots WHERE database = current_database()")" = "w2e_mge_slot:false" ] &&
    pass "the configured slot is kept (permanent) at the copy's point, no helper slot left" ||
    fail "slots after migrate: $(psql_q -c "SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE database = current_database()")"

# a rerun restarts cleanly (rows replaced, not doubled)
psql_q -c "DELETE FROM mge_items WHERE id > 19000" >/dev/null
run_w2e m2 --config w.jsonc migrate --no-progress
expect_rc m2 0
[ "$(sqlite3 $DB 'select count(*) from mge_items')" = 19000 ] && pass "rerun: exactly the source rows" ||
    fail "rerun: $(sqlite3 $DB 'select count(*) from mge_items') items"

# --then-stream with writers running before, during and after the copy
mig_writer mge 19000 &
wpid=$!
sleep 0.5
"$WAL2EDGE_BIN" --config w.jsonc migrate --then-stream --no-progress >"$WORK/m3.out" 2>"$WORK/m3.err" &
mpid=$!
# (the copy of 24,000 rows under writers: a minute on a slow sanitizer build)
for _ in $(seq 600); do grep -q "continuing as" "$WORK/m3.err" && break; sleep 0.1; done
expect_contains "$WORK/m3.err" "continuing as \`wal2edge run\`"
sleep 2
touch "$WORK/stop"
wait $wpid
# wait for run to catch up with the last write
final=$(psql_q -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 100); do
    got=$(sqlite3 $DB "select commit_lsn from _wal2edge_state where slot = 'w2e_mge_slot'")
    [ -n "$got" ] && [ "$(psql_q -c "SELECT '$got'::pg_lsn >= (SELECT max(lsn) FROM (SELECT '$final'::pg_lsn - 200 AS lsn) s)")" = t ] && break
    sleep 0.2
done
sleep 1
kill -TERM $mpid 2>/dev/null || true; wait $mpid || true
same() {
    local t=$1 cols=$2
    psql_q -c "SELECT concat_ws('|', $cols) FROM $t" | LC_ALL=C sort >"$WORK/$t.pg"
    local sc
    sc=$(echo "$cols" | sed "s/, / || '|' || /g")
    sqlite3 $DB "SELECT $sc FROM $t" | LC_ALL=C sort >"$WORK/$t.d1"
    if cmp -s "$WORK/$t.pg" "$WORK/$t.d1"; then
        pass "$t identical in D1 and Postgres"
    else fail "$t differs: pg $(psql_q -c "select count(*) from $t") d1 $(sqlite3 $DB "select count(*) from $t")"; fi
}
same mge_items "id, user_id, name, price"
same mge_users "id, email, score"
mig_cleanup w2e_mge
finish
