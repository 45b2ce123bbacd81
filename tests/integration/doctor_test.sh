#!/usr/bin/env bash
# `wal2edge doctor` against the real local Postgres: a healthy setup, and each problem with its fix.
source "$(dirname "$0")/lib.sh"

psql_q -f "$WAL2EDGE_SOURCE_DIR/sql/demo.sql" >/dev/null
export TEST_SLOT=doctor_slot
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'doctor_%'" >/dev/null

write_config "$WORK/healthy.jsonc" '"d1": {"app": {}}, "kv": {"cache": {"namespace_id": ""}}'
run_w2e healthy --config "$WORK/healthy.jsonc" doctor
expect_rc healthy 0
expect_contains "$WORK/healthy.out" "wal_level is logical"
expect_contains "$WORK/healthy.out" 'role "wal2edge" is a superuser and may replicate'
expect_contains "$WORK/healthy.out" 'publication "wal2edge" publishes 4 tables'
expect_contains "$WORK/healthy.out" 'replication slot "doctor_slot" does not exist yet'
expect_contains "$WORK/healthy.out" "embedded, writes $WORK/state/d1/app.sqlite"
expect_contains "$WORK/healthy.out" "0 problems"

run_w2e healthy_json --config "$WORK/healthy.jsonc" doctor --json
expect_rc healthy_json 0
jq -e '.ok == true and .problems == 0 and ([.checks[] | select(.name == "wal_level" and .status == "ok")] | length == 1)' \
    "$WORK/healthy_json.out" >/dev/null && pass "doctor --json reports ok" || fail "doctor --json: $(cat "$WORK/healthy_json.out")"

# An existing slot of ours is reported; a slot with another plugin is a failure with a fix.
psql_q -c "SELECT pg_create_logical_replication_slot('doctor_slot', 'pgoutput')" >/dev/null
run_w2e slot_ok --config "$WORK/healthy.jsonc" doctor
expect_rc slot_ok 0
expect_contains "$WORK/slot_ok.out" 'replication slot "doctor_slot" exists (inactive'
psql_q -c "SELECT pg_drop_replication_slot('doctor_slot')" >/dev/null
psql_q -c "SELECT pg_create_logical_replication_slot('doctor_slot', 'test_decoding')" >/dev/null
run_w2e slot_bad --config "$WORK/healthy.jsonc" doctor
expect_rc slot_bad 1
expect_contains "$WORK/slot_bad.out" 'is not a logical pgoutput slot (type logical, plugin test_decoding)'
expect_contains "$WORK/slot_bad.out" "fix: drop it"
psql_q -c "SELECT pg_drop_replication_slot('doctor_slot')" >/dev/null

# A missing publication is a warning with the statement to run.
TEST_PUBLICATION=nopub run_w2e nopub --config "$WORK/healthy.jsonc" doctor
expect_rc nopub 0
expect_contains "$WORK/nopub.out" 'publication "nopub" does not exist'
expect_contains "$WORK/nopub.out" 'fix: run CREATE PUBLICATION "nopub"'

# A role that may not replicate.
psql_q -c "DROP ROLE IF EXISTS doctor_norepl" -c "CREATE ROLE doctor_norepl LOGIN PASSWORD 'norepl-pw'" >/dev/null
DATABASE_URL="postgresql://doctor_norepl:norepl-pw@127.0.0.1:$PGPORT/$PGDATABASE" \
    run_w2e norepl --config "$WORK/healthy.jsonc" doctor
expect_rc norepl 1
expect_contains "$WORK/norepl.out" 'role "doctor_norepl" may not replicate (needs REPLICATION)'
expect_contains "$WORK/norepl.out" 'fix: run ALTER ROLE "doctor_norepl" WITH REPLICATION;'
psql_q -c "ALTER ROLE doctor_norepl WITH REPLICATION" >/dev/null
DATABASE_URL="postgresql://doctor_norepl:norepl-pw@127.0.0.1:$PGPORT/$PGDATABASE" \
    run_w2e repl --config "$WORK/healthy.jsonc" doctor
expect_rc repl 0
expect_contains "$WORK/repl.out" 'role "doctor_norepl" has REPLICATION'
psql_q -c "DROP ROLE doctor_norepl" >/dev/null

# Remote targets without credentials fail with a fix; with them they pass.
write_config "$WORK/remote.jsonc" '"d1": {"app": {"database_id": "db-1"}}, "r2": {"lake": {"bucket": "lake", "endpoint": "https://acc.r2.cloudflarestorage.com"}}'
env -u CLOUDFLARE_API_TOKEN -u CLOUDFLARE_ACCOUNT_ID -u R2_ACCESS_KEY_ID -u R2_SECRET_ACCESS_KEY \
    "$WAL2EDGE_BIN" --config "$WORK/remote.jsonc" doctor >"$WORK/nocreds.out" 2>"$WORK/nocreds.err" && echo 0 >"$WORK/nocreds.rc" || echo $? >"$WORK/nocreds.rc"
expect_rc nocreds 1
expect_contains "$WORK/nocreds.out" 'remote id "db-1" configured but account id and API token are missing'
expect_contains "$WORK/nocreds.out" "fix: export CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN"
expect_contains "$WORK/nocreds.out" 'bucket "lake" has no access key pair'
CLOUDFLARE_API_TOKEN=tok-123456 CLOUDFLARE_ACCOUNT_ID=acc R2_ACCESS_KEY_ID=AKID R2_SECRET_ACCESS_KEY=r2-secret-1 \
    run_w2e creds --config "$WORK/remote.jsonc" doctor
expect_rc creds 0
expect_contains "$WORK/creds.out" 'remote id "db-1" via https://api.cloudflare.com/client/v4'

# Nothing listening: the connection failure is reported, exit 1.
DATABASE_URL="postgresql://wal2edge:wal2edge-local@127.0.0.1:1/wal2edge?connect_timeout=3" \
    run_w2e refused --config "$WORK/healthy.jsonc" doctor
expect_rc refused 1
expect_contains "$WORK/refused.out" "cannot connect to the source database"

# A second throwaway cluster with wal_level=replica: doctor names the problem and the fix.
replica_env=(PG_LOCAL_DIR="$WORK/pg-replica" PG_LOCAL_PORT="${DOCTOR_REPLICA_PORT:-54339}" PG_LOCAL_WAL_LEVEL=replica)
cleanup_replica() { env "${replica_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" wipe >/dev/null 2>&1 || true; }
trap 'cleanup_replica; rm -rf "$WORK"' EXIT
env "${replica_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" start >/dev/null
replica_url=$(env "${replica_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" env | sed -n 's/^export DATABASE_URL=//p')
DATABASE_URL=$replica_url run_w2e replica --config "$WORK/healthy.jsonc" doctor
expect_rc replica 1
expect_contains "$WORK/replica.out" "wal_level is replica, logical decoding needs logical"
expect_contains "$WORK/replica.out" "fix: run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"
DATABASE_URL=$replica_url run_w2e replica_json --config "$WORK/healthy.jsonc" doctor --json
jq -e '.ok == false and ([.checks[] | select(.name == "wal_level" and .status == "fail")] | length == 1)' \
    "$WORK/replica_json.out" >/dev/null && pass "doctor --json marks wal_level failed" || fail "replica json: $(cat "$WORK/replica_json.out")"

finish
