#!/usr/bin/env bash
# `wal2edge status` and `doctor` on a slot whose WAL is going (unreserved) or gone (lost), and
# `status --json` when Postgres cannot be reached. The slot is provoked on a throwaway cluster of
# this test's own, where max_slot_wal_keep_size may be changed (the shared one is left alone).
source "$(dirname "$0")/lib.sh"

# Nothing listening: status exits 1, says why on stderr, and --json still prints JSON.
write_config "$WORK/c.jsonc" '"d1": {"app": {}}'
DATABASE_URL="postgresql://wal2edge:wal2edge-local@127.0.0.1:1/x?connect_timeout=3" \
    run_w2e refused --config "$WORK/c.jsonc" status
expect_rc refused 1
expect_contains "$WORK/refused.err" "cannot connect to the source database"
expect_not_contains "$WORK/refused.err" $'\t' "the libpq message has no tab in it"
DATABASE_URL="postgresql://wal2edge:wal2edge-local@127.0.0.1:1/x?connect_timeout=3" \
    run_w2e refused_json --config "$WORK/c.jsonc" status --json
expect_rc refused_json 1
jq -e '.ok == false and .exit_code == 1 and .error_code == "ERR_PG_CONNECT" and (.error | contains("cannot connect to the source database"))' \
    "$WORK/refused_json.out" >/dev/null && pass "status --json prints a JSON error" ||
    fail "status --json on error: $(cat "$WORK/refused_json.out")"
# a config error is JSON too (exit 2)
run_w2e badcfg_json --config "$WORK/missing.jsonc" status --json
expect_rc badcfg_json 2
jq -e '.ok == false and .exit_code == 2' "$WORK/badcfg_json.out" >/dev/null && pass "status --json: config error as JSON" ||
    fail "status --json on a config error: $(cat "$WORK/badcfg_json.out")"

# A throwaway cluster of our own: a slot that falls behind max_slot_wal_keep_size.
lost_env=(PG_LOCAL_DIR="$WORK/pg-lost" PG_LOCAL_PORT="${DOCTOR_LOST_PORT:-54347}")
cleanup_lost() { env "${lost_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" wipe >/dev/null 2>&1 || true; }
trap 'cleanup_lost; rm -rf "$WORK"' EXIT
env "${lost_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" start >/dev/null
lost_url=$(env "${lost_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" env | sed -n 's/^export DATABASE_URL=//p')
lq() { psql -X -q -v ON_ERROR_STOP=1 -At "$lost_url" "$@"; }
lq -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
lq -c "CREATE TABLE IF NOT EXISTS filler (x text)" >/dev/null
export TEST_SLOT=doctor_lost_slot
lq -c "SELECT pg_create_logical_replication_slot('doctor_lost_slot', 'pgoutput')" >/dev/null

DATABASE_URL=$lost_url run_w2e reserved --config "$WORK/c.jsonc" status
expect_rc reserved 0

# Two WAL segments past the slot, no checkpoint yet: unreserved.
for _ in 1 2; do lq -c "INSERT INTO filler SELECT repeat('x', 100) FROM generate_series(1, 10)" -c "SELECT pg_switch_wal()" >/dev/null; done
wal_status=$(lq -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'doctor_lost_slot'")
if [ "$wal_status" = unreserved ]; then
    # unreserved is a warning (lost is the error), said everywhere; status still exits 1 so
    # a monitor sees it before a checkpoint invalidates the slot
    DATABASE_URL=$lost_url run_w2e unreserved --config "$WORK/c.jsonc" status
    expect_rc unreserved 1
    expect_contains "$WORK/unreserved.out" "wal_status           unreserved"
    expect_contains "$WORK/unreserved.out" "warning              the slot is unreserved (wal_status unreserved)"
    expect_contains "$WORK/unreserved.err" 'wal2edge: warning: replication slot "doctor_lost_slot" is unreserved'
    DATABASE_URL=$lost_url run_w2e unreserved_json --config "$WORK/c.jsonc" status --json
    expect_rc unreserved_json 1
    jq -e '.ok == false and .wal_status == "unreserved" and (.problems | length == 0) and (.warnings | length == 1)' \
        "$WORK/unreserved_json.out" >/dev/null &&
        pass "status --json: unreserved is a warning" || fail "status --json unreserved: $(cat "$WORK/unreserved_json.out")"
    DATABASE_URL=$lost_url run_w2e doctor_unreserved --config "$WORK/c.jsonc" doctor
    expect_contains "$WORK/doctor_unreserved.out" 'replication slot "doctor_lost_slot" is unreserved'
else
    fail "could not provoke an unreserved slot (wal_status $wal_status)"
fi

# A checkpoint removes the segments: lost.
lq -c "CHECKPOINT" >/dev/null
wal_status=$(lq -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'doctor_lost_slot'")
if [ "$wal_status" = lost ]; then
    DATABASE_URL=$lost_url run_w2e lost --config "$WORK/c.jsonc" status
    expect_rc lost 1
    expect_contains "$WORK/lost.out" "wal_status           lost"
    expect_contains "$WORK/lost.err" "the slot is invalidated (wal_status lost)"
    DATABASE_URL=$lost_url run_w2e lost_json --config "$WORK/c.jsonc" status --json
    expect_rc lost_json 1
    jq -e '.ok == false and .wal_status == "lost" and .retained_wal_bytes == null' "$WORK/lost_json.out" >/dev/null &&
        pass "status --json: lost is a problem" || fail "status --json lost: $(cat "$WORK/lost_json.out")"
    DATABASE_URL=$lost_url run_w2e slot_info_lost --config "$WORK/c.jsonc" slot info
    expect_contains "$WORK/slot_info_lost.out" "retained WAL         unknown"
    expect_not_contains "$WORK/slot_info_lost.out" "-1 bytes"
    DATABASE_URL=$lost_url run_w2e doctor_lost --config "$WORK/c.jsonc" doctor
    expect_rc doctor_lost 1
    expect_contains "$WORK/doctor_lost.out" 'replication slot "doctor_lost_slot" is invalidated (wal_status lost)'
    expect_not_contains "$WORK/doctor_lost.out" "-1 bytes"
else
    fail "could not provoke a lost slot (wal_status $wal_status)"
fi

finish
