#!/usr/bin/env bash
# End to end: Postgres → wal2edge run → Queue (local edge) → the reference consumer Worker
# (workers/queue-consumer) → D1. Three concurrent writers, a dropped push connection (the batch
# is delivered twice) and SIGKILL of run mid-stream (events re-sent): the D1 table must equal
# Postgres. Starts its own emulator with EDGE_CONSUMER_SCRIPT.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=queue_e2e TEST_PUBLICATION=queue_e2e_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }

start_consumer_edge e2e EDGE_QUEUE_MAX_BATCH_SIZE=100 EDGE_QUEUE_MAX_RETRIES=50
ACC="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID"
d1() { curl -s -X POST "$ACC/d1/database/e2e/query" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
    -H 'Content-Type: application/json' -d "$(jq -n --arg s "$1" '{sql: $s}')"; }
d1 "CREATE TABLE qe_acct (id INTEGER PRIMARY KEY, n INTEGER, note TEXT)" | jq -e .success >/dev/null

psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT';
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
DROP TABLE IF EXISTS qe_acct;
CREATE TABLE qe_acct (id int PRIMARY KEY, n int NOT NULL, note text);
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE qe_acct;
SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput');
INSERT INTO qe_acct SELECT g, 0, 'start' FROM generate_series(0, 49) g;
SQL
write_queue_config "$WORK/w" e2e-changes public.qe_acct

writer() {   # writer W TXNS
    local w=$1 n=$2 i
    {
        for ((i = 0; i < n; i++)); do
            echo "BEGIN; UPDATE qe_acct SET n = n + 1, note = 'w$w-$i' WHERE id = $(((i * 7 + w * 13) % 50));"
            if ((i % 10 == 5)); then
                echo "DELETE FROM qe_acct WHERE id = $(((i + w) % 50));"
                echo "INSERT INTO qe_acct VALUES ($(((i + w) % 50)), $i, 'again') ON CONFLICT (id) DO NOTHING;"
            fi
            echo "INSERT INTO qe_acct VALUES ($((1000 + w * 1000 + i)), $w, 'new') ON CONFLICT DO NOTHING;"
            echo "COMMIT;"
        done
    } | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1
}

# a push whose answer is lost (applied, then retried: delivered twice)
curl -s -X POST "$ADMIN/faults" -d '{"path":"/queues/e2e-changes/messages/batch","count":2,"drop":"after"}' >/dev/null
"$WAL2EDGE_BIN" --config "$WORK/w/w.jsonc" run >"$WORK/run1.out" 2>&1 &
run_pid=$!
writer 1 150 & w1=$!
writer 2 150 & w2=$!
writer 3 150 & w3=$!
sleep 2
kill -9 "$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
wait "$w1" "$w2" "$w3"
run_w2e run2 --config "$WORK/w/w.jsonc" run --exit-when-caught-up
expect_rc run2 0

want=$(psql_q -c "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM qe_acct ORDER BY id")
got=""
for i in $(seq 1 90); do
    got=$(d1 "SELECT id || '|' || n || '|' || coalesce(note, '~') AS r FROM qe_acct ORDER BY id" | jq -r '.result[0].results[].r')
    [ "$got" = "$want" ] && break
    sleep 0.5
done
if [ "$got" = "$want" ]; then pass "D1 equals Postgres ($(echo "$want" | wc -l) rows) after redelivery and a SIGKILL"; else
    fail "D1 differs from Postgres"; diff <(echo "$want") <(echo "$got") | head -20 >&2; fi
# the consumer's checkpoint, written in the same D1 batch as the rows: the newest event delivered
top=$(curl -s "$ADMIN/queues/e2e-changes/delivered" | jq '[.[] | .body.source.lsn] | max')
cp=$(d1 "SELECT lsn FROM _wal2edge_consumer WHERE queue = 'e2e-changes'" | jq '.result[0].results[0].lsn')
[ "$cp" = "$top" ] && pass "the consumer's checkpoint is at the newest event's commit LSN ($top)" ||
    fail "consumer checkpoint $cp, newest event delivered $top"
dups=$(curl -s "$ADMIN/queues/e2e-changes/delivered" | jq '[.[] | .body.id] | length - (unique | length)')
[ "$dups" -gt 0 ] && pass "the consumer saw $dups redelivered events and ignored them" ||
    echo "note: no duplicate delivery happened this time"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION $TEST_PUBLICATION" -c "DROP TABLE qe_acct" >/dev/null
finish
