#!/usr/bin/env bash
# Start/stop the local Cloudflare edge emulator (tests/edge): workerd via
# Miniflare serving D1, KV, Queues (REST) and R2 (S3 API) on loopback.
#
#   scripts/edge-local.sh start    start in the background (idempotent), wait until it answers
#   scripts/edge-local.sh stop     stop it (idempotent)
#   scripts/edge-local.sh status   say whether it runs (exit 0 if it does, 3 if not)
#   scripts/edge-local.sh env      print `export` lines for wal2edge and tests
#   scripts/edge-local.sh wipe     delete all emulator state (reset in place when running)
#
# Environment: EDGE_PORT (default 8787), EDGE_STATE_DIR (default tests/edge/.state),
# EDGE_START_TIMEOUT (seconds, default 60), and the EDGE_* settings in tests/edge/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGE_PORT="${EDGE_PORT:-8787}"
EDGE_STATE_DIR="${EDGE_STATE_DIR:-$ROOT/tests/edge/.state}"
export EDGE_PORT EDGE_STATE_DIR
PIDFILE="$EDGE_STATE_DIR/edge.pid"
LOGFILE="$EDGE_STATE_DIR/edge.log"
ADMIN="http://127.0.0.1:$EDGE_PORT/__admin"
TIMEOUT="${EDGE_START_TIMEOUT:-60}"

die() { echo "edge-local: $*" >&2; exit 1; }

need_node() {
  command -v node >/dev/null 2>&1 || die "node is not installed (Node 20 or newer is needed)"
  [ -d "$ROOT/node_modules/miniflare" ] ||
    die "node_modules is missing: run \`npm ci\` at the repository top ($ROOT) first"
}

# GET a URL on loopback; prints the body. Uses node so curl is not required.
http_get() {
  node -e '
    const http = require("node:http");
    const req = http.get(process.argv[1], { timeout: 2000 }, (res) => {
      let b = ""; res.on("data", (c) => (b += c));
      res.on("end", () => { process.stdout.write(b); process.exit(res.statusCode === 200 ? 0 : 1); });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => process.exit(1));' "$1"
}

http_post() {
  node -e '
    const http = require("node:http");
    const req = http.request(process.argv[1], { method: "POST", timeout: 60000 }, (res) => {
      let b = ""; res.on("data", (c) => (b += c));
      res.on("end", () => { process.stdout.write(b); process.exit(res.statusCode === 200 ? 0 : 1); });
    });
    req.on("error", () => process.exit(1));
    req.end();' "$1"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  local out
  out="$(http_get "$ADMIN/health" 2>/dev/null)" || return 1
  # it must be this instance (same state dir), not something else on the port
  case "$out" in *'"ok": true'*) return 0 ;; *) return 1 ;; esac
}

cmd_start() {
  need_node
  mkdir -p "$EDGE_STATE_DIR"
  if pid="$(running_pid)"; then
    if answers; then echo "edge-local: already running (pid $pid) on 127.0.0.1:$EDGE_PORT"; return 0; fi
  fi
  if answers; then die "something else already answers on 127.0.0.1:$EDGE_PORT (not started from $EDGE_STATE_DIR); stop it or set EDGE_PORT"; fi
  rm -f "$PIDFILE"
  : > "$LOGFILE"
  (cd "$ROOT" && exec nohup node tests/edge/src/main.mjs >>"$LOGFILE" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" > "$PIDFILE"
  local deadline=$(( $(date +%s) + TIMEOUT ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "edge-local: the emulator exited during start-up; last lines of $LOGFILE:" >&2
      tail -n 30 "$LOGFILE" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if answers; then
      echo "edge-local: running (pid $pid) on http://127.0.0.1:$EDGE_PORT (log: $LOGFILE)"
      return 0
    fi
    sleep 0.3
  done
  echo "edge-local: no answer within ${TIMEOUT}s; last lines of $LOGFILE:" >&2
  tail -n 30 "$LOGFILE" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    echo "edge-local: not running"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "edge-local: stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && answers; then
    echo "edge-local: running (pid $pid) on http://127.0.0.1:$EDGE_PORT"
    return 0
  fi
  echo "edge-local: not running"
  return 3
}

cmd_env() {
  need_node
  (cd "$ROOT" && node --input-type=module -e '
    import { loadConfig } from "./tests/edge/src/config.mjs";
    const c = loadConfig();
    const base = `http://127.0.0.1:${c.port}`;
    const v = {
      CLOUDFLARE_API_BASE_URL: `${base}/client/v4`,
      CLOUDFLARE_ACCOUNT_ID: c.accountId,
      CLOUDFLARE_API_TOKEN: c.apiToken,
      R2_ENDPOINT: base,
      R2_ACCESS_KEY_ID: c.r2AccessKeyId,
      R2_SECRET_ACCESS_KEY: c.r2SecretAccessKey,
      EDGE_ADMIN_URL: `${base}/__admin`,
    };
    const q = (s) => "\x27" + String(s).replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
    for (const [k, val] of Object.entries(v)) console.log(`export ${k}=${q(val)}`);')
}

cmd_wipe() {
  if running_pid >/dev/null && answers; then
    http_post "$ADMIN/reset" >/dev/null || die "reset failed"
    echo "edge-local: state wiped (emulator reset in place)"
  else
    rm -rf "$EDGE_STATE_DIR/data" "$EDGE_STATE_DIR/edge.json"
    echo "edge-local: state wiped ($EDGE_STATE_DIR/data)"
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  wipe) cmd_wipe ;;
  restart) cmd_stop; cmd_start ;;
  *) echo "usage: $0 start|stop|status|env|wipe|restart" >&2; exit 2 ;;
esac
