#!/usr/bin/env bash
# The status page (`GET /` of the metrics endpoint) of a running `wal2edge run` during a workload,
# rendered by headless Chromium: the HTML needs no script and no external asset; the DOM Chromium
# builds shows the same figures as /metrics (transactions, targets, wal_status) and both
# sparklines; the screenshot has the page's size and its sparklines drawn in their colour.
# With W2E_SCREENSHOT_OUT=FILE the screenshot is kept there (docs/status-page.png is one).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

export TEST_SLOT=metrics_page TEST_PUBLICATION=metrics_page_pub
for tool in chromium python3; do
    command -v $tool >/dev/null || { echo "$TEST_NAME: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
metrics_d1_setup mpg_t

# a workload that varies, for 25 s: the page samples every 10 s, so the sparklines get 2+ points
n=0
for s in $(seq 25); do
    k=$((s / 10 * 20 + 10))
    seq $((n + 1)) $((n + k)) | sed "s/.*/INSERT INTO mpg_t VALUES (&, 'v');/" | psql_q >/dev/null
    n=$((n + k))
    sleep 1
done
tx=""
for _ in $(seq 50); do
    tx=$(metric_value wal2edge_transactions_total)
    [ "$tx" -ge "$n" ] 2>/dev/null && [ "$(metric_value wal2edge_transactions_total)" = "$tx" ] && break
    sleep 0.2
done
[ "${tx:-0}" -ge "$n" ] && pass "run applied the workload ($tx transactions)" || fail "only $tx of $n transactions"
curl -sS "$base/" >"$WORK/page.html"
expect_not_contains "$WORK/page.html" "<script" "the page has no script"
grep -qE '(src|href)="?https?:' "$WORK/page.html" && fail "the page loads an external asset" || pass "the page loads no external asset"

chrome() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$WORK/chrome" "$@" 2>>"$WORK/chrome.err"
}
chrome --dump-dom "$base/" >"$WORK/dom.html"
expect_contains "$WORK/dom.html" "<th>transactions</th><td class=\"\">$tx</td>" "the page shows the transactions /metrics counts ($tx)"
expect_contains "$WORK/dom.html" '<td class="ok">reserved</td>' "the page shows wal_status"
expect_contains "$WORK/dom.html" '<td>d1.app</td>' "the page lists d1.app"
expect_contains "$WORK/dom.html" '<td>changelog</td>' "the page lists the change log"
expect_contains "$WORK/dom.html" 'class="badge ok">ready' "the page says ready"
points=$(grep -o '<svg id="throughput"[^§]*</svg>' "$WORK/dom.html" | grep -o 'points="[^"]*"' | head -1 | tr ' ' '\n' | grep -c ,)
[ "$points" -ge 2 ] && pass "the throughput sparkline has $points points" || fail "the throughput sparkline has $points points"

chrome --window-size=900,800 --screenshot="$WORK/page.png" "$base/" >/dev/null
# decode the PNG (8-bit RGB/RGBA, as Chromium writes it) and count the sparkline colour #0a7d5a
python3 - "$WORK/page.png" >"$WORK/png.txt" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, w = 8, b'', 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif kind == b'IDAT': idat += body
bpp = {2: 3, 6: 4}[ctype]; raw = zlib.decompress(idat); stride = w * bpp; prev = bytearray(stride); green = 0
for y in range(h):
    f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y > h // 2:   # the sparklines sit in the lower half; the ready badge (same colour) above
        green += sum(1 for x in range(w) if abs(line[x * bpp] - 10) < 24 and abs(line[x * bpp + 1] - 125) < 24 and abs(line[x * bpp + 2] - 90) < 24)
    prev = line
print(w, h, green)
PY
read -r pw ph green <"$WORK/png.txt"
[ "$pw x $ph" = "900 x 800" ] && pass "the screenshot is 900x800" || fail "the screenshot is ${pw}x$ph"
[ "$green" -gt 200 ] && pass "the screenshot shows the sparklines ($green pixels of their colour)" ||
    fail "the screenshot shows no sparkline ($green pixels)"
[ -n "${W2E_SCREENSHOT_OUT:-}" ] && cp "$WORK/page.png" "$W2E_SCREENSHOT_OUT"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"
give_slot_back
finish
