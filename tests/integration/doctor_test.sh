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

# With the local edge: doctor verifies the token and reaches each target with real calls.
use_edge
edge_api() {   # edge_api METHOD PATH [JSON]: a call to the emulator's account API, the result printed
    curl -sS -X "$1" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
        "$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID$2" ${3:+-d "$3"}
}
tag="doctor-$$-$RANDOM"
db_id=$(edge_api POST /d1/database "{\"name\": \"$tag\"}" | jq -r .result.uuid)
ns_id=$(edge_api POST /storage/kv/namespaces "{\"title\": \"$tag\"}" | jq -r .result.id)
queue_id=$(edge_api POST /queues "{\"queue_name\": \"$tag\"}" | jq -r .result.queue_id)
write_config "$WORK/edge.jsonc" "\"d1\": {\"app\": {\"database_id\": \"$db_id\"}}, \"kv\": {\"cache\": {\"namespace_id\": \"$ns_id\"}},
  \"queues\": {\"changes\": {\"queue_id\": \"$queue_id\"}}, \"r2\": {\"lake\": {\"bucket\": \"$tag\"}}"
since=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq .last_seq)
run_w2e creds --config "$WORK/edge.jsonc" doctor
expect_rc creds 0
# an account-owned token (what terraform/ makes) is verified under the account, not /user
curl -sS "$EDGE_ADMIN_URL/log?since=$since&path=tokens/verify&limit=10" | jq -r '.entries[].path' >"$WORK/verify.paths"
expect_contains "$WORK/verify.paths" "/accounts/$CLOUDFLARE_ACCOUNT_ID/tokens/verify" "doctor verifies the token under the account first"
expect_not_contains "$WORK/verify.paths" "/user/tokens/verify" "a token the account endpoint accepts needs no /user check"
expect_contains "$WORK/creds.out" "the API token is valid ($CLOUDFLARE_API_BASE_URL)"
expect_contains "$WORK/creds.out" "database_id \"$db_id\" reachable with the API token"
expect_contains "$WORK/creds.out" "namespace_id \"$ns_id\" reachable with the API token"
expect_contains "$WORK/creds.out" "queue_id \"$queue_id\" reachable with the API token"
expect_contains "$WORK/creds.out" "bucket \"$tag\" at $R2_ENDPOINT reachable with access key $R2_ACCESS_KEY_ID"

# A token the API rejects: doctor fails and says so (it used to report ok), the targets are not checked.
CLOUDFLARE_API_TOKEN=doctor-rejected-token-1 run_w2e badtoken --config "$WORK/edge.jsonc" doctor
expect_rc badtoken 1
expect_contains "$WORK/badtoken.out" "FAIL  api_token"
expect_contains "$WORK/badtoken.out" "rejects the API token: token verify: [9109] Invalid access token (http 401)"
expect_contains "$WORK/badtoken.out" 'remote id "'"$db_id"'" not checked: the API token did not verify'
expect_not_contains "$WORK/badtoken.out" "doctor-rejected-token-1" "the rejected token is not printed"
CLOUDFLARE_API_TOKEN=doctor-rejected-token-1 run_w2e badtoken_json --config "$WORK/edge.jsonc" doctor --json
jq -e '.ok == false and ([.checks[] | select(.name == "api_token" and .status == "fail")] | length == 1)' \
    "$WORK/badtoken_json.out" >/dev/null && pass "doctor --json: the rejected token is a failure" ||
    fail "badtoken json: $(cat "$WORK/badtoken_json.out")"

# Ids the account does not have, and R2 keys that do not sign: each target fails with its fix;
# ids no run has used (the emulator keeps its state between runs of the suite on a developer's machine)
miss=$(printf '%08x' $((RANDOM * 32768 + RANDOM)))
miss_db="00000000-0000-0000-0000-0000$miss" miss_ns="000000000000000000000000$miss"
write_config "$WORK/edge_missing.jsonc" '"d1": {"app": {"database_id": "'"$miss_db"'"}},
  "kv": {"cache": {"namespace_id": "'"$miss_ns"'"}}, "queues": {"changes": {"queue_id": "0000dead"}}'
