#!/usr/bin/env bash
# source.failover_slot against the real server: on PostgreSQL 15/16 the slot is created as before
# (no FAILOVER option), `true` asked of such a server is refused by name before any slot exists, and
# doctor and status say "n/a"; on 17+ (not available here) the slot must come out a failover slot.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=failover_slot_test
version=$(psql_q -c "SHOW server_version_num")
slot_count() { psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }
cfg_with() {   # cfg_with FILE FAILOVER_MEMBER
    cat >"$1" <<JSONC
{
  "source": { "dsn": "\${DATABASE_URL}", "slot": "$TEST_SLOT"$2 },
  "state_dir": "state-$(basename "$1" .jsonc)",
  "d1": { "app": {} }
}
JSONC
}
cd "$WORK"
cfg_with "$WORK/on.jsonc" ', "failover_slot": true'
cfg_with "$WORK/auto.jsonc" ''
cfg_with "$WORK/off.jsonc" ', "failover_slot": false'

if [ "$version" -lt 170000 ]; then
    # true on a server without failover slots: a configuration error naming the key and the release
    run_w2e on_create --config "$WORK/on.jsonc" slot create
    expect_rc on_create 2
    expect_contains "$WORK/on_create.err" "source.failover_slot is true but the server is PostgreSQL $((version / 10000))."
    expect_contains "$WORK/on_create.err" "failover slots need PostgreSQL 17 or later"
    [ "$(slot_count)" = 0 ] && pass "no slot was created" || fail "a slot was created despite the refusal"
    run_w2e on_doctor --config "$WORK/on.jsonc" doctor --json
    jq -e '[.checks[] | select(.name == "failover_slot" and .status == "fail")] | length == 1' \
        "$WORK/on_doctor.out" >/dev/null && pass "doctor fails failover_slot" ||
        fail "doctor on failover_slot true: $(cat "$WORK/on_doctor.out")"
fi

# Unset: the slot is created the way the server allows, two-phase from 15 (failover wins on 17).
run_w2e auto_create --config "$WORK/auto.jsonc" slot create
expect_rc auto_create 0
[ "$(slot_count)" = 1 ] && pass "the slot exists" || fail "slot create made no slot"
if [ "$version" -lt 170000 ]; then
    # run refuses true too, although the slot exists now (nothing to create)
    run_w2e on_run --config "$WORK/on.jsonc" run --target-log "$WORK/tl.ndjson" --exit-when-caught-up
    expect_rc on_run 2
    expect_contains "$WORK/on_run.err" "source.failover_slot is true but the server is PostgreSQL"
fi
if [ "$version" -ge 170000 ]; then
    [ "$(psql_q -c "SELECT failover FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")" = t ] &&
        pass "a failover slot on $version" || fail "not a failover slot on $version"
    want_label=yes want_json=true
else
    [ "$(psql_q -c "SELECT two_phase FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")" = t ] &&
        pass "two-phase as before on $version" || fail "the slot lost two-phase on $version"
    want_label=n/a want_json=null
fi
run_w2e auto_status --config "$WORK/auto.jsonc" status
expect_contains "$WORK/auto_status.out" "failover slot        $want_label"
run_w2e auto_status_json --config "$WORK/auto.jsonc" status --json
jq -e ".failover_slot == $want_json" "$WORK/auto_status_json.out" >/dev/null &&
    pass "status --json failover_slot is $want_json" || fail "status --json: $(cat "$WORK/auto_status_json.out")"
run_w2e auto_doctor --config "$WORK/auto.jsonc" doctor --json
jq -e '[.checks[] | select(.name == "failover_slot" and .status == "ok")] | length == 1' \
    "$WORK/auto_doctor.out" >/dev/null && pass "doctor: failover_slot ok" ||
    fail "doctor failover_slot: $(cat "$WORK/auto_doctor.out")"
jq -e --arg l "$want_label" '[.checks[] | select(.name == "failover_slot") | .message | contains($l)] == [true]' \
    "$WORK/auto_doctor.out" >/dev/null && pass "doctor says failover: $want_label" ||
    fail "doctor failover_slot message: $(jq -c '.checks[] | select(.name == "failover_slot")' "$WORK/auto_doctor.out")"

# false is accepted on every release and the slot, already there, is left alone.
run_w2e off_doctor --config "$WORK/off.jsonc" doctor --json
jq -e '[.checks[] | select(.name == "failover_slot" and .status == "ok")] | length == 1' \
    "$WORK/off_doctor.out" >/dev/null && pass "doctor with failover_slot false: ok" ||
    fail "doctor failover_slot false: $(cat "$WORK/off_doctor.out")"

psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
finish
