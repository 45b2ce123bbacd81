#!/usr/bin/env bash
# A canary secret in every secret-bearing setting must never appear in any output or log.
source "$(dirname "$0")/lib.sh"

canary=canary-w2e-Zq81x
psql_q -c "DROP ROLE IF EXISTS secrets_canary" -c "CREATE ROLE secrets_canary LOGIN REPLICATION PASSWORD '$canary-pg'" >/dev/null
export DATABASE_URL="postgresql://secrets_canary:$canary-pg@127.0.0.1:$PGPORT/$PGDATABASE"
# doctor sends the credentials in real calls (to the local edge, which rejects these): the debug
# trace of those calls must not show them either
use_edge
export CLOUDFLARE_API_TOKEN="$canary-cf"
export R2_ACCESS_KEY_ID=AKIDCANARY
export R2_SECRET_ACCESS_KEY="$canary-r2"
write_config "$WORK/c.jsonc" '"d1": {"app": {"database_id": "db-1"}}, "r2": {"lake": {"bucket": "lake"}}, "mappings": ["nothing/*.jsonc"]'

for fmt in json text; do
    run_w2e "config_$fmt" --log-level debug --log-format "$fmt" --config "$WORK/c.jsonc" config
    expect_rc "config_$fmt" 0
    run_w2e "doctor_$fmt" --log-level debug --log-format "$fmt" --config "$WORK/c.jsonc" doctor
    expect_rc "doctor_$fmt" 1
    expect_contains "$WORK/doctor_$fmt.out" "rejects the API token" "[$fmt] the canary token was sent and rejected"
done
run_w2e doctor_json_out --config "$WORK/c.jsonc" doctor --json
expect_rc doctor_json_out 1
expect_contains "$WORK/config_json.err" "no file matches" "a warning was logged (so logs were exercised)"
expect_contains "$WORK/config_json.out" '"api_token": "[redacted]"'

# Wrong password: libpq's error must not carry the password either.
DATABASE_URL="postgresql://secrets_canary:$canary-wrong@127.0.0.1:$PGPORT/$PGDATABASE" \
    run_w2e wrongpw --log-level debug --config "$WORK/c.jsonc" doctor
expect_rc wrongpw 1
expect_contains "$WORK/wrongpw.out" "password authentication failed"
# A literal password in the file is warned about and still redacted.
printf '{"source": {"dsn": "host=127.0.0.1 port=%s dbname=%s user=secrets_canary password=%s-pg"}}' \
    "$PGPORT" "$PGDATABASE" "$canary" >"$WORK/literal.jsonc"
run_w2e literal --config "$WORK/literal.jsonc" config
expect_rc literal 0
expect_contains "$WORK/literal.err" "contains a password written in the file"
expect_contains "$WORK/literal.out" "password=[redacted]"

# the config files themselves hold the canary on purpose; every output file must not
leaks=$(grep -rl -- "$canary" "$WORK" | grep -v '\.jsonc$' || true)
[ -z "$leaks" ] && pass "no output or log line contains the canary" || fail "canary in: $leaks"
psql_q -c "DROP ROLE secrets_canary" >/dev/null
finish
