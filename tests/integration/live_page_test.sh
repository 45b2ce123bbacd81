#!/usr/bin/env bash
# The live channel's example page in headless Chromium, on the whole chain: a Postgres commit →
# `wal2edge run` → Queue (the edge emulator's REST API, the production path) → the reference
# consumer Worker → its LiveChannel Durable Object (workers/live, in the same workerd) → the page's
# WebSocket → the DOM. The page is opened first; an insert, an update and a delete committed
# afterwards must show up in it (the row appears, changes, disappears), and the page opened again
# in the same tab resumes from its position and gets the row inserted while it was away.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=live_page TEST_PUBLICATION=live_page_pub
for tool in chromium jq python3; do
    command -v $tool >/dev/null || { echo "$TEST_NAME: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
live_port=$(free_port)
devtools_port=$(free_port)
src=$WAL2EDGE_SOURCE_DIR/workers/live/src
jq -n --arg src "$src" --argjson port "$live_port" '{
  consumer: {
    durableObjects: { LIVE: { className: "LiveChannel", scriptName: "wal2edge-live", useSQLite: true } },
    analyticsEngineDatasets: { ANALYTICS: { dataset: "wal2edge_replication" } }
  },
  workers: [{
    name: "wal2edge-live", modules: true, scriptPath: ($src + "/index.mjs"), modulesRoot: $src,
    compatibilityDate: "2025-04-01",
    durableObjects: { LIVE: { className: "LiveChannel", useSQLite: true } },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: $port }]
  }]
}' >"$WORK/edge-workers.json"
start_consumer_edge lv EDGE_CONSUMER_CONFIG="$WORK/edge-workers.json"
ACC="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID"
curl -s -X POST "$ACC/d1/database/lv/query" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
    -d '{"sql":"CREATE TABLE lv_orders (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER)"}' | jq -e .success >/dev/null

psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT';
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
DROP TABLE IF EXISTS lv_orders;
CREATE TABLE lv_orders (id int PRIMARY KEY, item text, qty int);
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE lv_orders;
SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput');
SQL
write_queue_config "$WORK/w" lv-changes public.lv_orders
(cd "$WORK/w" && exec "$WAL2EDGE_BIN" --config w.jsonc run) >"$WORK/run.out" 2>&1 &
run_pid=$!

page="http://127.0.0.1:$live_port/?channel=public.lv_orders"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$WORK/chrome" \
    --remote-debugging-address=127.0.0.1 --remote-debugging-port="$devtools_port" "$page" >/dev/null 2>"$WORK/chrome.err" &
chrome_pid=$!
trap 'rc=$?; kill $chrome_pid $run_pid $edge_pid 2>/dev/null || true; wait $chrome_pid $run_pid $edge_pid 2>/dev/null || true
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

until_page() {   # until_page TIMEOUT_S DESCRIPTION JS: wait until JS is truthy in the page
    local out
    if out=$(node --experimental-websocket "$WAL2EDGE_SOURCE_DIR/tests/integration/cdp_until.mjs" "$devtools_port" "$1" "$3" 2>&1); then
        pass "$2"
    else
        fail "$2 (last value: $out)"; tail -5 "$WORK/run.out" >&2
    fi
}
rows_js='[...document.querySelectorAll("#rows tr")].map((tr) => [...tr.cells].map((td) => td.textContent).join("|")).join(";")'

until_page 60 "the page subscribes to public.lv_orders" 'document.getElementById("status").textContent === "live"'
t0=$(date +%s%N)
psql_q -c "INSERT INTO lv_orders VALUES (1, 'widget', 3)"
until_page 30 "an insert committed after the page opened shows up in it" "($rows_js) === 'c|1|widget|3'"
t1=$(date +%s%N)
echo "     commit to DOM: $(((t1 - t0) / 1000000)) ms (an upper bound: psql and the DevTools polling included; queue batch window ${EDGE_QUEUE_BATCH_TIMEOUT_S:-1} s)"
psql_q -c "UPDATE lv_orders SET qty = 5 WHERE id = 1" -c "INSERT INTO lv_orders VALUES (2, 'gadget', 1)"
until_page 30 "an update changes the row, a second insert adds one" "($rows_js) === 'u|1|widget|5;c|2|gadget|1'"
psql_q -c "DELETE FROM lv_orders WHERE id = 1"
until_page 30 "a delete removes the row" "($rows_js) === 'c|2|gadget|1'"

# away for a while: back in the same tab, the page resumes from its position (sessionStorage)
until_page 10 "the page is at a position" 'document.getElementById("pos").textContent.includes("/")'
until_page 10 "the page leaves (its socket closes)" '(location.href = "about:blank", true)'
until_page 10 "the tab shows about:blank" 'location.href === "about:blank"'
psql_q -c "INSERT INTO lv_orders VALUES (3, 'gizmo', 7)"
d1_rows() { curl -s -X POST "$ACC/d1/database/lv/query" -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
    -d '{"sql":"SELECT count(*) AS n FROM lv_orders"}' | jq -r '.result[0].results[0].n'; }
for _ in $(seq 60); do [ "$(d1_rows)" = 2 ] && break; sleep 0.5; done
[ "$(d1_rows)" = 2 ] && pass "the consumer applied the insert made while the page was away" || fail "D1 has $(d1_rows) rows"
until_page 10 "the tab opens the page again" "(location.href = '$page', true)"
until_page 30 "the page resumes from its position and gets the change it missed" \
    'document.getElementById("log").textContent.includes("1 missed change(s) replayed") && document.querySelector("#rows tr") && document.querySelector("#rows tr").textContent.includes("gizmo")'

kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION $TEST_PUBLICATION" -c "DROP TABLE lv_orders" >/dev/null
finish
