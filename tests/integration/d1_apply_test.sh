#!/usr/bin/env bash
# `wal2edge run` into D1, embedded file and REST API (local edge): every type of docs/types.md
# round-trips with edge values, and inserts, updates, deletes, truncates, primary-key changes
# and unchanged TOAST values are applied; a rerun applies nothing twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_apply TEST_PUBLICATION=d1_apply_pub
TABLES="d1a_types d1a_ops d1a_toast d1a_trunc"

setup_tables() {
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS d1a_types, d1a_ops, d1a_toast, d1a_trunc CASCADE;
DROP TYPE IF EXISTS d1a_mood, d1a_pair CASCADE;
DROP DOMAIN IF EXISTS d1a_cents CASCADE;
CREATE TYPE d1a_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN d1a_cents AS bigint CHECK (VALUE >= 0);
CREATE TYPE d1a_pair AS (a int, b text, c numeric);
CREATE TABLE d1a_types (
    id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, o oid, num numeric, r4 real,
    f8 double precision, b boolean, t text, vc varchar(10), ch char(4), nm name, qc "char",
    by bytea, u uuid, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
    js json, jb jsonb, ai int[], at text[], mood d1a_mood, cents d1a_cents, pr d1a_pair,
    ip inet, cn cidr, mac macaddr, mac8 macaddr8, mo money, x xml);
CREATE TABLE d1a_ops (id int PRIMARY KEY, v text, n int);
CREATE TABLE d1a_toast (id int PRIMARY KEY, big text, n int);
ALTER TABLE d1a_toast ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE d1a_trunc (id int PRIMARY KEY, v text);
SQL
}

