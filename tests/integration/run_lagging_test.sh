#!/usr/bin/env bash
# One failing target does not freeze the others: the local edge answers 500 to every push to the
# queue for FAULT_S seconds (default 60; fault injection on the queue route only) while commits
# keep coming, one of them with 3,000 rows (more than the queue buffers, so its push fails inside
# the transaction and the queue falls behind mid-transaction). D1 and KV (REST) keep applying them; `status` shows the queue lagging with its
# retries and last error; the slot's confirmed position stays at the queue's checkpoint. Once the
# fault clears the queue catches up by itself, and D1, KV and the delivered events all equal
# Postgres. Needs the local edge (scripts/edge-local.sh start).
source "$(dirname "$0")/lib.sh"
use_edge

export TEST_SLOT=run_lagging TEST_PUBLICATION=run_lagging_pub
FAULT_S=${FAULT_S:-60}
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
tag="lg-$$-$RANDOM"
DB_ID="$tag-db" NS_ID="$tag-ns" Q_ID="$tag-q"
ACC="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID"
AUTH="Authorization: Bearer $CLOUDFLARE_API_TOKEN"
d1_ids() {   # the ids in D1, one line each, sorted
    jq -n '{sql: "SELECT id FROM lg_t ORDER BY id"}' | curl -sS -X POST "$ACC/d1/database/$DB_ID/raw" -H "$AUTH" \
        -H 'Content-Type: application/json' --data-binary @- | jq -r '.result[0].results.rows[]? | .[0]'
}
kv_ids() {
    local cursor="" page
    while :; do
        page=$(curl -sS "$ACC/storage/kv/namespaces/$NS_ID/keys?limit=1000${cursor:+&cursor=$cursor}" -H "$AUTH")
        echo "$page" | jq -r '.result[].name | ltrimstr("lg:")'
        cursor=$(echo "$page" | jq -r '.result_info.cursor // empty')
        [ -n "$cursor" ] || break
    done | sort -n
}
q_ids() {    # row ids of the events the consumer received (each once, however often delivered)
    curl -sS "$EDGE_ADMIN_URL/queues/$Q_ID/delivered" | jq -r '[.[] | .body.after.id] | unique | .[]' | sort -n
}
pg_ids() { psql_q -c "SELECT id FROM lg_t ORDER BY id"; }
status_json() { "$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status --json 2>/dev/null || true; }
# wait_equal WHAT FN SECONDS : until FN prints the same ids as Postgres
wait_equal() {
    local fn=$2 want got
    want=$(pg_ids)
    for _ in $(seq $(($3 * 2))); do
        got=$($fn)
        [ "$got" = "$want" ] && return 0
        sleep 0.5
    done
    echo "$1: has $(echo "$got" | grep -c . || true) of $(echo "$want" | wc -l) rows" >&2
    return 1
}

psql_q -c "CREATE TABLE lg_t (id int PRIMARY KEY, v text NOT NULL)" >/dev/null
mkdir -p "$WORK/mappings"
write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": { \"database_id\": \"$DB_ID\" } }, \"kv\": { \"cache\": { \"namespace_id\": \"$NS_ID\" } },
  \"queues\": { \"changes\": { \"queue_id\": \"$Q_ID\" } }, \"mappings\": [\"mappings/*.jsonc\"]"
echo '{ "table": "public.lg_t", "d1": { "database": "app" }, "kv": [ { "namespace": "cache", "key": "lg:{id}", "value": "row" } ],
  "queue": { "queue": "changes" } }' >"$WORK/mappings/lg_t.jsonc"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
trap 'rc=$?; curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null 2>&1; kill $run_pid 2>/dev/null || true;
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
for i in $(seq 1 10); do psql_q -c "INSERT INTO lg_t VALUES ($i, 'before')" >/dev/null; done
wait_equal "queue before the fault" q_ids 60 && pass "before the fault: the queue has every row" ||
    fail "before the fault: the queue lags already"

# the queue's pushes fail (500 after the client's own retries); D1 and KV are untouched
curl -sS -X POST "$EDGE_ADMIN_URL/faults" \
    -d "{\"path\":\"/queues/$Q_ID/messages\",\"status\":500,\"count\":1000000}" >/dev/null
psql_q -c "INSERT INTO lg_t SELECT g, 'bulk' FROM generate_series(100001, 103000) g" >/dev/null
# the first transaction the queue misses ends before this position: the slot must stay below it
# (an idle advance before that commit, by a heartbeat or other WAL, is legitimate). The insert
# position, not pg_current_wal_lsn(): with synchronous_commit off the write position can still be
# before the commit record (page-aligned), and an idle advance legitimately reaches it.
L0=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
# (the emulator's KV writes 3,000 keys in several seconds: let that pass before the probes)
for _ in $(seq 120); do d1_ids | grep -qx 103000 && kv_ids | grep -qx 103000 && break; sleep 0.5; done
d1_ids | grep -qx 103000 && pass "the 3,000-row transaction reached D1 and KV during the fault" ||
    fail "the 3,000-row transaction did not reach D1 and KV"
