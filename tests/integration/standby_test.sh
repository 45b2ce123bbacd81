#!/usr/bin/env bash
# run --standby (docs/scale.md, "Standby takeover"): three instances with the same config - a
# table mapped to REST D1, to KV, and to a queue whose consumer (workers/queue-consumer) applies
# it to a second D1 database, all on a private edge emulator - and state directories of their own. The
# first takes the slot, the others stand by (status and wal2edge_role say so); kill -9 of the
# active under two concurrent writers: a standby with an EMPTY state directory takes over (timed:
# kill -> the slot held again, and -> a row committed after the kill visible in D1); the killed
# one comes back and stands by; the new active is killed too and one of the two standbys takes
# over; both D1 databases (direct, and through the queue) and KV equal Postgres.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"
source "$(dirname "$0")/kv_lib.sh"
export TEST_SLOT=standby_t TEST_PUBLICATION=standby_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
start_consumer_edge sbq EDGE_QUEUE_MAX_BATCH_SIZE=100 EDGE_QUEUE_MAX_RETRIES=50
D1_BACKEND=rest
D1_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/sbd"
q_api="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/sbq"
D1_API=$q_api d1_exec "CREATE TABLE sb_acct (id INTEGER PRIMARY KEY, n INTEGER, note TEXT)"
KV_BACKEND=rest
KV_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/storage/kv/namespaces/sbk"

psql_q <<SQL >/dev/null
DROP TABLE IF EXISTS sb_acct;
CREATE TABLE sb_acct (id int PRIMARY KEY, n int NOT NULL, note text);
INSERT INTO sb_acct SELECT g, 0, 'start' FROM generate_series(1, 50) g;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE sb_acct;
SQL
write_config "$WORK/emb.jsonc" '"d1": { "app": {} }, "mappings": ["m.jsonc"]'
echo '{ "table": "public.sb_acct", "d1": { "database": "app" } }' >"$WORK/m.jsonc"
declare -A pid port
for i in a b c; do
    # the same config, but each its own metrics port (a free one)
    port[$i]=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$WORK/$i/mappings"
    write_config "$WORK/$i/w.jsonc" "\"metrics\": { \"listen\": \"127.0.0.1:${port[$i]}\" },
  \"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
                  \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": { \"database_id\": \"sbd\" } }, \"queues\": { \"changes\": { \"queue_id\": \"sb-changes\" } },
  \"kv\": { \"cache\": { \"namespace_id\": \"sbk\" } },
  \"mappings\": [\"mappings/*.jsonc\"]"
    echo '{ "table": "public.sb_acct", "d1": { "database": "app" }, "queue": { "queue": "changes" },
            "kv": [ { "namespace": "cache", "key": "acct:{id}", "value": "row" } ] }' \
        >"$WORK/$i/mappings/sb_acct.jsonc"
