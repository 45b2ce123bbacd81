#!/usr/bin/env bash
# JSON null vs SQL NULL, and float -0 (docs/types.md, "The JSON rendering: SQL NULL, JSON null, -0"):
# a table with jsonb, json, jsonb[] and float columns holding SQL NULL, JSON null, the string
# "null", a one-key "$json" object and -0 goes through `snapshot`, `warm --from-snapshot` (the KV
# values equal a warm from Postgres) and `run --exit-when-caught-up` into the embedded D1, the
# embedded KV (value "row"), the embedded queue spool and the change log; each keeps the two nulls
# apart. The spool's events, applied by the reference consumer Worker (workers/queue-consumer) in
# a private edge emulator, give D1 the same values as wal2edge's own D1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"

export TEST_SLOT=jsonnull_slot TEST_PUBLICATION=jsonnull_pub
REF_SLOT=jsonnull_ref
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
KV_BACKEND=embedded

config() {   # config DIR [SLOT]
    mkdir -p "$1/mappings"
    write_config "$1/w.jsonc" "\"d1\": { \"app\": {} }, \"kv\": { \"cache\": {} }, \"queues\": { \"changes\": {} },
  \"r2\": { \"lake\": {} }, \"changelog\": { \"path\": \"changes.log\" }, \"mappings\": [\"mappings/*.jsonc\"]"
    [ -n "${2:-}" ] && sed -i "s|\"slot\": \"[^\"]*\"|\"slot\": \"$2\"|" "$1/w.jsonc"
    cat >"$1/mappings/items.jsonc" <<'JSONC'
{ "table": "public.jn_items",
  "d1": { "database": "app" },
  "kv": [ { "namespace": "cache", "key": "j:{id}", "value": "row" } ],
  "queue": { "queue": "changes" },
  "snapshot": { "bucket": "lake" } }
JSONC
    KV_FILE="$1/state/kv/cache.sqlite"
}

# rows OFFSET: SQL NULL, JSON null, the string "null", a one-key "$json" object, -0 and ordinary values
rows_sql() {
    cat <<SQL
INSERT INTO jn_items VALUES
 ($1 + 1, NULL, NULL, NULL, NULL, NULL),
 ($1 + 2, 'null', 'null', ARRAY['null'::jsonb, NULL], 0, 0),
 ($1 + 3, '"null"', ' null ', ARRAY['"null"'::jsonb], '-0', '-0'),
 ($1 + 4, '{"\$json": 1}', '{"\$json":null}', ARRAY['{"\$json": null}'::jsonb], 1.5, -2.5),
 ($1 + 5, '{"a": null, "b": [null]}', '[1, null]', '{}', -1e-300, 1);
SQL
}

psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('$TEST_SLOT', '$REF_SLOT');
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
DROP TABLE IF EXISTS jn_items;
CREATE TABLE jn_items (id int PRIMARY KEY, jb jsonb, js json, ajb jsonb[], f8 double precision, f4 real);
ALTER TABLE jn_items REPLICA IDENTITY FULL;
$(rows_sql 0)
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE jn_items;
SQL
DIR=$WORK/main
config "$DIR"

# reference NAME: a fresh warm from Postgres (own state, own slot) -> $WORK/NAME.want
reference() {
    local dir="$WORK/ref_$1"
    rm -rf "$dir"
    config "$dir" "$REF_SLOT"
    run_w2e "ref_$1" --config "$dir/w.jsonc" warm
    expect_rc "ref_$1" 0
    kv_dump >"$WORK/$1.want"
    psql_q -c "SELECT pg_drop_replication_slot('$REF_SLOT')" >/dev/null
    KV_FILE="$DIR/state/kv/cache.sqlite"
}

kv_raw() { sqlite3 -batch -noheader "$KV_FILE" "SELECT CAST(value AS TEXT) FROM kv WHERE key = '$1'"; }

# 1. snapshot (creating the slot at its point); its rows keep the two nulls apart
run_w2e snap --config "$DIR/w.jsonc" snapshot --id s1
expect_rc snap 0
zstd -dcq "$DIR"/state/r2/lake/public.jn_items/s1/part-*.ndjson.zst | jq -c -S . >"$WORK/snap.rows"
row() { jq -c "select(.id == $2)" "$1"; }
[ "$(row "$WORK/snap.rows" 1 | jq -c '[.jb, .js, .ajb]')" = '[null,null,null]' ] &&
    pass "snapshot: SQL NULL is null" || fail "snapshot row 1: $(row "$WORK/snap.rows" 1)"
