#!/usr/bin/env bash
# kill -9 during `run` into Workers KV (embedded store and REST on the local edge): a writer changes
# rows (values, key-forming columns, identities, deletes, inserts) while run streams and is killed
# with SIGKILL every ~1.5 s; afterwards every key of the namespace equals what Postgres says.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"

export TEST_SLOT=kv_crash TEST_PUBLICATION=kv_crash_pub

writer() {   # about 5 s of small transactions
    local end=$((SECONDS + 5)) i=0
    while [ $SECONDS -lt $end ]; do  # ~5 s
        i=$((i + 1))
        echo "BEGIN;
UPDATE kvc_users SET n = n + 1, name = 'n$i' WHERE id = 1 + ($i * 7) % 200;
UPDATE kvc_users SET email = 'e$i@x.io' WHERE id = 1 + ($i * 13) % 200;
DELETE FROM kvc_users WHERE id = 1 + ($i * 31) % 200;
INSERT INTO kvc_users VALUES (1 + ($i * 31) % 200, 'r$i@x.io', 'reborn', $i % 5, 0) ON CONFLICT (id) DO NOTHING;
UPDATE kvc_users SET id = 1000 + $i WHERE id = 1 + ($i * 17) % 200 AND $i % 10 = 0;
COMMIT;"
        sleep 0.02
    done | psql_q >/dev/null
}

for backend in $KV_BACKENDS; do
    kv_use "$backend"
    DIR="$WORK/$backend"
    kv_config "$DIR"
    cat >"$DIR/mappings/users.jsonc" <<'JSONC'
{ "table": "public.kvc_users",
  "kv": [ { "namespace": "cache", "key": "user:{id}", "value": "row" },
          { "namespace": "cache", "key": "t:{tenant}:email:{email}", "value": "{id}" } ] }
JSONC
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS kvc_users;
CREATE TABLE kvc_users (id int PRIMARY KEY, email text, name text, tenant int, n int NOT NULL DEFAULT 0);
SQL
    kv_reset_slot create kvc_users
    psql_q -c "INSERT INTO kvc_users SELECT g, 'u' || g || '@x.io', 'u', g % 5, 0 FROM generate_series(1, 200) g" >/dev/null
    writer &
    wpid=$!
    kills=0
    while kill -0 "$wpid" 2>/dev/null; do
        "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" run >>"$WORK/run.out" 2>>"$WORK/run.err" &
        rpid=$!
        sleep 1.5
        kill -KILL "$rpid" 2>/dev/null && kills=$((kills + 1))
        wait "$rpid" 2>/dev/null || true
    done
    wait "$wpid" || true
    run_w2e final --config "$DIR/w.jsonc" run --exit-when-caught-up
    expect_rc final 0
    pass "[$backend] run killed with SIGKILL $kills times under load"
    psql_q -c "SELECT json_build_object('k', 'user:' || id, 'v', row_to_json(u)) FROM kvc_users u
               UNION ALL
               SELECT json_build_object('k', 't:' || tenant || ':email:' || $(kv_sql_esc email), 'v', id)
               FROM kvc_users WHERE email IS NOT NULL" >"$WORK/expected.json"
    kv_same after_crashes "$WORK/expected.json"
    psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
done
finish
