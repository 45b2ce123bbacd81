#!/usr/bin/env bash
# `wal2edge warm` into Workers KV (embedded store and REST on the local edge): warm creates the slot
# with an exported snapshot and reads the table in it; it is killed (SIGKILL) part-way, the table
# changes, warm resumes from the last committed key, and `run` then applies the changes made since
# the slot's snapshot; every key is checked against Postgres.
# Size: 100,000 rows into the embedded store and 20,000 into the emulator by default (CI: the
# emulator's KV stores about 1,000 keys/s, see bench/kv/README.md); W2E_LONG_TESTS=1 warms
# 1,000,000 rows into both (the issue's size). REST values are compared for the changed rows plus a 2,000-key
# sample (the key set is compared in full): reading every value back would cost more API requests
# than the emulator's account rate limit allows; the embedded store is compared in full.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"

export TEST_SLOT=kv_warm TEST_PUBLICATION=kv_warm_pub

expected() {
    psql_q -c "SELECT json_build_object('k', 'item:' || id, 'v', row_to_json(t)) FROM kvw_items t" >"$WORK/expected.json"
}

for backend in $KV_BACKENDS; do
    kv_use "$backend"
    ROWS=100000
    [ "$backend" = rest ] && ROWS=20000
    [ "${W2E_LONG_TESTS:-0}" = 1 ] && ROWS=1000000
    DIR="$WORK/$backend"
    kv_config "$DIR"
    echo '{ "table": "public.kvw_items", "kv": [ { "namespace": "cache", "key": "item:{id}", "value": "row" } ] }' \
        >"$DIR/mappings/items.jsonc"
    psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS kvw_items;
CREATE TABLE kvw_items (id int PRIMARY KEY, sku text NOT NULL, name text, qty int, active boolean);
INSERT INTO kvw_items SELECT g, 'SKU-' || g, 'item ' || g, g % 1000, g % 2 = 0 FROM generate_series(1, $ROWS) g;
ANALYZE kvw_items;
SQL
    kv_reset_slot nocreate kvw_items
    INDEX_DB="$DIR/state/kv/cache.sqlite"
    [ "$backend" = rest ] && INDEX_DB="$DIR/state/kv/cache.index.sqlite"
    if [ "$backend" = rest ]; then   # slow the bulk writes down so the kill lands mid-way
        curl -s -X POST "$EDGE_ADMIN_URL/faults" -d "{\"path\":\"$KV_NS_ID/bulk\",\"delay_ms\":300,\"count\":2}" >/dev/null
    fi

    # 1. warm, killed once some progress is committed
    "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" warm >"$WORK/warm1.out" 2>"$WORK/warm1.err" &
    pid=$!
    for _ in $(seq 1 4000); do   # up to ~2 min: the emulator's first bulk write is slow on a loaded machine
        n=$(sqlite3 "$INDEX_DB" "SELECT coalesce(max(rows), 0) FROM _wal2edge_kv_warm WHERE done = 0" 2>/dev/null || echo 0)
        [ "${n:-0}" -gt 0 ] && break
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    progress=$(sqlite3 "$INDEX_DB" "SELECT rows || '/' || done FROM _wal2edge_kv_warm")
    case "$progress" in
    */0) pass "[$backend] warm killed part-way ($progress rows/done committed)" ;;
    *) fail "[$backend] warm was not interrupted part-way (progress $progress)" ;;
    esac
    expect_contains "$WORK/warm1.err" "created replication slot" "[$backend] warm created the slot"

    # 2. changes after the slot's snapshot: run must apply them after warm
    psql_q <<SQL >/dev/null
UPDATE kvw_items SET name = 'changed early' WHERE id IN (1, 2, 3);
UPDATE kvw_items SET name = 'changed late' WHERE id IN ($ROWS - 1, $ROWS);
DELETE FROM kvw_items WHERE id IN (4, $ROWS - 2);
INSERT INTO kvw_items VALUES ($ROWS + 1, 'SKU-new', 'new', 1, true);
SQL

    # 3. resume
    run_w2e warm2 --config "$DIR/w.jsonc" warm
    expect_rc warm2 0
    expect_contains "$WORK/warm2.err" "resuming an interrupted warm" "[$backend] warm resumed"
    resumed=$(sqlite3 "$INDEX_DB" "SELECT rows || '/' || done FROM _wal2edge_kv_warm")
    [ "${resumed#*/}" = 1 ] && pass "[$backend] warm finished ($resumed)" || fail "[$backend] warm progress $resumed"
    keys=$(kv_keys | wc -l)
    # the warm reads the resumed part in a newer snapshot: the inserted row may or may not be there yet
    [ "$keys" -ge $((ROWS - 2)) ] && [ "$keys" -le $((ROWS + 1)) ] && pass "[$backend] warm wrote $keys keys" ||
        fail "[$backend] warm wrote $keys keys, expected about $ROWS"

    # 4. run continues from the slot: the namespace equals the table
    run_w2e run --config "$DIR/w.jsonc" run --exit-when-caught-up
    expect_rc run 0
    expected
    if [ "$backend" = embedded ]; then
        kv_same after_run "$WORK/expected.json"
    else
        jq -r .k "$WORK/expected.json" | LC_ALL=C sort >"$WORK/want.keys"
        kv_keys >"$WORK/got.keys"
        if cmp -s "$WORK/want.keys" "$WORK/got.keys"; then pass "[$backend] key set equals the table ($(wc -l <"$WORK/want.keys") keys)"
        else fail "[$backend] key set differs"; diff "$WORK/want.keys" "$WORK/got.keys" | head | sed 's/^/    | /' >&2; fi
        { printf 'item:%s\n' 1 2 3 $((ROWS - 1)) $ROWS $((ROWS + 1)); awk 'NR % 10 == 7' "$WORK/want.keys" | head -n 2000; } |
            LC_ALL=C sort -u >"$WORK/sample.keys"
        jq -c -S . "$WORK/expected.json" | grep -F -f <(sed 's/.*/"k":"&"/' "$WORK/sample.keys") | LC_ALL=C sort >"$WORK/sample.want"
        kv_dump "$WORK/sample.keys" >"$WORK/sample.got"
        if cmp -s "$WORK/sample.want" "$WORK/sample.got"; then pass "[$backend] values match for $(wc -l <"$WORK/sample.got") sampled and changed keys"
        else fail "[$backend] sampled values differ"; diff "$WORK/sample.want" "$WORK/sample.got" | head | sed 's/^/    | /' >&2; fi
        curl -s -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
    fi
    psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
done
finish