[ "$(row "$WORK/snap.rows" 2 | jq -c '[.jb, .js, .ajb]')" = '[{"$json":null},{"$json":null},[{"$json":null},null]]' ] &&
    pass "snapshot: JSON null is {\"\$json\":null}, also in a jsonb[]" || fail "snapshot row 2: $(row "$WORK/snap.rows" 2)"
[ "$(row "$WORK/snap.rows" 4 | jq -c '[.jb, .js]')" = '[{"$json":{"$json":1}},{"$json":{"$json":null}}]' ] &&
    pass "snapshot: a one-key \$json object is wrapped" || fail "snapshot row 4: $(row "$WORK/snap.rows" 4)"
zstd -dcq "$DIR"/state/r2/lake/public.jn_items/s1/part-*.ndjson.zst | grep -q '"id":3,.*"f8":-0,"f4":-0}' &&
    pass "snapshot: float -0 keeps its sign" || fail "snapshot row 3: -0 lost"

# 2. warm from the snapshot == warm from Postgres
run_w2e warm --config "$DIR/w.jsonc" warm --from-snapshot s1
expect_rc warm 0
reference before
kv_dump >"$WORK/before.got"
if [ "$(wc -l <"$WORK/before.want")" = 5 ] && cmp -s "$WORK/before.want" "$WORK/before.got"; then
    pass "warm --from-snapshot: every KV value equals the warm from Postgres"
else
    fail "warm --from-snapshot differs from the warm from Postgres"; diff "$WORK/before.want" "$WORK/before.got" >&2 || true
fi
[ "$(kv_raw j:2 | jq -c '[.jb, .js]')" = '[{"$json":null},{"$json":null}]' ] && [ "$(kv_raw j:1 | jq -c '[.jb, .js]')" = '[null,null]' ] &&
    pass "warm --from-snapshot: JSON null and SQL NULL come back apart" || fail "warm: j:1 $(kv_raw j:1) j:2 $(kv_raw j:2)"
[ "$(kv_raw j:3)" = '{"id":3,"jb":"null","js":{"$json": null },"ajb":["null"],"f8":-0,"f4":-0}' ] &&
    pass "warm --from-snapshot: \"null\" stays a string, -0 keeps its sign" || fail "warm: j:3 $(kv_raw j:3)"

# 3. changes after the snapshot, through run: D1, KV, the queue spool, the change log
psql_q <<SQL >/dev/null
$(rows_sql 10)
UPDATE jn_items SET jb = 'null', js = NULL WHERE id = 1;
UPDATE jn_items SET jb = NULL, js = 'null' WHERE id = 2;
SQL
run_w2e run --config "$DIR/w.jsonc" run --exit-when-caught-up
expect_rc run 0
D1_FILE="$DIR/state/d1/app.sqlite"
got=$(sqlite3 -batch -noheader "$D1_FILE" "SELECT id || ' ' || quote(jb) || ' ' || quote(js) || ' ' || quote(ajb) FROM jn_items WHERE id IN (11, 12, 13, 14) ORDER BY id")
want="11 NULL NULL NULL
12 'null' 'null' '[{\"\$json\":null},null]'
13 '\"null\"' ' null ' '[\"null\"]'
14 '{\"\$json\": 1}' '{\"\$json\":null}' '[{\"\$json\":{\"\$json\": null}}]'"
[ "$got" = "$want" ] && pass "D1: SQL NULL is NULL, JSON null the text 'null' (the wrapper only inside arrays)" ||
    fail "D1 rows: $got"
[ "$(sqlite3 -batch -noheader "$D1_FILE" "SELECT typeof(f8) || ' ' || f8 FROM jn_items WHERE id = 13")" = "real 0.0" ] &&
    pass "D1: float -0 is stored as 0.0 (SQLite keeps no negative zero; docs/types.md)" || fail "D1 -0"