t_end=$(($(date +%s) + FAULT_S))
n=10 checks=0 kept_up=0 worst_ms=0
while [ "$(date +%s)" -lt "$t_end" ]; do
    n=$((n + 1))
    psql_q -c "INSERT INTO lg_t VALUES ($n, 'during the fault')" >/dev/null
    # every ~10 s: the commit just made reaches D1 and KV within 15 s, while the queue still fails
    if [ $((n % 20)) = 0 ]; then
        checks=$((checks + 1))
        ok=no t0=$(date +%s%N)
        for _ in $(seq 60); do
            d1_ids | grep -qx "$n" && kv_ids | grep -qx "$n" && { ok=yes; break; }
            sleep 0.25
        done
        ms=$((($(date +%s%N) - t0) / 1000000))
        [ $ms -gt $worst_ms ] && worst_ms=$ms
        [ $ok = yes ] && kept_up=$((kept_up + 1)) || echo "# row $n not in D1/KV within 15 s" >&2
    fi
    sleep 0.5
done
[ $checks -ge 2 ] && [ $kept_up = $checks ] &&
    pass "during $FAULT_S s of queue failures D1 and KV kept applying new commits ($kept_up of $checks probes, $((n - 10)) commits, slowest probe $worst_ms ms)" ||
    fail "D1/KV kept up in $kept_up of $checks probes"
q_during=$(q_ids | grep -c . || true)
[ "$q_during" = 10 ] && pass "the queue received none of the commits made during the fault" ||
    fail "the queue got $q_during rows during the fault"
st=$(status_json)
echo "$st" | jq -e '.target_health["queues.changes"] | .lagging == true and .retries >= 2 and (.last_error | test("500|http"; "i"))' >/dev/null &&
    pass "status: queues.changes lagging, $(echo "$st" | jq '.target_health["queues.changes"].retries') retries, last error: $(echo "$st" | jq -r '.target_health["queues.changes"].last_error' | cut -c1-100)" ||
    { fail "status does not show the queue lagging"; echo "$st" | jq '.target_health' >&2; }
echo "$st" | jq -e '.target_health["d1.app"].lagging == false and .target_health["kv.cache"].lagging == false' >/dev/null &&
    pass "status: d1.app and kv.cache are current" || fail "status: d1/kv not current: $(echo "$st" | jq -c .target_health)"
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status >"$WORK/status.txt" 2>&1 || true
expect_contains "$WORK/status.txt" "queues.changes: since" "status (text) shows the queue lagging"
confirmed=$(echo "$st" | jq -r .confirmed_flush_lsn)
held=$(psql_q -c "SELECT '$confirmed'::pg_lsn < '$L0'::pg_lsn")
[ "$held" = t ] && pass "the slot's confirmed position ($confirmed) stays before the queue's first missed transaction (< $L0)" ||
    fail "the slot confirmed $confirmed, past the queue's first missed transaction (ends before $L0)"
kill -0 $run_pid 2>/dev/null && pass "run is still running" || fail "run exited during the fault: $(tail -3 "$WORK/run.err")"

# the fault clears: the queue catches up by itself, nothing lost
curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
psql_q -c "INSERT INTO lg_t VALUES ($((n + 1)), 'after the fault')" >/dev/null
wait_equal "queue after the fault" q_ids 90 && pass "after the fault the queue caught up: every row's event delivered" ||
    fail "the queue did not catch up"
wait_equal "D1" d1_ids 30 && pass "D1 equals Postgres ($(pg_ids | wc -l) rows)" || fail "D1 differs from Postgres"
wait_equal "KV" kv_ids 30 && pass "KV equals Postgres" || fail "KV differs from Postgres"
st=$(status_json)
echo "$st" | jq -e '.target_health["queues.changes"].lagging == false' >/dev/null &&
    pass "status: the queue is current again" || fail "status: $(echo "$st" | jq -c '.target_health')"
expect_contains "$WORK/run.err" "falls behind alone" "run logged the queue falling behind"
expect_contains "$WORK/run.err" "takes writes again" "run logged the queue's recovery"

# SIGTERM while the queue fails again, its HTTP client inside the retry backoff: run stops within 5 s
q_failures() { curl -sS "$EDGE_ADMIN_URL/log?route=queues.batch&path=$Q_ID" | jq '[.entries[] | select(.status == 500)] | length'; }
before=$(q_failures)
curl -sS -X POST "$EDGE_ADMIN_URL/faults" \
    -d "{\"path\":\"/queues/$Q_ID/messages\",\"status\":500,\"count\":1000000}" >/dev/null
psql_q -c "INSERT INTO lg_t VALUES ($((n + 2)), 'stop')" >/dev/null
for _ in $(seq 200); do [ "$(q_failures)" -gt "$before" ] && break; sleep 0.05; done
kill -TERM $run_pid
t0=$(date +%s%N)
for _ in $(seq 300); do kill -0 $run_pid 2>/dev/null || break; sleep 0.05; done
ms=$((($(date +%s%N) - t0) / 1000000))
kill -0 $run_pid 2>/dev/null && kill -KILL $run_pid
rc=0
wait $run_pid || rc=$?
[ $rc = 0 ] && [ $ms -lt 5000 ] && pass "SIGTERM during the queue's retries: run stopped cleanly after $ms ms" ||
    fail "SIGTERM during the queue's retries: exit $rc after $ms ms: $(tail -3 "$WORK/run.err")"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
finish
