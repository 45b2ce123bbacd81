#!/usr/bin/env bash
# Heartbeats and the WAL guard. On an idle database, `run` with source.heartbeat_interval_ms 500
# emits wal2edge.heartbeat messages: wal2edge_last_heartbeat_timestamp_seconds moves, the slot's
# confirmed position passes a WAL position taken while idle, and no heartbeat reaches the change
# log. With source.max_retained_wal_bytes below what the slot retains, the WAL guard warns in the
# log, /readyz answers 503 saying so, and `status` (text and --json) and `doctor` say so too. With heartbeats
# off none is sent; a role without EXECUTE on pg_logical_emit_message gets one warning and
# replication goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

export TEST_SLOT=metrics_heartbeat TEST_PUBLICATION=metrics_heartbeat_pub
psql_q <<'SQL' >/dev/null
CREATE TABLE mh_t (id int PRIMARY KEY);
CREATE PUBLICATION metrics_heartbeat_pub FOR TABLE mh_t;
SQL
config() {   # config HEARTBEAT_MS MAX_RETAINED
    write_config "$WORK/w.jsonc" "\"changelog\": {\"path\": \"$WORK/changes.ndjson\"},
  \"metrics\": { \"listen\": \"127.0.0.1:0\" }"
    sed -i "s|\"slot\": \"\${TEST_SLOT:-wal2edge_test}\"|&, \"heartbeat_interval_ms\": $1, \"max_retained_wal_bytes\": $2|" "$WORK/w.jsonc"
}
start_run() { start_metrics_run "$WORK/w.jsonc" --log-level debug; }
stop_run() { kill -TERM $run_pid; wait $run_pid || fail "run exits $? on SIGTERM"; }
trap 'rc=$?; if [ -n "${run_pid:-}" ]; then kill $run_pid 2>/dev/null || true; fi; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
value() { metric_value "$1"; }

config 500 10737418240
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
start_run
sleep 1
idle_lsn=$(psql_q -c "SELECT pg_current_wal_lsn()")
hb1=""
for _ in $(seq 50); do hb1=$(value wal2edge_last_heartbeat_timestamp_seconds); [ "${hb1:-0}" != 0 ] && break; sleep 0.2; done
[ "${hb1:-0}" != 0 ] && pass "a heartbeat came back through the stream (at $hb1)" || fail "no heartbeat seen"
sleep 2.5
hb2=$(value wal2edge_last_heartbeat_timestamp_seconds)
awk -v a="$hb1" -v b="$hb2" 'BEGIN { exit !(b > a) }' && pass "the heartbeat gauge moves ($hb1 -> $hb2)" ||
    fail "the heartbeat gauge stays at $hb2"
passed=no
for _ in $(seq 40); do
    [ "$(psql_q -c "SELECT confirmed_flush_lsn >= '$idle_lsn' FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")" = t ] &&
        { passed=yes; break; }
    sleep 0.5
done
[ $passed = yes ] && pass "the idle slot's confirmed position passes $idle_lsn" || fail "the idle slot stays behind $idle_lsn"
retained=$(value 'wal2edge_slot_retained_wal_bytes{slot="metrics_heartbeat"}')
[ -n "$retained" ] && [ "$retained" -lt 67108864 ] && pass "retained WAL on the idle database is bounded ($retained bytes)" ||
    fail "retained WAL is $retained bytes"
code=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "$base/readyz")
[ "$code" = 200 ] && pass "/readyz 200 under the WAL limit" || fail "/readyz $code: $(cat "$WORK/readyz")"
expect_not_contains "$WORK/changes.ndjson" "wal2edge.heartbeat" "no heartbeat in the change log"
expect_not_contains "$WORK/changes.ndjson" '"changes":0' "a transaction holding only a heartbeat reaches no target"
grep -q 'heartbeat sent' "$WORK/run.err" && pass "run logs its heartbeats at debug level" || fail "no heartbeat logged"
stop_run

# the WAL guard: a limit of 1 byte is always exceeded
config 500 1
start_run
code=""
for _ in $(seq 50); do
    code=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "$base/readyz")
    # (the log line too: the guard sets what /readyz says, then logs it)
    grep -q "max_retained_wal_bytes" "$WORK/readyz" && grep -q 'over source.max_retained_wal_bytes (1)' "$WORK/run.err" && break
    sleep 0.2
