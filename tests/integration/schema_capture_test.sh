#!/usr/bin/env bash
# The DDL capture trigger (sql/ddl_capture.sql): `setup` installs it idempotently; a role that
# may not create event triggers is told what it needs and setup still succeeds without it;
# `doctor` reports it missing, disabled or installed with a fix; `slot create` installs it too;
# once installed, a schema change of a published table reaches the stream as a transactional
# 'wal2edge.ddl' message carrying the new column list (read here with test_decoding), and the
# change log and `decode` show it as a "ddl" record of its own.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=sc_slot TEST_PUBLICATION=sc_pub
DIR=$WORK/sc
mkdir -p "$DIR"
write_config "$DIR/w.jsonc" '"d1": {"app": {}}'
ddl_status() { jq -r '.checks[] | select(.name == "ddl_capture") | .status' "$WORK/$1.out"; }

psql_q -c "CREATE TABLE sc_items (id bigint PRIMARY KEY, v text)" -c "CREATE PUBLICATION sc_pub FOR TABLE sc_items" >/dev/null

# 1. A role that is no superuser: setup goes on without the trigger and says what it needs.
PGOPTIONS="-c client_min_messages=warning" psql_q -d postgres -c "DROP ROLE IF EXISTS sc_plain" -c "CREATE ROLE sc_plain LOGIN PASSWORD 'sc-plain-pw'" >/dev/null
psql_q -c "GRANT CREATE ON DATABASE $TEST_DB TO sc_plain" >/dev/null
plain_url="postgresql://sc_plain:sc-plain-pw@$PGHOST:$PGPORT/$TEST_DB"
DATABASE_URL=$plain_url run_w2e setup_plain --config "$DIR/w.jsonc" setup
expect_rc setup_plain 0
expect_contains "$WORK/setup_plain.err" "DDL capture trigger not installed" "setup says the trigger is not installed"
expect_contains "$WORK/setup_plain.err" "superuser" "and that it needs a superuser"
expect_not_contains "$WORK/setup_plain.err" "sc-plain-pw" "the password stays out of the message"
[ "$(psql_q -c "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'wal2edge%'")" = 0 ] &&
    pass "nothing half-installed after the refusal" || fail "event triggers left after a refused install"
[ "$(psql_q -c "SELECT count(*) FROM pg_namespace WHERE nspname = '_wal2edge'")" = 0 ] &&
    pass "no schema left after the refusal" || fail "_wal2edge schema left after a refused install"
run_w2e doctor_missing --config "$DIR/w.jsonc" doctor --json
[ "$(ddl_status doctor_missing)" = warn ] && pass "doctor warns: trigger missing" || fail "doctor ddl_capture: $(ddl_status doctor_missing)"
expect_contains "$WORK/doctor_missing.out" "wal2edge setup" "doctor's fix names wal2edge setup"

# 2. A superuser: installed, and installing again changes nothing.
run_w2e setup1 --config "$DIR/w.jsonc" setup
expect_rc setup1 0
expect_contains "$WORK/setup1.out" "DDL capture trigger installed" "setup installs the trigger"
run_w2e setup2 --config "$DIR/w.jsonc" setup
expect_rc setup2 0
[ "$(psql_q -c "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'wal2edge%'")" = 3 ] &&
    pass "setup twice: three event triggers" || fail "event triggers after two setups"
run_w2e doctor_ok --config "$DIR/w.jsonc" doctor --json
[ "$(ddl_status doctor_ok)" = ok ] && pass "doctor: trigger installed" || fail "doctor ddl_capture: $(ddl_status doctor_ok)"
psql_q -c "ALTER EVENT TRIGGER wal2edge_ddl_command_end DISABLE" >/dev/null
run_w2e doctor_disabled --config "$DIR/w.jsonc" doctor --json
[ "$(ddl_status doctor_disabled)" = warn ] && pass "doctor warns: trigger disabled" || fail "doctor ddl_capture: $(ddl_status doctor_disabled)"
run_w2e slot --config "$DIR/w.jsonc" slot create
expect_rc slot 0
expect_contains "$WORK/slot.out" "DDL capture trigger installed" "slot create installs (and enables) the trigger"
run_w2e doctor_again --config "$DIR/w.jsonc" doctor --json
[ "$(ddl_status doctor_again)" = ok ] && pass "doctor: enabled again" || fail "doctor ddl_capture: $(ddl_status doctor_again)"

