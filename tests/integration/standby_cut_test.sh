#!/usr/bin/env bash
# run --standby after a network cut (docs/scale.md, "A network cut"): the active's replication
# connection stops passing packets (iptables DROP on its port, both ways), and so does every new
# connection it opens to Postgres (it runs as user nobody: DROP on that user's SYNs); the process
# runs on, the server hears nothing from it. With wal_sender_timeout = 3s set per connection through the DSN's options, the
# walsender gives the slot up and the standby takes over (timed); when the cut heals, the former
# active finds the slot taken and stands by, without flushing what it had not confirmed; D1
# equals Postgres.
# The lease (daemon/lease): the active flushes only every 10 s (run.flush_interval_ms), longer
# than the cut-to-takeover time, and holds a change from just before the cut; its lease lapses
# ~2 s after the cut, so it drops that change and writes nothing more to KV or the queue, and
# KV equals Postgres after the takeover even with a newer write by the new active to that row.
# Needs root (iptables, and the active runs as user nobody); says so and passes vacuously without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"
source "$(dirname "$0")/kv_lib.sh"
export TEST_SLOT=standby_cut TEST_PUBLICATION=standby_cut_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
if [ "$(id -u)" != 0 ] || ! iptables -L INPUT -n >/dev/null 2>&1 || ! command -v ss >/dev/null ||
    ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
    echo "$TEST_NAME: SKIPPED: cutting a connection needs root, iptables, ss, setpriv and a user nobody"
    exit 0
fi
start_consumer_edge scq   # the reference consumer applies the queue's events to D1 "scq"
D1_BACKEND=rest
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/sbc"
q_api="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/scq"
D1_API=$q_api d1_exec "CREATE TABLE sc_acct (id INTEGER PRIMARY KEY, n INTEGER)"
KV_BACKEND=rest
KV_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/storage/kv/namespaces/sck"
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
    # a, the first active, flushes every 10 s only: longer than the cut-to-takeover time
    run=""
    [ $i = a ] && run='"run": { "flush_interval_ms": 10000 },'
    write_config "$WORK/$i/w.jsonc" "$run"'"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}",
                  "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },
  "d1": { "app": { "database_id": "sbc" } }, "kv": { "cache": { "namespace_id": "sck" } },
  "queues": { "changes": { "queue_id": "sc-changes" } }, "mappings": ["mappings/*.jsonc"]'
    sed -i 's|"dsn": "${DATABASE_URL}"|"dsn": "${CUT_DSN}"|' "$WORK/$i/w.jsonc"
    echo '{ "table": "public.sc_acct", "d1": { "database": "app" }, "queue": { "queue": "changes" },
            "kv": [ { "namespace": "cache", "key": "acct:{id}", "value": "row" } ] }' >"$WORK/$i/mappings/sc_acct.jsonc"
