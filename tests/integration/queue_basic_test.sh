#!/usr/bin/env bash
# Queues: every operation as a Debezium-style event, transaction blocks, a claim-checked oversized
# row, into the embedded spool (with SIGKILL + restart: each event exactly once in the spool) and
# into a queue of the local edge (batches within the limits, 429/5xx/dropped connections, every
# event delivered at least once).
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=queue_basic TEST_PUBLICATION=queue_basic_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }

reset_slot() {
    psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT';
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
DROP TABLE IF EXISTS qb_items;
CREATE TABLE qb_items (id bigint PRIMARY KEY, name text, price numeric(10,2), tags text[], doc jsonb,
                       at timestamptz, big text, secret text);
ALTER TABLE qb_items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE qb_items;
SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput');
SQL
}

config() {   # config DIR QUEUE_MEMBERS
    mkdir -p "$1/mappings"
    write_config "$1/w.jsonc" "\"queues\": { \"changes\": { $2 } }, \"r2\": { \"lake\": {} },
  \"mappings\": [\"mappings/*.jsonc\"],
  \"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID:-}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN:-}\",
                  \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL:-https://api.cloudflare.com/client/v4}\" }"
    cat >"$1/mappings/items.jsonc" <<'JSONC'
{ "table": "public.qb_items",
  "queue": { "queue": "changes", "exclude": ["secret"], "oversize": "claim_check",
             "claim_check": { "bucket": "lake", "prefix": "claims" } } }
JSONC
}

workload() {
    psql_q <<'SQL' >/dev/null
BEGIN;
INSERT INTO qb_items VALUES (1, 'one', 12.50, '{a,"b c"}', '{"k": [1, 2]}', '2026-11-02 10:00:00.5+00', repeat('x', 3000), 's');
INSERT INTO qb_items VALUES (2, 'two', NULL, NULL, NULL, NULL, 'short', 's');
COMMIT;
UPDATE qb_items SET name = 'uno' WHERE id = 1;          -- big is unchanged TOAST
UPDATE qb_items SET id = 3 WHERE id = 2;                -- key change
DELETE FROM qb_items WHERE id = 3;
INSERT INTO qb_items (id, name, big) VALUES (4, 'huge', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g));
TRUNCATE qb_items;
SQL
}

check_events() {   # check_events LABEL FILE (one event per line)
    local f=$2
    [ "$(jq -r .op "$f" | tr -d '\n')" = "ccuudct" ] && pass "$1: ops c c u u d c t in order" ||
        fail "$1: ops $(jq -r .op "$f" | tr -d '\n')"
    [ "$(jq -c 'select(.id | endswith(":0")) | .after | {id, price, tags, doc, at}' "$f" | head -1)" = \
      '{"id":1,"price":"12.50","tags":["a","b c"],"doc":{"k":[1,2]},"at":"2026-11-02T10:00:00.5Z"}' ] &&
        pass "$1: values rendered as in D1" || fail "$1: values: $(head -1 "$f")"
    jq -s -e 'all(.[]; (.after // {}) | has("secret") | not)' "$f" >/dev/null && pass "$1: excluded column absent" ||
        fail "$1: secret column published"
    jq -s -e 'any(.[]; .op == "u" and .key.id == 1 and .unchanged_toast == ["big"] and .after.big.unchanged_toast == true)' "$f" \
        >/dev/null && pass "$1: unchanged TOAST marked, never null" || fail "$1: unchanged TOAST: $(grep '"uno"' "$f")"
    jq -s -e 'any(.[]; .op == "u" and .key.id == 3 and .before == {"id": 2})' "$f" >/dev/null &&
        pass "$1: key change carries the old key" || fail "$1: key change"
    jq -e -s '.[0:2] | (.[0].transaction.total_order == 1 and .[1].transaction.total_order == 2 and
              .[1].transaction.event_count == 2 and (.[0].transaction | has("event_count") | not) and
              .[0].transaction.id == .[1].transaction.id)' "$f" >/dev/null &&
        pass "$1: transaction block" || fail "$1: transaction block: $(head -2 "$f" | jq -c .transaction)"
    jq -s -e 'any(.[]; .claim_check != null and .key.id == 4 and .after == null and .claim_check.bytes > 128000)' "$f" \
        >/dev/null && pass "$1: oversized row replaced by a pointer" || fail "$1: no claim-check pointer"
    [ "$(jq -r .id "$f" | sort | uniq -d | wc -l)" = 0 ] && pass "$1: ids unique" || fail "$1: duplicate ids"
    jq -s -e 'all(.[]; .source.connector == "wal2edge" and .source.table == "qb_items" and .source.schema == "public")' \
        "$f" >/dev/null && pass "$1: source block" || fail "$1: bad source block"
}