# 3. The messages, in the transaction of the DDL: add (with a default), rename, type change
#    (a rewrite, reported before the new shape), drop; a table outside the publication is quiet.
psql_q -c "SELECT pg_create_logical_replication_slot('sc_probe', 'test_decoding')" >/dev/null
# synchronous_commit on: the local server runs with it off, and the slot reads only flushed WAL
PGOPTIONS='-c synchronous_commit=on' psql_q >/dev/null <<'SQL'
BEGIN; INSERT INTO sc_items VALUES (1, 'a'); ALTER TABLE sc_items ADD COLUMN n int NOT NULL DEFAULT 7; COMMIT;
ALTER TABLE sc_items RENAME COLUMN v TO label;
ALTER TABLE sc_items ALTER COLUMN n TYPE bigint;
ALTER TABLE sc_items DROP COLUMN label;
CREATE TABLE sc_other (id int PRIMARY KEY); ALTER TABLE sc_other ADD COLUMN x int;
SQL
psql_q -c "SELECT data FROM pg_logical_slot_get_changes('sc_probe', NULL, NULL)" >"$WORK/probe.txt"
psql_q -c "SELECT pg_drop_replication_slot('sc_probe')" >/dev/null
sed -n 's/^message: transactional: 1 prefix: wal2edge.ddl, sz: [0-9]* content://p' "$WORK/probe.txt" >"$WORK/ddl.ndjson"
shapes=$(jq -c 'select(.event == "ddl_command_end") | [.columns[] | [.attnum, .name, .type, .default]]' "$WORK/ddl.ndjson")
expected='[[1,"id","bigint",null],[2,"v","text",null],[3,"n","integer","7"]]
[[1,"id","bigint",null],[2,"label","text",null],[3,"n","integer","7"]]
[[1,"id","bigint",null],[2,"label","text",null],[3,"n","bigint","7"]]
[[1,"id","bigint",null],[3,"n","bigint","7"]]'
[ "$shapes" = "$expected" ] && pass "each DDL's message carries the new columns by attnum" ||
    { fail "column lists"; echo "$shapes" >&2; }
[ "$(jq -r .event "$WORK/ddl.ndjson" | tr '\n' ' ')" = "ddl_command_end ddl_command_end table_rewrite ddl_command_end ddl_command_end " ] &&
    pass "the type change is reported as a rewrite first" || fail "events: $(jq -r .event "$WORK/ddl.ndjson" | tr '\n' ' ')"
grep -q "sc_other" "$WORK/ddl.ndjson" && fail "a table outside the publication was reported" ||
    pass "a table outside the publication is not reported"
awk '/^BEGIN/{n=0} /INSERT/{ins=NR} /wal2edge.ddl/{if(!m) m=NR} END{exit !(ins < m)}' "$WORK/probe.txt" &&
    pass "the message follows the row change before it in the same transaction" || fail "message order"

# 4. The change log and `decode` show each captured DDL as a "ddl" record of its own, in its
#    transaction (the DDLs of part 3 came after the slot).
run_w2e run --config "$DIR/w.jsonc" run --exit-when-caught-up --target-log "$WORK/changes.ndjson"
expect_rc run 0
jq -c 'select(.type == "ddl") | [.ddl.event, ([.ddl.columns[]?.name] | join(","))]' "$WORK/changes.ndjson" >"$WORK/cl_ddl.txt"
[ "$(tr -d '\n' <"$WORK/cl_ddl.txt")" = '["ddl_command_end","id,v,n"]["ddl_command_end","id,label,n"]["table_rewrite",""]["ddl_command_end","id,label,n"]["ddl_command_end","id,n"]' ] &&
    pass "the change log has the five DDL records in order" || { fail "change log ddl records"; cat "$WORK/cl_ddl.txt" >&2; }
[ "$(jq -r 'select(.type == "ddl") | .transactional' "$WORK/changes.ndjson" | sort -u)" = true ] &&
    pass "DDL records sit inside their transactions" || fail "a DDL record outside a transaction"
[ "$(jq -c 'select(.type == "insert" or .type == "ddl") | .type' "$WORK/changes.ndjson" | head -2 | tr -d '\n')" = '"insert""ddl"' ] &&
    pass "the row change before the ADD COLUMN comes first" || fail "order in the change log"
psql_q -c "SELECT pg_create_logical_replication_slot('sc_cap', 'pgoutput')" >/dev/null
PGOPTIONS='-c synchronous_commit=on' psql_q -c "ALTER TABLE sc_items ADD COLUMN note text DEFAULT 'x'" \
    -c "SELECT pg_logical_emit_message(true, 'wal2edge.ddl', 'not json')" >/dev/null
end=$(psql_q -c "SELECT pg_current_wal_flush_lsn()")
"$PG_BINDIR/pg_recvlogical" -d "$TEST_DB" --slot sc_cap --start --endpos "$end" -o proto_version=1 \
    -o publication_names=sc_pub -o messages=true -f "$WORK/capture.bin" --no-loop
psql_q -c "SELECT pg_drop_replication_slot('sc_cap')" >/dev/null
run_w2e decode --config "$DIR/w.jsonc" decode "$WORK/capture.bin"
expect_rc decode 0
[ "$(jq -r 'select(.type == "ddl") | .ddl.columns[-1] | "\(.name) \(.default)"' "$WORK/decode.out")" = "note 'x'::text" ] &&
    pass "decode prints the DDL record with the new column" || { fail "decode ddl record"; cat "$WORK/decode.out" >&2; }
[ "$(jq -r 'select(.type == "message") | .content' "$WORK/decode.out")" = "not json" ] &&
    pass "a malformed message under the prefix stays a plain message" || fail "malformed message in decode"

# slots are few on a shared server: give ours back
psql_q -c "SELECT pg_drop_replication_slot('sc_slot')" >/dev/null
psql_q -d postgres -c "DROP OWNED BY sc_plain" -d "$TEST_DB" >/dev/null 2>&1 || true
psql_q -c "REVOKE ALL ON DATABASE $TEST_DB FROM sc_plain" -c "DROP OWNED BY sc_plain" >/dev/null
psql_q -d postgres -c "DROP ROLE sc_plain" >/dev/null
finish
