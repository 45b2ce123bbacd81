#!/usr/bin/env bash
# Postgres unreachable when `run` starts: run retries with backoff (one warning per attempt with
# the reason) instead of exiting, both while reading the mapped tables' catalog and when only a
# change log is configured; SIGTERM during the retries exits 0; once Postgres becomes reachable
# (a TCP relay to the shared server, started late) the same run proceeds and applies the changes.
source "$(dirname "$0")/lib.sh"

export TEST_SLOT=run_start_retry TEST_PUBLICATION=run_start_retry_pub
command -v python3 >/dev/null || { echo "$TEST_NAME: python3 is required" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REAL_URL=$DATABASE_URL
PORT=$(free_port)
export DATABASE_URL="postgresql://$PGUSER:$PGPASSWORD@127.0.0.1:$PORT/$TEST_DB"
psql_q <<'SQL' >/dev/null
CREATE TABLE sr_t (id int PRIMARY KEY, v text);
INSERT INTO sr_t VALUES (1, 'one'), (2, 'two');
SQL
mkdir -p "$WORK/m/mappings" "$WORK/c"
write_config "$WORK/m/w.jsonc" "\"d1\": { \"app\": {} }, \"mappings\": [\"mappings/*.jsonc\"]"
echo '{ "table": "public.sr_t", "d1": { "database": "app" } }' >"$WORK/m/mappings/sr_t.jsonc"
write_config "$WORK/c/w.jsonc" "\"changelog\": {\"path\": \"$WORK/c/changes.ndjson\"}"
DATABASE_URL=$REAL_URL run_w2e slot --config "$WORK/m/w.jsonc" slot create
expect_rc slot 0

# stop_within NAME PID SECONDS : SIGTERM, then expect exit 0 within SECONDS
stop_within() {
    local name=$1 pid=$2 limit=$3 stopped=no rc=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((limit * 20))); do kill -0 "$pid" 2>/dev/null || { stopped=yes; break; }; sleep 0.05; done
    [ $stopped = yes ] || kill -KILL "$pid"
    wait "$pid" || rc=$?
    [ $stopped = yes ] && [ $rc = 0 ] && pass "$name: SIGTERM while retrying exits 0 within $limit s" ||
        fail "$name: stopped=$stopped rc=$rc"
}

for kind in m c; do
    "$WAL2EDGE_BIN" --config "$WORK/$kind/w.jsonc" run >"$WORK/$kind.out" 2>"$WORK/$kind.err" &
    pid=$!
    sleep 3
    if kill -0 $pid 2>/dev/null; then pass "$kind: run keeps going while Postgres is unreachable"; else
        fail "$kind: run exited while Postgres was unreachable"; cat "$WORK/$kind.err" >&2; fi
    # (a slow build may have logged only its first attempt by now: the second one comes ~0.5 s later)
    for _ in $(seq 1 100); do
        attempts=$(grep -c 'Connection refused.*; re[a-z]* in [0-9]* ms (attempt [0-9]*)' "$WORK/$kind.err" || true)
        [ "$attempts" -ge 2 ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.2
    done
    [ "$attempts" -ge 2 ] && pass "$kind: $attempts attempts, each logged with its reason" ||
        fail "$kind: $attempts logged attempts"; [ "$attempts" -ge 2 ] || cat "$WORK/$kind.err" >&2
    stop_within "$kind" $pid 2
done
expect_contains "$WORK/m.err" "retrying in" "the catalog read at start is retried"
expect_contains "$WORK/c.err" "reconnecting in" "the first replication connection is retried"
grep '"lsn":"0/0"' "$WORK/m.err" "$WORK/c.err" && fail "a made-up 0/0 position was logged" ||
    pass "no made-up 0/0 position in the logs"

# Postgres "comes up" 2 s after the start: a relay on PORT to the shared server
"$WAL2EDGE_BIN" --config "$WORK/m/w.jsonc" run --exit-when-caught-up >"$WORK/late.out" 2>"$WORK/late.err" &
pid=$!
sleep 2
psql_q -c "INSERT INTO sr_t VALUES (3, 'three')" >/dev/null
pg_port=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port)' "$REAL_URL")
python3 - "$PORT" "$pg_port" <<'PY' &
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(16)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    for x, y in ((c, u), (u, c)):
        threading.Thread(target=pipe, args=(x, y), daemon=True).start()
PY
relay=$!
trap 'rc=$?; kill $relay 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
rc=0
for _ in $(seq 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -KILL $pid; fail "late: run did not catch up within 60 s"; }
wait $pid || rc=$?
[ $rc = 0 ] && pass "late: run proceeds once Postgres is reachable and catches up (exit 0)" ||
    { fail "late: rc=$rc"; tail -5 "$WORK/late.err" >&2; }
got=$(sqlite3 -batch "$WORK/m/state/d1/app.sqlite" "SELECT group_concat(id || '=' || v, ',') FROM (SELECT * FROM sr_t ORDER BY id)")
[ "$got" = "3=three" ] && pass "late: the change made while run was retrying was applied" || fail "late: D1 has '$got'"
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null 2>&1 || true
finish