done
# a runs as nobody: the cut drops every packet that user sends to Postgres (its new connections too)
chmod 711 "$WORK"
chown -R nobody "$WORK/a"
rules=()
heal() {
    local r
    for r in "${rules[@]}"; do iptables -D ${r%% *} ${r#* } 2>/dev/null || true; done
    rules=()
}
trap 'rc=$?; heal; for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; kill $edge_pid 2>/dev/null || true
      psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
start() {
    if [ "$1" = a ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups \
            "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" &
    else
        "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" &
    fi
    pid[$1]=$!
}
state_of() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" status --json 2>/dev/null | jq -r '.run.state // "none"' || true; }
wait_state() {
    local _
    for _ in $(seq 1 $(($3 * 5))); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
holder() { psql_q -c "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }
kv_row() { kv_curl "$KV_API/values/acct:$1" | jq -c .; }
kv_want() { psql_q -c "SELECT json_build_object('k', 'acct:' || id, 'v', row_to_json(a)) FROM sc_acct a" >"$WORK/kv.want"; }
kv_settled() {   # kv_settled SECONDS: wait until KV equals Postgres
    local _
    kv_want
    jq -c -S . "$WORK/kv.want" | LC_ALL=C sort >"$WORK/kv.want.sorted"
    for _ in $(seq 1 $(($1 * 4))); do
        kv_dump >"$WORK/kv.now" 2>/dev/null && cmp -s "$WORK/kv.want.sorted" "$WORK/kv.now" && return 0
        sleep 0.25
    done
    return 1
}
# KV and queue writes the emulator saw after its log entry SEQ
writes_since() {
    curl -s "$ADMIN/log?since=$1" | jq -r '.entries[] | select(.method != "GET")
        | select((.path | test("/storage/kv/")) or (.path | test("/queues/"))) | "\(.time) \(.method) \(.path)"'
}

run_w2e slot --config "$WORK/b/w.jsonc" slot create
expect_rc slot 0
start a
wait_state a streaming 60 && pass "a streams" || fail "a is $(state_of a)"
start b
wait_state b standby 30 && pass "b stands by" || fail "b is $(state_of b)"
psql_q -c "UPDATE sc_acct SET n = n + 1" >/dev/null
kv_settled 30 && pass "a flushed the first update to KV (its flush interval is 10 s)" || fail "KV never got the first update"
expect_not_contains "$WORK/a.err" "lease lapsed" "a's lease held while it streamed, quiet and busy (wal_sender_timeout 3 s)"
old=$(holder)

# a change a receives and holds (its next flush is 10 s away), then the cut: a's replication
# connection drops its packets both ways, and so does every new connection a opens to Postgres
# (a connects as user nobody; its other open connections stay up, so its loop is not held up
# in a query and reaches the time of its flush)
psql_q -c "UPDATE sc_acct SET n = 100 WHERE id = 1" >/dev/null
sleep 0.5
rport=$(psql_q -c "SELECT client_port FROM pg_stat_activity WHERE pid = $old")
[ -n "$rport" ] && [ "$(ss -tnpH state established "( sport = :$rport )" | grep -c "pid=${pid[a]},")" = 1 ] ||
    fail "a's replication connection not found (walsender $old, port '$rport')"
rules+=("INPUT -p tcp --sport $PGPORT --dport $rport -j DROP" "OUTPUT -p tcp --sport $rport --dport $PGPORT -j DROP"
    "OUTPUT -p tcp --syn --dport $PGPORT -m owner --uid-owner nobody -j DROP")
t0=$(date +%s%3N)
for r in "${rules[@]}"; do iptables -I ${r%% *} ${r#* }; done
for i in $(seq 2 20); do psql_q -c "UPDATE sc_acct SET n = n + 1 WHERE id = $i" >/dev/null; sleep 0.2; done &
writer=$!
t_slot=""
for _ in $(seq 1 300); do
    h=$(holder)
    if [ "$h" != 0 ] && [ "$h" != "$old" ]; then t_slot=$(date +%s%3N); break; fi
    sleep 0.1
done
[ -n "$t_slot" ] && echo "takeover after a network cut of the active: slot held by b after $((t_slot - t0)) ms (wal_sender_timeout 3 s)"
[ -n "$t_slot" ] && [ $((t_slot - t0)) -le 10000 ] && pass "b took the slot within 10 s of the cut" ||
    fail "b did not take the slot within 10 s of the cut"
wait_state b streaming 20 && pass "b streams" || fail "b is $(state_of b)"
wait "$writer"
# the new active writes the row a holds a change of: newer than a's
psql_q -c "UPDATE sc_acct SET n = 200 WHERE id = 1" >/dev/null
after_200=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
kv_settled 30 && pass "b wrote KV up to Postgres, acct:1 with n = 200" || fail "KV did not reach Postgres under b: $(kv_row 1)"
# b flushes the queue after KV: its pushes are done once its queue checkpoint, confirmed to the
# group's table, passes the update (else a push of b's could be taken for a's late flush below)
q_done=0
for _ in $(seq 1 150); do
    [ "$(psql_q -c "SELECT count(*) FROM wal2edge_checkpoints WHERE slot = '$TEST_SLOT' AND target = 'queues.changes'
                    AND end_lsn >= '$after_200'")" = 1 ] && { q_done=1; break; }
    sleep 0.2
done
[ $q_done = 1 ] || fail "b's queue checkpoint never passed the update of n = 200"
since=$(curl -s "$ADMIN/log?limit=1" | jq -r .last_seq)
# a's flush of what it held would have come 10 s after it received it; wait past that, still cut
left=$((t0 + 13000 - $(date +%s%3N)))
[ $left -gt 0 ] && sleep "$(awk -v ms=$left 'BEGIN { printf "%.3f", ms / 1000 }')"
expect_contains "$WORK/a.err" "the replication lease lapsed" "a says its lease lapsed"
lapse=$(grep -m1 -o 'the walsender last heard this instance [0-9]* ms ago' "$WORK/a.err" || true)
echo "a's lease: $lapse"
[ "$(kv_row 1)" = "$(psql_q -c "SELECT row_to_json(a) FROM sc_acct a WHERE id = 1")" ] &&
    pass "13 s after the cut, KV's acct:1 is still the new active's n = 200" || fail "KV's acct:1 is $(kv_row 1): a's late write?"
heal   # a's packets pass again: the server had ended its walsender
wait_state a standby 60 && pass "a, its cut healed, finds the slot taken and stands by" || fail "a is $(state_of a)"
expect_contains "$WORK/a.err" "back to standby" "a says it went back to standby"
# b has had nothing to write since it settled: any KV or queue write since is a's
w=$(writes_since "$since")
[ -z "$w" ] && pass "nothing wrote to KV or the queue after b settled, through the cut and its healing" ||
    { fail "KV or queue writes after b settled (a's late flush)"; echo "$w" | head -5 | sed 's/^/    | /' >&2; }
want=$(psql_q -c "SELECT id || '|' || n FROM sc_acct ORDER BY id")
for _ in $(seq 1 60); do
    got=$(d1_q "SELECT id || '|' || n FROM sc_acct ORDER BY id")
    [ "$got" = "$want" ] && break
    sleep 0.3
done
[ "$got" = "$want" ] && pass "D1 equals Postgres after the cut" ||
    { fail "D1 differs from Postgres"; diff <(echo "$want") <(echo "$got") | head >&2; }
for _ in $(seq 1 60); do
    got=$(D1_API=$q_api d1_q "SELECT id || '|' || n FROM sc_acct ORDER BY id")
    [ "$got" = "$want" ] && break
    sleep 0.3
done
[ "$got" = "$want" ] && pass "D1 through the queue equals Postgres after the cut" ||
    { fail "D1 through the queue differs from Postgres"; diff <(echo "$want") <(echo "$got") | head >&2; }
kv_want
kv_same "KV after the cut and the takeover" "$WORK/kv.want"
expect_not_contains "$WORK/b.err" "lease lapsed" "b's lease held all the while it streamed"
finish
