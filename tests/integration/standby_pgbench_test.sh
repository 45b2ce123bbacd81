#!/usr/bin/env bash
# run --standby under pgbench (docs/scale.md, "Standby takeover"): first two, then three
# instances with the same config (REST D1 and REST KV on the local edge) and state directories
# of their own, while pgbench runs a read-write script (updates, inserts, deletes) on the mapped
# table; the active is killed with -9 at random points and comes back as a standby. Afterwards
# D1 and KV equal Postgres value by value, and no change was lost or left half-applied.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"
source "$(dirname "$0")/kv_lib.sh"
export TEST_SLOT=standby_pgb TEST_PUBLICATION=standby_pgb_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
pgbench=$(command -v pgbench || echo "${PG_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench")
[ -x "$pgbench" ] || { echo "$TEST_NAME: pgbench is required (postgresql-15)" >&2; exit 1; }
# a private emulator (as standby_test): a takeover test should not share D1 slots and load with
# every other test's databases on the common one
start_consumer_edge pgbq
D1_BACKEND=rest D1_DB_ID=pgbd
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$D1_DB_ID"
KV_BACKEND=rest KV_NS_ID=pgbk
KV_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/storage/kv/namespaces/$KV_NS_ID"
psql_q <<SQL >/dev/null
SET client_min_messages = warning;
DROP TABLE IF EXISTS pgb_acct;
CREATE TABLE pgb_acct (id int PRIMARY KEY, n int NOT NULL, note text);
INSERT INTO pgb_acct SELECT g, 0, 'start' FROM generate_series(1, 200) g;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE pgb_acct;
SQL
cat >"$WORK/bench.sql" <<'SQL'
\set id random(1, 400)
\set r random(1, 10)
BEGIN;
UPDATE pgb_acct SET n = n + 1, note = 'u' || :client_id WHERE id = :id;
INSERT INTO pgb_acct VALUES (:id + 400, :r, 'i') ON CONFLICT (id) DO UPDATE SET n = pgb_acct.n + :r, note = 'c';
DELETE FROM pgb_acct WHERE id = :id + 200 AND :r = 1;
COMMIT;
SQL
declare -A pid
for i in a b c; do
    mkdir -p "$WORK/$i/mappings"
    write_config "$WORK/$i/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
                  \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": { \"database_id\": \"$D1_DB_ID\" } }, \"kv\": { \"cache\": { \"namespace_id\": \"$KV_NS_ID\" } },
  \"mappings\": [\"mappings/*.jsonc\"]"
    echo '{ "table": "public.pgb_acct", "d1": { "database": "app" },
            "kv": [ { "namespace": "cache", "key": "acct:{id}", "value": "row" } ] }' >"$WORK/$i/mappings/pgb_acct.jsonc"
done
trap 'rc=$?; for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; kill $edge_pid 2>/dev/null || true; sleep 0.5
      psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
run_w2e slot --config "$WORK/a/w.jsonc" slot create
expect_rc slot 0
run_w2e migrate --config "$WORK/a/w.jsonc" migrate
expect_rc migrate 0
run_w2e warm --config "$WORK/a/w.jsonc" warm
expect_rc warm 0
start() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" & pid[$1]=$!; }
holder() { psql_q -c "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }
# the instance whose walsender holds the slot: its own pid is the walsender's client (application) - find it by
# asking each instance's status
active_of() {
    local i
    for i in "$@"; do
        [ "$("$WAL2EDGE_BIN" --config "$WORK/$i/w.jsonc" status --json 2>/dev/null | jq -r '.run.state // ""')" = streaming ] &&
            kill -0 "${pid[$i]}" 2>/dev/null && { echo "$i"; return 0; }
    done
    return 1
}
wait_active() {   # wait_active SECONDS INSTANCE...: prints the active one
    local s=$1 _; shift
    for _ in $(seq 1 $((s * 5))); do active_of "$@" && return 0; sleep 0.2; done
    return 1
}
kills=0 takeovers=0
round() {   # round SECONDS KILLS INSTANCE...: pgbench for SECONDS, KILLS kill -9s of the active at random points
    local secs=$1 n=$2; shift 2
    "$pgbench" -n -c 2 -j 2 -T "$secs" -f "$WORK/bench.sql" >"$WORK/pgbench.$secs.out" 2>&1 &
    local bench=$!
    local k victim next
    for ((k = 0; k < n; k++)); do
        sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.1f", 1 + (r % 30) / 10 }')"   # 1.0 - 3.9 s
        victim=$(wait_active 20 "$@") || { fail "no active instance before kill $((kills + 1))"; continue; }
        kill -9 "${pid[$victim]}"
        wait "${pid[$victim]}" 2>/dev/null || true
        kills=$((kills + 1))
        start "$victim"   # the killed one comes back: it must stand by, not write
        next=$(wait_active 20 "$@") && takeovers=$((takeovers + 1)) || fail "nobody took over after killing $victim"
    done
    wait $bench || fail "pgbench failed: $(tail -3 "$WORK/pgbench.$secs.out")"
}
start a
wait_active 60 a >/dev/null && pass "a holds the slot" || fail "a never streams"
start b
round 14 3 a b
start c
round 14 3 a b c
[ $takeovers = $kills ] && [ $kills = 6 ] && pass "6 kill -9s of the active at random points under pgbench (2, then 3 instances): each time another took over" ||
    fail "$takeovers takeovers for $kills kills"
[ "$(psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND active")" = 1 ] &&
    pass "one instance holds the slot" || fail "the slot is not held"

want=$(psql_q -c "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM pgb_acct ORDER BY id")
for _ in $(seq 1 450); do   # up to 90 s for the last active to catch up
    got=$(d1_q "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM pgb_acct ORDER BY id" || true)
    [ "$got" = "$want" ] && break
    sleep 0.2
done
if [ "$got" = "$want" ]; then
    pass "D1 equals Postgres value by value ($(wc -l <<<"$want") rows)"
else
    fail "D1 differs from Postgres ($(wc -l <<<"$want") rows; D1 answers $(wc -l <<<"$got") lines, first: $(head -c 200 <<<"$got"))"
    { diff <(echo "$want") <(echo "$got") || true; } | head -10 >&2
fi
psql_q -c "SELECT json_build_object('k', 'acct:' || id, 'v', row_to_json(a)) FROM pgb_acct a" >"$WORK/expected.json"
for _ in $(seq 1 30); do kv_dump >"$WORK/kv.now"; cmp -s <(jq -c -S . "$WORK/expected.json" | LC_ALL=C sort) "$WORK/kv.now" && break; sleep 1; done
kv_same after_takeovers "$WORK/expected.json"
for i in a b c; do
    grep -q '"level":"error"' "$WORK/$i.err" && grep '"level":"error"' "$WORK/$i.err" | grep -v "terminat\|connection\|slot.*active\|being created" | head -3 | sed "s/^/    $i | /" >&2
done
finish
