#!/usr/bin/env bash
# run --standby and the KV key index (docs/scale.md, docs/kv.md): a KV key naming a non-key column
# (user:{email}); the active writes the rows, is killed with kill -9, and a standby with an EMPTY
# state directory takes over - it rebuilds its key index from the keys' metadata (the row each key
# belongs to) - then updates change every row's email and some rows go: no stale key is left, the
# namespace equals what Postgres implies. The first active comes back with its old state directory,
# the second is killed, and the first takes over again: its index is rebuilt too (the group's
# checkpoint is ahead of its own), so a further email change leaves no stale key either.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"
export TEST_SLOT=sbkv_t TEST_PUBLICATION=sbkv_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
kv_use rest

psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS sbkv_user;
CREATE TABLE sbkv_user (id int PRIMARY KEY, email text NOT NULL, name text);
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE sbkv_user;
SQL
declare -A pid
for i in a b; do
    kv_config "$WORK/$i"
    echo '{ "table": "public.sbkv_user", "kv": [ { "namespace": "cache", "key": "user:{email}", "value": "row" } ] }' \
        >"$WORK/$i/mappings/user.jsonc"
done
run_w2e slot --config "$WORK/a/w.jsonc" slot create
expect_rc slot 0
start() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" & pid[$1]=$!; }
state_of() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" status --json 2>/dev/null | jq -r '.run.state // "none"' || true; }
wait_state() {   # wait_state INSTANCE STATE SECONDS
    local _
    for _ in $(seq 1 $(($3 * 5))); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
want() { psql_q -c "SELECT json_build_object('k', 'user:' || $(kv_sql_esc email), 'v', row_to_json(u)) FROM sbkv_user u" >"$WORK/kv.want"; }
wait_kv() {   # wait_kv SECONDS: until the namespace equals Postgres
    local _
    want
    jq -c -S . "$WORK/kv.want" | LC_ALL=C sort >"$WORK/kv.want.s"
    for _ in $(seq 1 "$1"); do
        kv_dump >"$WORK/kv.got.s" 2>/dev/null || true
        cmp -s "$WORK/kv.want.s" "$WORK/kv.got.s" && return 0
        sleep 1
    done
    return 1
}
kv_settles() {   # kv_settles WHEN: within 30 s the namespace equals Postgres - no stale key
    if wait_kv 30; then
        pass "after $1: no stale key, KV equals Postgres ($(wc -l <"$WORK/kv.want.s") keys)"
    else
        fail "after $1 KV differs from Postgres"
        diff "$WORK/kv.want.s" "$WORK/kv.got.s" | head -10 | sed 's/^/    | /' >&2
    fi
}
trap 'rc=$?; for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

start a
wait_state a streaming 60 && pass "a takes the slot" || fail "a is $(state_of a)"
start b
wait_state b standby 30 && pass "b stands by" || fail "b is $(state_of b)"
psql_q -c "INSERT INTO sbkv_user SELECT g, 'u' || g || '@old.example', 'n' || g FROM generate_series(1, 40) g" >/dev/null
wait_kv 30 && pass "a wrote every user's key" || fail "KV after a's inserts: $(diff "$WORK/kv.want.s" "$WORK/kv.got.s" | head -5)"
[ ! -e "$WORK/b/state/kv" ] && pass "b's state directory holds no key index" || fail "b's state: $(ls -R "$WORK/b/state")"

kill -9 "${pid[a]}"
wait_state b streaming 30 && pass "b takes over after kill -9 of a" || fail "b is $(state_of b)"
# every row's key inputs change (and some rows go, some come) while b is active
psql_q <<SQL >/dev/null
UPDATE sbkv_user SET email = 'u' || id || '@new.example' WHERE id <= 30;
UPDATE sbkv_user SET name = 'renamed' WHERE id > 30;
DELETE FROM sbkv_user WHERE id BETWEEN 26 AND 30;
INSERT INTO sbkv_user VALUES (41, 'u41@new.example', 'n41');
SQL
after_updates=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
kv_settles "the takeover"
expect_contains "$WORK/b.err" "key index rebuilt from KV: 40 keys" "b rebuilt its key index from KV's metadata"

# a comes back with its old index (every row under its first email), b is killed, a takes over:
# the group's checkpoint moves a's forward and its index is rebuilt, so the emails changing again
# leave no key b wrote behind
# b's checkpoint reaches the group's table with its next confirm (not after a fixed delay)
for _ in $(seq 1 150); do
    [ "$(psql_q -c "SELECT count(*) FROM wal2edge_checkpoints WHERE slot = '$TEST_SLOT' AND target = 'kv.cache'
                    AND end_lsn >= '$after_updates'")" = 1 ] && break
    sleep 0.2
done
start a
wait_state a standby 30 && pass "a, back, stands by" || fail "a came back as $(state_of a)"
kill -9 "${pid[b]}"
wait_state a streaming 30 && pass "a takes over after kill -9 of b" || fail "a is $(state_of a)"
psql_q -c "UPDATE sbkv_user SET email = 'u' || id || '@third.example' WHERE id <= 25 OR id = 41" >/dev/null
kv_settles "the second takeover"
expect_contains "$WORK/a.err" "behind the standby group's" "a's checkpoint moves up to the group's"
expect_contains "$WORK/a.err" "key index rebuilt from KV: 36 keys" "a rebuilt its key index from KV's metadata"
finish