# 1. embedded spool
reset_slot
dir=$WORK/emb
config "$dir" ""
workload
run_w2e emb --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc emb 0
spool=$dir/state/queues/changes.ndjson
check_events spool "$spool"
obj=$(find "$dir/state/r2/lake/claims/changes" -name '*.json' | head -1)
[ -n "$obj" ] && [ "$(jq -r .after.name "$obj")" = huge ] && pass "spool: claim-check object in the local r2 directory" ||
    fail "spool: claim-check object missing"

# SIGKILL while run streams; restart; every event exactly once in the spool
psql_q -c "CREATE TABLE IF NOT EXISTS qb_dummy ()" >/dev/null
("$WAL2EDGE_BIN" --config "$dir/w.jsonc" run >"$WORK/kill.out" 2>&1 &
 echo $! >"$WORK/run.pid"; wait) &
for i in $(seq 1 300); do psql_q -c "INSERT INTO qb_items (id, name) VALUES ($((100 + i)), 'k$i')" >/dev/null; done &
writer=$!
sleep 1.5
kill -9 "$(cat "$WORK/run.pid")" 2>/dev/null || true
wait "$writer"
run_w2e emb2 --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc emb2 0
n=$(jq -r 'select(.op == "c" and .key.id > 100) | .id' "$spool" | sort -u | wc -l)
d=$(jq -r .id "$spool" | sort | uniq -d | wc -l)
[ "$n" = 300 ] && [ "$d" = 0 ] && pass "spool: kill -9 + restart: 300 events, none twice" ||
    fail "spool: kill -9 + restart: $n distinct events, $d duplicated"

# 2. the local edge: batches within limits, faults, every event delivered
use_edge
reset_slot
qid="qb$(date +%s%N | tail -c 9)"
dir=$WORK/rest
config "$dir" "\"queue_id\": \"$qid\""
curl -s -X DELETE "$EDGE_ADMIN_URL/log" >/dev/null
curl -s -X POST "$EDGE_ADMIN_URL/faults" -d "[{\"path\":\"/queues/$qid/messages/batch\",\"count\":1,\"status\":429,\"retry_after\":1},
  {\"path\":\"/queues/$qid/messages/batch\",\"count\":1,\"status\":503},
  {\"path\":\"/queues/$qid/messages/batch\",\"count\":1,\"drop\":\"after\"}]" >/dev/null
workload
psql_q -c "INSERT INTO qb_items (id, name, big) SELECT g, 'n' || g, repeat('y', 2000) FROM generate_series(1000, 1499) g" >/dev/null
run_w2e rest --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc rest 0
delivered() { curl -s "$EDGE_ADMIN_URL/queues/$qid/delivered" | jq -c '.[] | .body' ; }
for i in $(seq 1 40); do
    [ "$(delivered | jq -r .id | sort -u | wc -l)" -ge 507 ] && break
    sleep 0.5
done
delivered | jq -s -c 'unique_by(.id) | sort_by(.source.lsn, (.id | split(":")[1] | split(".")[0] | tonumber)) | .[]' \
    >"$WORK/rest.ndjson"
[ "$(wc -l <"$WORK/rest.ndjson")" = 507 ] && pass "edge: all 507 events delivered (at least once)" ||
    fail "edge: $(wc -l <"$WORK/rest.ndjson") distinct events delivered, expected 507"
head -7 "$WORK/rest.ndjson" >"$WORK/rest8.ndjson"
check_events edge "$WORK/rest8.ndjson"
log=$(curl -s "$EDGE_ADMIN_URL/log?route=queues.batch&path=$qid&limit=1000" | jq -c .entries)
echo "$log" | jq -e '[.[] | select(.status == 200)] | length > 0' >/dev/null && pass "edge: batches accepted" ||
    fail "edge: no batch accepted"
echo "$log" | jq -e '[.[] | select(.status >= 400 and .fault == null)] | length == 0' >/dev/null &&
    pass "edge: no batch refused by the limits" || fail "edge: refused: $(echo "$log" | jq -c '[.[] | select(.status >= 400)]')"
echo "$log" | jq -e '[.[] | select(.req_bytes > 256000 + 20000)] | length == 0' >/dev/null &&
    pass "edge: every request within 256 KB of bodies" || fail "edge: oversized request"
echo "$log" | jq -e '[.[] | select(.fault != null)] | length == 3' >/dev/null &&
    pass "edge: 429, 503 and a dropped connection injected and survived" ||
    fail "edge: faults: $(echo "$log" | jq -c '[.[] | {status, fault}]')"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION $TEST_PUBLICATION" \
    -c "DROP TABLE qb_items, qb_dummy" >/dev/null
finish
