#!/usr/bin/env bash
# run --standby after a network cut (docs/scale.md, "A network cut"): the active's connections to
# Postgres stop passing packets (iptables DROP on their ports: the process runs on, the server
# hears nothing). With wal_sender_timeout = 3s set per connection through the DSN's options, the
# walsender gives the slot up and the standby takes over (timed); when the cut heals, the former
# active finds the slot taken and stands by, without flushing what it had not confirmed; D1
# equals Postgres. Needs root (iptables); says so and passes vacuously without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"
export TEST_SLOT=standby_cut TEST_PUBLICATION=standby_cut_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
if [ "$(id -u)" != 0 ] || ! iptables -L INPUT -n >/dev/null 2>&1 || ! command -v ss >/dev/null; then
    echo "$TEST_NAME: SKIPPED: cutting a connection needs root, iptables and ss"
    exit 0
fi
start_consumer_edge unused
D1_BACKEND=rest
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/sbc"
psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS sc_acct;
CREATE TABLE sc_acct (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO sc_acct SELECT g, 0 FROM generate_series(1, 20) g;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE sc_acct;
SQL
export CUT_DSN="$DATABASE_URL?options=-c%20wal_sender_timeout%3D3s"
declare -A pid
for i in a b; do
    mkdir -p "$WORK/$i/mappings"
    write_config "$WORK/$i/w.jsonc" '"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },
  "d1": { "app": { "database_id": "sbc" } }, "mappings": ["mappings/*.jsonc"]'
    sed -i 's|"dsn": "${DATABASE_URL}"|"dsn": "${CUT_DSN}"|' "$WORK/$i/w.jsonc"
    echo '{ "table": "public.sc_acct", "d1": { "database": "app" } }' >"$WORK/$i/mappings/sc_acct.jsonc"
done
rules=()
heal() {
    local r
    for r in "${rules[@]}"; do iptables -D INPUT $r 2>/dev/null || true; done
    rules=()
}
trap 'rc=$?; heal; for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; kill $edge_pid 2>/dev/null || true
      psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
start() {
    "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" &
    pid[$1]=$!
}
state_of() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" status --json 2>/dev/null | jq -r '.run.state // "none"' || true; }
wait_state() {
    local _
    for _ in $(seq 1 $(($3 * 5))); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
holder() { psql_q -c "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }

run_w2e slot --config "$WORK/a/w.jsonc" slot create
expect_rc slot 0
start a
wait_state a streaming 60 && pass "a streams" || fail "a is $(state_of a)"
start b
wait_state b standby 30 && pass "b stands by" || fail "b is $(state_of b)"
psql_q -c "UPDATE sc_acct SET n = n + 1" >/dev/null
old=$(holder)

# the cut: every connection a has to Postgres now drops its packets both ways
# (with a state filter ss prints no State column: the local address is the third)
for port in $(ss -tnpH state established "( dport = :$PGPORT )" | grep "pid=${pid[a]}," | awk '{print $3}' | sed 's/.*://'); do
    rules+=("-p tcp --sport $port --dport $PGPORT -j DROP" "-p tcp --sport $PGPORT --dport $port -j DROP")
done
[ ${#rules[@]} -gt 0 ] || fail "no connection of a to Postgres found"
t0=$(date +%s%3N)
for r in "${rules[@]}"; do iptables -I INPUT $r; done
for i in $(seq 1 20); do psql_q -c "UPDATE sc_acct SET n = n + 1 WHERE id = $i" >/dev/null; sleep 0.2; done &
writer=$!
t_slot=""
for _ in $(seq 1 300); do
    h=$(holder)
    if [ "$h" != 0 ] && [ "$h" != "$old" ]; then t_slot=$(date +%s%3N); break; fi
    sleep 0.1
done
wait "$writer"
[ -n "$t_slot" ] && echo "takeover after a network cut of the active: slot held by b after $((t_slot - t0)) ms (wal_sender_timeout 3 s)"
[ -n "$t_slot" ] && [ $((t_slot - t0)) -le 10000 ] && pass "b took the slot within 10 s of the cut" ||
    fail "b did not take the slot within 10 s of the cut"
wait_state b streaming 20 && pass "b streams" || fail "b is $(state_of b)"
heal   # a's packets pass again: the server had ended its walsender
wait_state a standby 60 && pass "a, its cut healed, finds the slot taken and stands by" || fail "a is $(state_of a)"
expect_contains "$WORK/a.err" "back to standby" "a says it went back to standby"
want=$(psql_q -c "SELECT id || '|' || n FROM sc_acct ORDER BY id")
for _ in $(seq 1 60); do
    got=$(d1_q "SELECT id || '|' || n FROM sc_acct ORDER BY id")
    [ "$got" = "$want" ] && break
    sleep 0.3
done
[ "$got" = "$want" ] && pass "D1 equals Postgres after the cut" ||
    { fail "D1 differs from Postgres"; diff <(echo "$want") <(echo "$got") | head >&2; }
finish
