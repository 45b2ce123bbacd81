#!/usr/bin/env bash
# `wal2edge run` into Workers KV, embedded store and REST API (local edge): keys and values for
# inserts, updates, deletes and truncates; fan-out to two keys per row; a key-forming column
# change deleting the old key; primary-key changes; unchanged TOAST values taken from the row
# state; TTL and metadata (commit LSN and time); 1,000 updates of one row within about a second
# coalesced into a handful of writes with no 429 (REST); a bulk write whose key the API refuses
# (unsuccessful_keys, 1 write/s/key) retried.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"

export TEST_SLOT=kv_apply TEST_PUBLICATION=kv_apply_pub

setup() {
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS kva_users CASCADE;
CREATE TABLE kva_users (id int PRIMARY KEY, email text, name text, bio text, tenant int, n int NOT NULL DEFAULT 0);
ALTER TABLE kva_users ALTER COLUMN bio SET STORAGE EXTERNAL;
SQL
}

expected() {   # the namespace as Postgres says it should be
    psql_q -c "SELECT json_build_object('k', 'user:' || id, 'v', row_to_json(u)) FROM kva_users u
               UNION ALL
               SELECT json_build_object('k', 't:' || tenant || ':email:' || $(kv_sql_esc email), 'v', id)
               FROM kva_users WHERE email IS NOT NULL AND tenant IS NOT NULL" >"$WORK/expected.json"
}