done
metrics_of() { curl -s "http://127.0.0.1:${port[$1]}/metrics"; }
# the slot first, as a deployment creates it once (docs/scale.md)
run_w2e slot --config "$WORK/a/w.jsonc" slot create
expect_rc slot 0
start() {   # start INSTANCE: run --standby in the background
    "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" run --standby >>"$WORK/$1.out" 2>>"$WORK/$1.err" &
    pid[$1]=$!
}
state_of() { "$WAL2EDGE_BIN" --config "$WORK/$1/w.jsonc" status --json 2>/dev/null | jq -r '.run.state // "none"' || true; }
wait_state() {   # wait_state INSTANCE STATE SECONDS
    local _
    for _ in $(seq 1 $(($3 * 5))); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
holder() { psql_q -c "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }
now_ms() { date +%s%3N; }
cleanup_all() { for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap 'rc=$?; cleanup_all; kill $edge_pid 2>/dev/null || true; psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"'$TEST_SLOT'"' AND NOT active" >/dev/null 2>&1; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

start a
wait_state a streaming 60 && pass "a takes the free slot and streams" || fail "a is $(state_of a), not streaming"
start b
start c
wait_state b standby 30 && wait_state c standby 30 && pass "b and c stand by while a holds the slot" ||
    fail "b is $(state_of b), c is $(state_of c)"
metrics_of a >"$WORK/a.prom"
metrics_of b >"$WORK/b.prom"
grep -qx 'wal2edge_role{role="standby"} 1' "$WORK/b.prom" && grep -qx 'wal2edge_role{role="active"} 1' "$WORK/a.prom" &&
    pass "wal2edge_role: a active, b standby" || fail "wal2edge_role: a $(grep role= "$WORK/a.prom"), b $(grep role= "$WORK/b.prom")"
"$WAL2EDGE_BIN" --config "$WORK/b/w.jsonc" status >"$WORK/status_b.out" 2>&1 || true
expect_contains "$WORK/status_b.out" "standby" "status of b says standby"
[ ! -e "$WORK/b/state/d1" ] && [ ! -e "$WORK/b/state/state.sqlite" ] && pass "b's state directory holds no checkpoint" ||
    fail "b's state directory: $(ls "$WORK/b/state")"

writer() {   # writer W TXNS ROUND
    local w=$1 n=$2 base=$((1000 * $3 + 10000 * $1)) i
    for ((i = 0; i < n; i++)); do
        echo "BEGIN; UPDATE sb_acct SET n = n + 1, note = 'w$w-$i' WHERE id = $((1 + (i * 7 + w * 13) % 50));"
        echo "INSERT INTO sb_acct VALUES ($((base + i)), $w, 'new');"
        if ((i % 10 == 5)); then echo "DELETE FROM sb_acct WHERE id = $((base + i - 3));"; fi
        echo "COMMIT;"
        if ((i % 20 == 0)); then echo "SELECT pg_sleep(0.05);"; fi
    done | psql -X -q -At -v ON_ERROR_STOP=1 >/dev/null
}
takeover() {   # takeover VICTIM: kill -9 it under the writer, measure until another holds the slot
    local victim=$1 old t0 t_slot t_row marker _
    old=$(holder)
    round=$((round + 1))
    writer 1 400 "$round" & local w1=$!
    writer 2 400 "$round" & local w2=$!
    sleep 1.5
    t0=$(now_ms)
    kill -9 "${pid[$victim]}"
    marker=$((900000 + round))
    psql_q -c "INSERT INTO sb_acct VALUES ($marker, 0, 'after the kill')"
    t_slot=""
    t_row=""
    for _ in $(seq 1 300); do
        local h
        h=$(holder)
        [ -z "$t_slot" ] && [ "$h" != 0 ] && [ "$h" != "$old" ] && t_slot=$(now_ms)
        [ -z "$t_row" ] && [ "$(d1_q "SELECT count(*) FROM sb_acct WHERE id = $marker")" = 1 ] && t_row=$(now_ms)
        [ -n "$t_slot" ] && [ -n "$t_row" ] && break
        sleep 0.1
    done
    wait "$w1" "$w2"
    if [ -n "$t_slot" ] && [ -n "$t_row" ]; then
        echo "takeover after kill -9 of $victim: slot held again after $((t_slot - t0)) ms, a row committed after the kill visible in D1 after $((t_row - t0)) ms"
        [ $((t_row - t0)) -le 10000 ] && pass "takeover after kill -9 of $victim within 10 s" ||
            fail "takeover after kill -9 of $victim took $((t_row - t0)) ms"
    else
        fail "nobody took over after kill -9 of $victim"
    fi
}
active_of() {   # the instance that streams
    local i
    for i in "$@"; do [ "$(state_of "$i")" = streaming ] && { echo "$i"; return; }; done
    echo none
}

round=0
takeover a
wait_state b streaming 10 || wait_state c streaming 10 || true
first=$(active_of b c)
[ "$first" != none ] && pass "$first took over from a" || fail "neither b nor c streams"
second=$([ "$first" = b ] && echo c || echo b)
# (a standby that lost the race for the slot builds its targets, is refused and stands by again)
wait_state "$second" standby 20 && pass "$second stands by again (one active at a time)" ||
    fail "$second is $(state_of "$second")"
start a   # the killed instance comes back
wait_state a standby 30 && pass "a, back, finds the slot held and stands by" || fail "a came back as $(state_of a)"

takeover "$first"
wait_state "$second" streaming 10 || wait_state a streaming 10 || true
third=$(active_of a "$second")
[ "$third" != none ] && pass "$third took over from $first" || fail "neither a nor $second streams"
other=$([ "$third" = a ] && echo "$second" || echo a)
wait_state "$other" standby 20 && pass "$other stands by" || fail "$other is $(state_of "$other")"

want=$(psql_q -c "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM sb_acct ORDER BY id")
got=""
for _ in $(seq 1 100); do
    got=$(d1_q "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM sb_acct ORDER BY id")
    [ "$got" = "$want" ] && break
    sleep 0.3
done
[ "$got" = "$want" ] && pass "D1 equals Postgres ($(wc -l <<<"$want") rows) after two takeovers" ||
    { fail "D1 differs from Postgres"; diff <(echo "$want") <(echo "$got") | head -20 >&2; }
for _ in $(seq 1 100); do
    got=$(D1_API=$q_api d1_q "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM sb_acct ORDER BY id")
    [ "$got" = "$want" ] && break
    sleep 0.3
done
[ "$got" = "$want" ] && pass "D1 through the queue equals Postgres after two takeovers" ||
    { fail "D1 through the queue differs from Postgres"; diff <(echo "$want") <(echo "$got") | head -20 >&2; }
psql_q -c "SELECT json_build_object('k', 'acct:' || id, 'v', row_to_json(a)) FROM sb_acct a" >"$WORK/kv.want"
kv_same "KV after two takeovers" "$WORK/kv.want"
dups=$(curl -s "$ADMIN/queues/sb-changes/delivered" | jq '[.[] | .body.id] | length - (unique | length)')
echo "events delivered more than once across the takeovers: $dups (the consumer's guard skips them)"

# the group's checkpoints (pg/sharedckpt): the one that stands by last, its local queue checkpoint
# behind (or none), alone now, moves up to the group's instead of stopping at a gap
cleanup_all
psql_q -c "INSERT INTO sb_acct VALUES (999999, 1, 'last')"
run_w2e last --config "$WORK/$other/w.jsonc" run --standby --exit-when-caught-up
expect_rc last 0
expect_contains "$WORK/last.err" "behind the standby group's" "$other's queue checkpoint moves up to the group's"
for _ in $(seq 1 50); do
    [ "$(D1_API=$q_api d1_q "SELECT count(*) FROM sb_acct WHERE id = 999999")" = 1 ] && break
    sleep 0.3
done
[ "$(D1_API=$q_api d1_q "SELECT count(*) FROM sb_acct WHERE id = 999999")" = 1 ] &&
    pass "and the queue goes on from there" || fail "the last row did not come through the queue"
run_w2e embedded --config "$WORK/emb.jsonc" run --standby
expect_rc embedded 2
expect_contains "$WORK/embedded.err" "run --standby: d1.app is the embedded store" "an embedded target is refused"
finish
