#!/usr/bin/env bash
# `wal2edge run` into KV for a table on the fixed-key path (issue #13): every key names only the
# primary key and every column is bounded, so the row can never be TOASTed: no row state is kept
# and an upsert does not read the key index. Inserts, an insert and its updates in one
# transaction, deletes (every key of the row goes), a delete and re-insert of one row in one
# window, primary-key changes (the old keys go) and a truncate leave KV equal to Postgres; the
# index holds one row per source row and no row state.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"

export TEST_SLOT=kv_fixed TEST_PUBLICATION=kv_fixed_pub

expected() {   # the namespace as Postgres says it should be
    psql_q -c "SELECT json_build_object('k', 'item:' || id, 'v', row_to_json(i)) FROM kvf_items i
               UNION ALL
               SELECT json_build_object('k', 'qty:' || id, 'v', qty) FROM kvf_items" >"$WORK/expected.json"
}

check() {   # check NAME: KV equals Postgres; embedded: the index has one stateless row per source row
    expected
    kv_same "$1" "$WORK/expected.json"
    if [ "$KV_BACKEND" = embedded ]; then
        local rows want
        rows=$(sqlite3 "$KV_FILE" "SELECT count(*) || '/' || count(state) FROM _wal2edge_kv_rows")
        want="$(psql_q -c 'SELECT count(*) FROM kvf_items')/0"
        [ "$rows" = "$want" ] && pass "[$KV_BACKEND] $1: index rows/rows with state = $rows" ||
            fail "[$KV_BACKEND] $1: index rows/rows with state = $rows, expected $want"
    fi
}

run_once() {   # run_once NAME
    run_w2e "$1" --config "$DIR/w.jsonc" run --exit-when-caught-up
    expect_rc "$1" 0
    expect_not_contains "$WORK/$1.err" '"level":"error"' "[$KV_BACKEND] $1 logs no error"
}

for backend in $KV_BACKENDS; do
    kv_use "$backend"
    DIR="$WORK/$backend"
    kv_config "$DIR"
    cat >"$DIR/mappings/items.jsonc" <<'JSONC'
{ "table": "public.kvf_items",
  "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" },
          { "namespace": "cache", "key": "qty:{id}", "value": "{qty}" } ] }
JSONC
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS kvf_items CASCADE;
CREATE TABLE kvf_items (id int PRIMARY KEY, sku varchar(20) NOT NULL, qty int NOT NULL, note varchar(40));
SQL
    kv_reset_slot create kvf_items

    psql_q <<'SQL' >/dev/null
INSERT INTO kvf_items SELECT g, 'sku-' || g, g, 'n' || g FROM generate_series(1, 40) g;
BEGIN;
INSERT INTO kvf_items VALUES (100, 'new', 1, NULL);
UPDATE kvf_items SET qty = qty + 1 WHERE id = 100;
UPDATE kvf_items SET sku = 'renamed' WHERE id = 100;
COMMIT;
SQL
    run_once round1
    check round1

    psql_q <<'SQL' >/dev/null
UPDATE kvf_items SET qty = qty * 2 WHERE id <= 10;
DELETE FROM kvf_items WHERE id IN (20, 21);
BEGIN;
DELETE FROM kvf_items WHERE id = 30;
INSERT INTO kvf_items VALUES (30, 'back', 3, 'b');
UPDATE kvf_items SET qty = 33 WHERE id = 30;
COMMIT;
BEGIN;
INSERT INTO kvf_items VALUES (200, 'tmp', 1, 't');
UPDATE kvf_items SET qty = 2 WHERE id = 200;
DELETE FROM kvf_items WHERE id = 200;
COMMIT;
UPDATE kvf_items SET id = id + 1000 WHERE id IN (31, 32);
SQL
    run_once round2
    check round2

    psql_q -c "TRUNCATE kvf_items; INSERT INTO kvf_items VALUES (1, 'after', 1, 'a'); UPDATE kvf_items SET qty = 5" >/dev/null
    run_once truncate
    check truncate
done
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
finish