run_w2e missing_ids --config "$WORK/edge_missing.jsonc" doctor
expect_rc missing_ids 1
expect_contains "$WORK/missing_ids.out" "database_id \"$miss_db\": d1 database info: [7404]"
expect_contains "$WORK/missing_ids.out" "fix: check d1.app.database_id \"$miss_db\" (it does not exist in this account)"
expect_contains "$WORK/missing_ids.out" "namespace_id \"$miss_ns\": kv namespace info: [10009] namespace not found (http 404)"
expect_contains "$WORK/missing_ids.out" 'queue_id "0000dead": queue info:'
R2_SECRET_ACCESS_KEY=doctor-wrong-r2-secret run_w2e badkeys --config "$WORK/edge.jsonc" doctor
expect_rc badkeys 1
expect_contains "$WORK/badkeys.out" "bucket \"$tag\" at $R2_ENDPOINT: r2 head bucket"
expect_contains "$WORK/badkeys.out" "fix: check R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY"
expect_not_contains "$WORK/badkeys.out" "doctor-wrong-r2-secret" "the R2 secret is not printed"
for var in CLOUDFLARE_API_BASE_URL CLOUDFLARE_ACCOUNT_ID CLOUDFLARE_API_TOKEN R2_ENDPOINT R2_ACCESS_KEY_ID R2_SECRET_ACCESS_KEY; do
    unset "$var"
done

# Mappings: an unknown column is what run would refuse; a mapped table the publication leaves out streams nothing.
psql_q -c "CREATE TABLE doctor_extra (id int PRIMARY KEY, v text)" >/dev/null
mkdir -p "$WORK/mappings"
cat >"$WORK/mappings/users.jsonc" <<'JSONC'
{ "table": "public.users", "d1": { "database": "app" },
  "kv": [ { "namespace": "cache", "key": "user:{emial}", "value": "row" } ],
  "queue": { "queue": "changes", "exclude": ["pasword_hash"] } }
JSONC
printf '{ "table": "public.doctor_extra", "d1": { "database": "app" } }\n' >"$WORK/mappings/extra.jsonc"
write_config "$WORK/mapped.jsonc" '"d1": {"app": {}}, "kv": {"cache": {}}, "queues": {"changes": {}}, "mappings": ["mappings/*.jsonc"]'
run_w2e mapped --config "$WORK/mapped.jsonc" doctor
expect_rc mapped 1
expect_contains "$WORK/mapped.out" 'FAIL  mapping'
expect_contains "$WORK/mapped.out" 'unknown column "emial"'
expect_contains "$WORK/mapped.out" 'queue.exclude: table public.users has no column "pasword_hash"'
expect_contains "$WORK/mapped.out" 'publication "wal2edge" does not publish 1 mapped table: public.doctor_extra'
expect_contains "$WORK/mapped.out" 'fix: run ALTER PUBLICATION "wal2edge" ADD TABLE public.doctor_extra;'
psql_q -c 'ALTER PUBLICATION wal2edge ADD TABLE doctor_extra' >/dev/null
sed -i 's/{emial}/{id}/; s/pasword_hash/password_hash/' "$WORK/mappings/users.jsonc"
run_w2e mapped_ok --config "$WORK/mapped.jsonc" doctor
expect_rc mapped_ok 0
expect_contains "$WORK/mapped_ok.out" '2 mappings match the source tables'
expect_contains "$WORK/mapped_ok.out" 'publication "wal2edge" publishes every mapped table'

# Nothing listening: the connection failure is reported, exit 1.
DATABASE_URL="postgresql://wal2edge:wal2edge-local@127.0.0.1:1/wal2edge?connect_timeout=3" \
    run_w2e refused --config "$WORK/healthy.jsonc" doctor
expect_rc refused 1
expect_contains "$WORK/refused.out" "cannot connect to the source database"

# A second throwaway cluster with wal_level=replica: doctor names the problem and the fix.
replica_env=(PG_LOCAL_DIR="$WORK/pg-replica" PG_LOCAL_PORT="${DOCTOR_REPLICA_PORT:-54339}" PG_LOCAL_WAL_LEVEL=replica)
cleanup_replica() { env "${replica_env[@]}" "$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" wipe >/dev/null 2>&1 || true; }
trap 'cleanup_replica; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"' EXIT
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