done
[ "$code" = 503 ] && pass "/readyz 503 over the WAL limit: $(cat "$WORK/readyz")" || fail "/readyz $code: $(cat "$WORK/readyz")"
expect_contains "$WORK/readyz" 'over source.max_retained_wal_bytes (1)'
expect_contains "$WORK/run.err" 'over source.max_retained_wal_bytes (1)'
# lag_seconds needs a transaction every target has (heartbeats reach no target): one row of
# a published table (otherwise only a moment when the slot is at the server's WAL end shows
# it, and other databases of the same server move that end)
psql_q -c "CREATE TABLE hb_lag (id int PRIMARY KEY)" -c "ALTER PUBLICATION $TEST_PUBLICATION ADD TABLE hb_lag" \
    -c "INSERT INTO hb_lag VALUES (1)" >/dev/null
for _ in $(seq 50); do
    "$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status --json 2>/dev/null | jq -e '.lag_seconds != null' >/dev/null && break
    sleep 0.2
done
run_w2e status --config "$WORK/w.jsonc" status
expect_contains "$WORK/status.out" 'warning              the slot retains'
run_w2e status_json --config "$WORK/w.jsonc" status --json
[ "$(jq -r '.warnings[0]' "$WORK/status_json.out")" != null ] && [ "$(jq -r '.max_retained_wal_bytes' "$WORK/status_json.out")" = 1 ] &&
    pass "status --json carries the guard's warning and limit" || fail "status --json: $(cat "$WORK/status_json.out")"
[ "$(jq -r '.lag_seconds' "$WORK/status_json.out")" != null ] && pass "status --json carries lag_seconds" ||
    fail "status --json has no lag_seconds"
run_w2e doctor --config "$WORK/w.jsonc" doctor
expect_contains "$WORK/doctor.out" 'retains' "doctor warns about the retained WAL too"
expect_contains "$WORK/doctor.out" 'over source.max_retained_wal_bytes (1)'
stop_run

# heartbeats off: the gauge stays 0
config 0 10737418240
start_run
sleep 2
# (a heartbeat the previous run sent just before it stopped may still come back: count the sent ones)
grep -q 'heartbeat sent' "$WORK/run.err" && fail "a heartbeat with heartbeat_interval_ms 0" ||
    pass "no heartbeat with heartbeat_interval_ms 0"
stop_run

# a role that may not emit messages: one warning, no heartbeat, replication goes on
psql_q <<'SQL' >/dev/null
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'metrics_hb_role') THEN
        CREATE ROLE metrics_hb_role LOGIN REPLICATION PASSWORD 'metrics-hb-pw';
    END IF;
END $$;
GRANT SELECT ON mh_t TO metrics_hb_role;
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
SQL
config 500 10737418240
DATABASE_URL="postgresql://metrics_hb_role:metrics-hb-pw@$PGHOST:$PGPORT/$PGDATABASE" start_run
psql_q -c "INSERT INTO mh_t VALUES (1)" >/dev/null
for _ in $(seq 50); do grep -q '"new":{"id":"1"}' "$WORK/changes.ndjson" 2>/dev/null && break; sleep 0.2; done
for _ in $(seq 50); do grep -q 'heartbeats are off' "$WORK/run.err" && break; sleep 0.2; done
sleep 1.5 # three more intervals: still said once
expect_contains "$WORK/run.err" 'heartbeats are off: ' "without EXECUTE on pg_logical_emit_message run says heartbeats are off"
expect_contains "$WORK/changes.ndjson" '"new":{"id":"1"}' "and replication goes on"
[ "$(grep -c 'heartbeats are off' "$WORK/run.err")" = 1 ] && pass "said once" || fail "said $(grep -c 'heartbeats are off' "$WORK/run.err") times"
grep -q 'heartbeat sent' "$WORK/run.err" && fail "a heartbeat without the privilege" ||
    pass "no heartbeat without the privilege"
stop_run
give_slot_back
finish