round1() {
    psql_q <<'SQL' >/dev/null
SET lc_monetary = 'C';
INSERT INTO d1a_types VALUES
 (1, -32768, 2147483647, 9223372036854775807, 4294967295, 12345678901234567890.123456789012345678,
  3.4028235e38, 0.1, true, E'ünïcode ✓ "dq" ''sq'' back\\slash\nnewline\ttab', 'ab', 'ab', 'name',
  'x', '\x000a00ff0a', 'B622F8FB-9988-4869-8B55-4C7AA3D570F3', '2026-11-02', '10:00:00.5',
  '10:00:00+05:30', '2026-11-02 10:00:00.123456', '2026-11-02 10:00:00.5+02',
  '1 year 2 mons 3 days 04:05:06.5', '{"a": [1, 2.50, "x"]}', '{"b": 1, "a": "x"}', '{1,NULL,3}',
  '{"a","b c","q\"uote",NULL,"NULL"}', 'happy', 9007199254740993, '(1,"x y",)', '192.168.0.1/24',
  '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 1234.56, '<a>b &amp; c</a>'),
 (2, 0, -2147483648, -9223372036854775808, 0, 'NaN', '-Infinity', 'NaN', false, '', '', '',
  '', ' ', '\x', '00000000-0000-0000-0000-000000000000', '0044-03-15 BC', '00:00', '23:59:59.999999-12',
  'infinity', '-infinity', '-1 days', 'null', '[]', '{}', '{}', 'sad', 0, '(,,)', '::1', '::/0',
  '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', -0.01, ''),
 (3, NULL, NULL, NULL, NULL, 'Infinity', 'Infinity', '-Infinity', NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{{1,2},{3,4}}', '{"{}",","}',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL);
INSERT INTO d1a_ops SELECT g, 'v' || g, g FROM generate_series(1, 20) g;
INSERT INTO d1a_toast VALUES (1, repeat('0123456789', 5000) || 'END', 0), (2, 'small', 0);
INSERT INTO d1a_trunc SELECT g, 't' || g FROM generate_series(1, 5) g;
SQL
}

round2() {
    psql_q <<'SQL' >/dev/null
BEGIN;
UPDATE d1a_ops SET v = 'upd' || id, n = n * 10 WHERE id % 3 = 0;
UPDATE d1a_ops SET v = NULL WHERE id = 1;
DELETE FROM d1a_ops WHERE id % 5 = 0;
UPDATE d1a_ops SET id = id + 100 WHERE id IN (2, 4);   -- primary-key changes
COMMIT;
UPDATE d1a_toast SET n = n + 1;                         -- big stays unchanged TOAST
UPDATE d1a_toast SET n = n + 1 WHERE id = 1;
TRUNCATE d1a_trunc;
INSERT INTO d1a_trunc VALUES (9, 'after truncate');
BEGIN;
INSERT INTO d1a_ops VALUES (50, 'temp', 0);
UPDATE d1a_ops SET v = 'temp2' WHERE id = 50;
DELETE FROM d1a_ops WHERE id = 50;
INSERT INTO d1a_ops VALUES (51, 'kept', 1);
COMMIT;
UPDATE d1a_types SET i4 = 7 WHERE id = 4;
DELETE FROM d1a_types WHERE id = 3;
SQL
}

# One column per line: name, D1 storage class, value (blobs in hex, reals with 17 digits).
cols="i2 i4 i8 o num r4 f8 b t vc ch nm qc by u d tm ttz ts tstz iv js jb ai at mood cents pr ip cn mac mac8 mo x"
render=""
for c in $cols; do
    render="$render, json_array('$c', typeof($c), CASE typeof($c) WHEN 'blob' THEN hex($c) WHEN 'real' THEN printf('%!.17g', $c) ELSE CAST($c AS TEXT) END)"
done
render="SELECT json_array(id$render) FROM d1a_types ORDER BY id"
# one line per value: ID COLUMN [CLASS, VALUE]
explode() { jq -r '.[0] as $id | .[1:][] | "\($id) \(.[0]) \([.[1], .[2]] | tojson)"' | LC_ALL=C sort; }

expected="$WORK/types.expected"
cat >"$expected" <<'EXPECTED'
1 ai ["text","[1,null,3]"]
1 at ["text","[\"a\",\"b c\",\"q\\\"uote\",null,\"NULL\"]"]
1 b ["integer","1"]
1 by ["blob","000A00FF0A"]
1 cents ["integer","9007199254740993"]
1 ch ["text","ab  "]
1 cn ["text","10.0.0.0/8"]
1 d ["text","2026-11-02"]
1 f8 ["real","0.10000000000000001"]
1 i2 ["integer","-32768"]
1 i4 ["integer","2147483647"]
1 i8 ["integer","9223372036854775807"]
1 ip ["text","192.168.0.1/24"]
1 iv ["text","P1Y2M3DT4H5M6.5S"]
1 jb ["text","{\"a\": \"x\", \"b\": 1}"]
1 js ["text","{\"a\": [1, 2.50, \"x\"]}"]
1 mac ["text","08:00:2b:01:02:03"]
1 mac8 ["text","08:00:2b:01:02:03:04:05"]
1 mo ["text","$1,234.56"]
1 mood ["text","happy"]
1 nm ["text","name"]
1 num ["text","12345678901234567890.123456789012345678"]
1 o ["integer","4294967295"]
1 pr ["text","{\"a\":1,\"b\":\"x y\",\"c\":null}"]
1 qc ["text","x"]
1 r4 ["real","3.4028234999999999e+38"]
1 t ["text","ünïcode ✓ \"dq\" 'sq' back\\slash\nnewline\ttab"]
1 tm ["text","10:00:00.5"]
1 ts ["text","2026-11-02T10:00:00.123456"]
1 tstz ["text","2026-11-02T08:00:00.5Z"]
1 ttz ["text","10:00:00+05:30"]
1 u ["text","b622f8fb-9988-4869-8b55-4c7aa3d570f3"]
1 vc ["text","ab"]
1 x ["text","<a>b &amp; c</a>"]
EXPECTED
# rows 2-4 are appended from the first backend's output after checking row 1 (see below)

for backend in $D1_BACKENDS; do
    d1_use "$backend"
    dir="$WORK/$backend"
    setup_tables
    # shellcheck disable=SC2086
    d1_reset_slot $TABLES
    # shellcheck disable=SC2086
    d1_config "$dir" $TABLES
    round1
    run_w2e "run1_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "run1_$backend" 0

    d1_q "$render" | explode >"$WORK/types.$backend"
    grep '^1 ' "$WORK/types.$backend" >"$WORK/types1.$backend" || true
    if diff "$expected" "$WORK/types1.$backend" >"$WORK/types1.diff"; then
        pass "[$backend] every type of row 1 is stored as docs/types.md says"
    else
        fail "[$backend] row 1 differs from the expected D1 values"; sed 's/^/    | /' "$WORK/types1.diff" >&2
    fi
    while read -r id col want; do
        got=$(grep "^$id $col " "$WORK/types.$backend" | cut -d' ' -f3-)
        [ "$got" = "$want" ] && pass "[$backend] row $id $col = $want" || fail "[$backend] row $id $col: got $got, want $want"
    done <<'EDGES'
2 i8 ["integer","-9223372036854775808"]
2 num ["text","NaN"]
2 r4 ["text","-Infinity"]
2 f8 ["text","NaN"]
2 b ["integer","0"]
2 t ["text",""]
2 ch ["text","    "]
2 by ["blob",""]
2 d ["text","-0043-03-15"]
2 ts ["text","infinity"]
2 tstz ["text","-infinity"]
2 iv ["text","P-1D"]
2 js ["text","null"]
2 jb ["text","[]"]
2 ai ["text","[]"]
2 pr ["text","{\"a\":null,\"b\":null,\"c\":null}"]
2 ip ["text","::1"]
2 mo ["text","-$0.01"]
3 num ["text","Infinity"]
3 r4 ["text","Infinity"]
3 f8 ["text","-Infinity"]
3 ai ["text","[[1,2],[3,4]]"]
3 at ["text","[\"{}\",\",\"]"]
3 i8 ["null",null]
4 t ["null",null]
4 by ["null",null]
EDGES
    if [ "$backend" != "${D1_BACKENDS%% *}" ]; then
        cmp -s "$WORK/types.${D1_BACKENDS%% *}" "$WORK/types.$backend" &&
            pass "[$backend] every value is identical to the embedded file's" ||
            { fail "[$backend] values differ from the embedded file's";
              diff "$WORK/types.${D1_BACKENDS%% *}" "$WORK/types.$backend" | head | sed 's/^/    | /' >&2; }
    fi

    round2
    run_w2e "run2_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "run2_$backend" 0
    d1_same ops "SELECT id || '|' || coalesce(v, '~') || '|' || coalesce(n::text, '~') FROM d1a_ops" \
        "SELECT id || '|' || coalesce(v, '~') || '|' || coalesce(n, '~') FROM d1a_ops"
    d1_same toast "SELECT id || '|' || length(big) || '|' || right(big, 13) || '|' || n FROM d1a_toast" \
        "SELECT id || '|' || length(big) || '|' || substr(big, -13) || '|' || n FROM d1a_toast"
    d1_same trunc "SELECT id || '|' || v FROM d1a_trunc" "SELECT id || '|' || v FROM d1a_trunc"
    d1_same types_ids "SELECT id || '|' || coalesce(i4::text, '~') FROM d1a_types" \
        "SELECT id || '|' || coalesce(i4, '~') FROM d1a_types"
    d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'" >"$WORK/ck.$backend"
    flushed=$(psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")
    [ -s "$WORK/ck.$backend" ] && pass "[$backend] checkpoint row $(cat "$WORK/ck.$backend") (slot confirmed $flushed)" ||
        fail "[$backend] no checkpoint row"

    # a rerun finds nothing new and changes nothing
    d1_q "$render" >"$WORK/types.before.$backend"
    run_w2e "run3_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "run3_$backend" 0
    d1_q "$render" | cmp -s - "$WORK/types.before.$backend" && pass "[$backend] a rerun changes nothing" ||
        fail "[$backend] a rerun changed the data"
    d1_drop_slot
done
psql_q -c "DROP TABLE IF EXISTS d1a_types, d1a_ops, d1a_toast, d1a_trunc CASCADE" \
    -c "DROP TYPE IF EXISTS d1a_mood, d1a_pair CASCADE" -c "DROP DOMAIN IF EXISTS d1a_cents CASCADE" >/dev/null
finish
