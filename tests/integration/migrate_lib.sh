# tests/integration/migrate_lib.sh - helpers for migrate_*_test.sh (sourced after lib.sh and
# snapshot_lib.sh; TEST_SLOT and TEST_PUBLICATION set).

# mig_cleanup PREFIX: the test's slots and publication gone
mig_cleanup() {
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '$1%'" >/dev/null
    psql_q -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
}

# mig_schema PREFIX USERS ITEMS: PREFIX_types (every translated type), PREFIX_users and
# PREFIX_items (a foreign key to users; names with quotes and SQL comment marks), analyzed
mig_schema() {
    local p=$1
    snx_schema "$p"
    psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS ${p}_items, ${p}_users;
CREATE TABLE ${p}_users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, score numeric, born date,
    active boolean, avatar bytea, tags text[], meta jsonb, f8 double precision);
CREATE TABLE ${p}_items (id int PRIMARY KEY, user_id bigint NOT NULL REFERENCES ${p}_users(id), name text,
    price numeric(10,2), at timestamptz);
INSERT INTO ${p}_users SELECT g, 'u' || g || '@x', g * 1.5, date '2000-01-01' + g, g % 2 = 0, '\\x00ff',
    ARRAY['a', g::text], jsonb_build_object('g', g), g / 3.0 FROM generate_series(1, $2) g;
INSERT INTO ${p}_items SELECT g, 1 + g % $2, 'item ''' || g || '''; --', g * 0.01,
    '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, $3) g;
ANALYZE ${p}_users; ANALYZE ${p}_items; ANALYZE ${p}_types;
SQL
}

# mig_writer PREFIX MOD: transactions on users and items (insert, update and delete among ids
# 1..MOD) until $WORK/stop exists
mig_writer() {
    local p=$1 mod=$2 i=0
    while [ ! -f "$WORK/stop" ]; do
        i=$((i + 1))
        psql_q -c "BEGIN; INSERT INTO ${p}_users VALUES (100000 + $i, 'w$i@x', $i, NULL, true, NULL, NULL, NULL, 0.5);
                   INSERT INTO ${p}_items VALUES (100000 + $i, 100000 + $i, 'w', 1, now());
                   UPDATE ${p}_items SET price = price + 1 WHERE id = 1 + ($i * 7) % $mod;
                   DELETE FROM ${p}_items WHERE id = 1 + ($i * 13) % $mod; COMMIT" >/dev/null 2>&1 || true
    done
}