reference after
kv_dump >"$WORK/after.got"
cmp -s "$WORK/after.want" "$WORK/after.got" && [ "$(wc -l <"$WORK/after.got")" = 10 ] &&
    pass "KV after run equals a warm from Postgres (10 keys)" ||
    { fail "KV after run differs"; diff "$WORK/after.want" "$WORK/after.got" >&2 || true; }
[ "$(kv_raw j:1 | jq -c '[.jb, .js]')" = '[{"$json":null},null]' ] && [ "$(kv_raw j:2 | jq -c '[.jb, .js]')" = '[null,{"$json":null}]' ] &&
    [ "$(kv_raw j:12 | jq -c '.ajb')" = '[{"$json":null},null]' ] &&
    pass "KV (run): JSON null and SQL NULL apart, in columns and in a jsonb[]" || fail "KV: j:1 $(kv_raw j:1) j:2 $(kv_raw j:2)"

SPOOL="$DIR/state/queues/changes.ndjson"
ev() { jq -c "select(.op == \"$1\" and .key.id == $2) | $3" "$SPOOL"; }
[ "$(ev c 11 '[.after.jb, .after.js]')" = '[null,null]' ] && [ "$(ev c 12 '[.after.jb, .after.js, .after.ajb]')" = \
    '[{"$json":null},{"$json":null},[{"$json":null},null]]' ] && [ "$(ev c 13 '[.after.jb]')" = '["null"]' ] &&
    pass "queue events: SQL NULL is null, JSON null {\"\$json\":null}" || fail "queue events: $(ev c 12 .after)"
[ "$(ev u 2 '[.before.jb, .before.js, .after.jb, .after.js]')" = '[{"$json":null},{"$json":null},null,{"$json":null}]' ] &&
    pass "queue events: before (REPLICA IDENTITY FULL) and after of an update" || fail "queue update: $(ev u 2 .)"
grep '"op":"c"' "$SPOOL" | grep '"id":13,' | grep -q '"f8":-0,"f4":-0' &&
    pass "queue events: float -0 keeps its sign" || fail "queue -0: $(ev c 13 .after)"

LOG="$DIR/changes.log"
cl() { jq -c "select(.type == \"insert\" and .new.id == \"$1\") | [.new.jb, .new.js]" "$LOG"; }
[ "$(cl 11)" = '[null,null]' ] && [ "$(cl 12)" = '["null","null"]' ] && [ "$(cl 13)" = '["\"null\""," null "]' ] &&
    pass "change log: SQL NULL is null, JSON null the Postgres text \"null\"" || fail "change log: $(cl 11) $(cl 12) $(cl 13)"
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('$TEST_SLOT', '$REF_SLOT')" >/dev/null

# 4. the spool's events through the reference consumer Worker (a private emulator) into D1: the
#    same values as wal2edge's own D1 (compared as minified JSON: the consumer re-serialises)
start_consumer_edge jn
ACC="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID"
api() { curl -sS -X POST "$ACC/$1" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' --data-binary @-; }
d1r() { jq -n --arg s "$1" '{sql: $s}' | api d1/database/jn/query | jq -r '.result[0].results[].r'; }
sqlite3 -batch -noheader "$D1_FILE" "SELECT sql FROM sqlite_master WHERE name = 'jn_items'" | jq -R -s '{sql: .}' |
    api d1/database/jn/query | jq -e .success >/dev/null || fail "creating the consumer's D1 table"
jq -s '{messages: map({body: ., content_type: "json"})}' "$SPOOL" | api queues/jn-changes/messages/batch |
    jq -e .success >/dev/null || fail "pushing the spool's events"
q="SELECT group_concat(id || ' ' || quote(json(jb)) || ' ' || quote(json(js)) || ' ' || quote(json(ajb)) || ' ' || printf('%.17g %.17g', f8, f4), char(10)) AS r FROM (SELECT * FROM jn_items WHERE id > 10 ORDER BY id)"
want=$(sqlite3 -batch -noheader "$D1_FILE" "$q")
for _ in $(seq 1 60); do got=$(d1r "$q"); [ "$got" = "$want" ] && break; sleep 0.5; done
[ -n "$want" ] && [ "$got" = "$want" ] && pass "consumer Worker: D1 holds the same SQL NULLs, JSON nulls and \"null\" strings as wal2edge's D1" ||
    { fail "consumer Worker: D1 differs"; diff <(echo "$want") <(echo "$got") >&2 || true; }
finish