check() {   # check NAME
    expected
    kv_same "$1" "$WORK/expected.json"
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
    cat >"$DIR/mappings/users.jsonc" <<'JSONC'
{ "table": "public.kva_users",
  "kv": [ { "namespace": "cache", "key": "user:{id}", "value": "row", "ttl": 3600 },
          { "namespace": "cache", "key": "t:{tenant}:email:{email}", "value": "{id}" } ] }
JSONC
    setup
    kv_reset_slot create kva_users

    # round 1: inserts (two keys per row; a NULL email forms no second key; ':' '/' '%' escaped)
    psql_q <<'SQL' >/dev/null
INSERT INTO kva_users SELECT g, 'u' || g || '@x.io', 'name ' || g, 'bio ' || g, g % 3, 0 FROM generate_series(1, 30) g;
UPDATE kva_users SET email = 'we:ird/50%@x.io' WHERE id = 5;
UPDATE kva_users SET email = NULL WHERE id = 6;
INSERT INTO kva_users VALUES (100, 'big@x.io', 'toasted', repeat('0123456789', 3000) || 'END', 1, 0);
SQL
    run_once round1
    check round1
    if [ "$backend" = embedded ]; then
        got=$(sqlite3 "$KV_FILE" "SELECT count(*) FROM kv WHERE key LIKE 'user:%' AND expiration BETWEEN strftime('%s','now') + 3500 AND strftime('%s','now') + 3700")
        [ "$got" = 31 ] && pass "[$backend] ttl: user:* keys expire in an hour" || fail "[$backend] ttl: $got keys with the expected expiration"
        meta=$(sqlite3 "$KV_FILE" "SELECT metadata FROM kv WHERE key = 'user:1'")
    else
        listing=$(kv_curl "$KV_API/keys?prefix=user:1&limit=10")
        exp=$(jq -r '.result[] | select(.name == "user:1") | .expiration' <<<"$listing")
        now=$(date +%s)
        [ "$exp" -gt $((now + 3500)) ] && [ "$exp" -lt $((now + 3700)) ] && pass "[$backend] ttl: user:1 expires in an hour" ||
            fail "[$backend] ttl: user:1 expiration $exp"
        meta=$(jq -c '.result[] | select(.name == "user:1") | .metadata' <<<"$listing")
    fi
    if jq -e '(.commit_lsn | test("^[0-9A-F]+/[0-9A-F]+$")) and (.commit_time | test("^20[0-9-]+T[0-9:.]+Z$"))' <<<"$meta" >/dev/null; then
        pass "[$backend] metadata carries commit_lsn and commit_time ($meta)"
    else fail "[$backend] metadata: $meta"; fi
    [ "$(kv_keys | grep -c '^t:2:email:we%3Aird%2F50%25@x.io$')" = 1 ] && pass "[$backend] key escaping" || fail "[$backend] key escaping"

    # round 2: key-forming column changes, deletes, primary-key changes, unchanged TOAST
    psql_q <<'SQL' >/dev/null
UPDATE kva_users SET email = 'new' || id || '@x.io' WHERE id IN (1, 2, 3);      -- old email keys deleted
UPDATE kva_users SET tenant = 9 WHERE id = 4;
UPDATE kva_users SET email = NULL WHERE id = 7;                                  -- second key goes away
UPDATE kva_users SET email = 'back@x.io' WHERE id = 6;                           -- second key appears
DELETE FROM kva_users WHERE id IN (10, 11);
UPDATE kva_users SET id = id + 1000 WHERE id IN (12, 13);                        -- identity change
BEGIN;
UPDATE kva_users SET n = n + 1 WHERE id = 100;                                   -- bio stays unchanged TOAST
UPDATE kva_users SET id = 1100 WHERE id = 100;
UPDATE kva_users SET name = 'still toasted' WHERE id = 1100;
COMMIT;
BEGIN;
INSERT INTO kva_users VALUES (200, 'tmp@x.io', 'tmp', 'tmp', 1, 0);
UPDATE kva_users SET email = 'tmp2@x.io' WHERE id = 200;
DELETE FROM kva_users WHERE id = 200;
COMMIT;
SQL
    run_once round2
    check round2

    # round 3: a rerun applies nothing new; then a truncate empties the namespace
    run_once rerun
    check rerun
    psql_q -c "TRUNCATE kva_users; INSERT INTO kva_users VALUES (1, 'after@x.io', 'after truncate', 'b', 1, 0)" >/dev/null
    run_once truncate
    check truncate

    # hot key: 1,000 single-statement transactions on one row within about a second, run streaming
    psql_q -c "INSERT INTO kva_users SELECT g, 'h' || g || '@x.io', 'h', 'h', 1, 0 FROM generate_series(2, 5) g" >/dev/null
    run_once hot_prepare
    [ "$backend" = rest ] && seq0=$(curl -s "$EDGE_ADMIN_URL/log?limit=1" | jq .last_seq)
    "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >"$WORK/hot.out" 2>"$WORK/hot.err" &
    run_pid=$!
    sleep 1
    start=$(date +%s%N)
    for i in $(seq 1 1000); do echo "UPDATE kva_users SET n = $i WHERE id = 1;"; done | psql_q >/dev/null
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    sleep 2.5
    # SIGTERM stops between transactions: first the last update in KV (a slow build may still be at it)
    for _ in $(seq 1 120); do
        if [ "$backend" = embedded ]; then
            hot_n=$(sqlite3 -batch -noheader "$KV_FILE" "SELECT json_extract(value, '$.n') FROM kv WHERE key = 'user:1'" 2>/dev/null || true)
        else
            hot_n=$(kv_curl "$KV_API/values/user:1" | jq -r '.n // empty' 2>/dev/null || true)
        fi
        [ "$hot_n" = 1000 ] && break
        sleep 0.5
    done
    kill -TERM "$run_pid"; wait "$run_pid" || true
    check hot_key
    if [ "$backend" = rest ]; then
        log=$(curl -s "$EDGE_ADMIN_URL/log?since=$seq0&path=$KV_NS_ID&limit=1000")
        writes=$(jq '[.entries[] | select(.route == "kv.bulk_write")] | length' <<<"$log")
        throttled=$(jq '[.entries[] | select(.status == 429)] | length' <<<"$log")
        [ "$writes" -le 8 ] && pass "[$backend] 1000 updates in ${elapsed_ms} ms became $writes bulk writes" ||
            fail "[$backend] 1000 updates in ${elapsed_ms} ms became $writes bulk writes (expected a handful)"
        [ "$throttled" = 0 ] && pass "[$backend] no 429 under the hot key" || fail "[$backend] $throttled responses were 429"

        # partial failure: the key was just written by someone else, so the bulk write refuses it
        # (unsuccessful_keys); wal2edge retries it a second later and the newest value wins
        seq1=$(curl -s "$EDGE_ADMIN_URL/log?limit=1" | jq .last_seq)
        psql_q -c "UPDATE kva_users SET name = 'after partial failure' WHERE id = 2" >/dev/null
        kv_curl -X PUT "$KV_API/values/user:2" --data-binary 'written by someone else' >/dev/null
        run_once partial
        check partial_retried
        writes=$(curl -s "$EDGE_ADMIN_URL/log?since=$seq1&path=$KV_NS_ID&limit=100" |
            jq '[.entries[] | select(.route == "kv.bulk_write")] | length')
        [ "$writes" -ge 2 ] && pass "[$backend] the refused key was written again ($writes bulk writes)" ||
            fail "[$backend] expected a retried bulk write, saw $writes"
    fi
done
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
finish
