# tests/integration/snapshot_lib.sh - helpers for snapshot_*_test.sh (sourced after lib.sh).

# snx_schema PREFIX: a table with every translated type (PREFIX_types) and some filler rows
snx_schema() {
    local p=$1
    psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS ${p}_types; DROP TYPE IF EXISTS ${p}_mood; DROP TYPE IF EXISTS ${p}_pair;
DROP DOMAIN IF EXISTS ${p}_cents;
CREATE TYPE ${p}_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN ${p}_cents AS bigint CHECK (VALUE >= 0);
CREATE TYPE ${p}_pair AS (a int, b text, c numeric);
CREATE TABLE ${p}_types (
    id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, o oid, num numeric, r4 real,
    f8 double precision, b boolean, t text, vc varchar(10), ch char(4), nm name, qc "char",
    by bytea, u uuid, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
    js json, jb jsonb, ai int[], at text[], mood ${p}_mood, cents ${p}_cents, pr ${p}_pair,
    ip inet, cn cidr, mac macaddr, mac8 macaddr8, x xml);
INSERT INTO ${p}_types VALUES
 (1, -32768, 2147483647, 9223372036854775807, 4294967295, 12345678901234567890.123456789012345678,
  3.4028235e38, 0.1, true, E'ünïcode ✓ "dq" ''sq'' back\\\\slash\nnewline\ttab', 'ab', 'ab', 'name',
  'x', '\\x000a00ff0a', 'B622F8FB-9988-4869-8B55-4C7AA3D570F3', '2026-11-02', '10:00:00.5',
  '10:00:00+05:30', '2026-11-02 10:00:00.123456', '2026-11-02 10:00:00.5+02',
  '1 year 2 mons 3 days 04:05:06.5', '{"a": [1, 2.50, "x"]}', '{"b": 1, "a": "x"}', '{1,NULL,3}',
  '{"a","b c","q\\"uote",NULL,"NULL"}', 'happy', 9007199254740993, '(1,"x y",)', '192.168.0.1/24',
  '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '<a>b &amp; c</a>'),
 (2, 0, -2147483648, -9223372036854775808, 0, 'NaN', '-Infinity', 'NaN', false, '', '', '',
  '', ' ', '\\x', '00000000-0000-0000-0000-000000000000', '0044-03-15 BC', '00:00', '23:59:59.999999-12',
  'infinity', '-infinity', '-1 days', '"s"', '[]', '{}', '{}', 'sad', 0, '(,,)', '::1', '::/0',
  '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', ''),
 (3, NULL, NULL, NULL, NULL, 'Infinity', 'Infinity', '-Infinity', NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{{1,2},{3,4}}', '{"{}",","}',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SQL
}

# snx_rows DIR : every row of every part under DIR, decompressed with the zstd CLI, to stdout
snx_rows() {
    local f
    for f in $(ls "$1"/part-*.ndjson.zst 2>/dev/null | sort); do zstd -dcq "$f"; done
}

# snx_compare NDJSON TABLE : load the rows back into Postgres (jsonb_populate_record) and print
# every row of TABLE that differs (nothing when the snapshot is lossless and complete)
snx_compare() {
    local file=$1 table=$2
    psql_q <<SQL
CREATE TEMP TABLE snap_in (j jsonb);
\\copy snap_in FROM '$file' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')
-- dates BC are rendered with astronomical years (ISO 8601); Postgres reads them back as "BC"
UPDATE snap_in SET j = jsonb_set(j, '{d}', to_jsonb(lpad(((substr(j->>'d', 2, 4))::int + 1)::text, 4, '0')
    || substr(j->>'d', 6) || ' BC')) WHERE j->>'d' LIKE '-%';
SELECT 'differs: ' || src.id || ' ' || src::text || ' <> ' || coalesce(got::text, 'missing')
  FROM $table src
  LEFT JOIN (SELECT p.* FROM snap_in s, jsonb_populate_record(null::$table, s.j) p) got ON got.id = src.id
 WHERE got::text IS DISTINCT FROM src::text;
SELECT 'extra or duplicate rows: ' || (SELECT count(*) FROM snap_in) - (SELECT count(*) FROM $table)
 WHERE (SELECT count(*) FROM snap_in) <> (SELECT count(*) FROM $table);
SQL
}
