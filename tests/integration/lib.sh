# tests/integration/lib.sh - shared helpers for the integration tests (sourced, not run).
#
# Every test runs against the real local Postgres started by scripts/pg-local.sh and the
# wal2edge binary named by WAL2EDGE_BIN (ctest sets it). Each test gets a fresh temp dir.
set -euo pipefail

: "${WAL2EDGE_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${WAL2EDGE_BIN:=$WAL2EDGE_SOURCE_DIR/build/dev/wal2edge}"
[ -x "$WAL2EDGE_BIN" ] || { echo "wal2edge binary not found at $WAL2EDGE_BIN" >&2; exit 1; }

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d)
# on any exit (set -e included): stop what the test left running in the background (a writer loop,
# a `run`), so a test that dies half way fails at once instead of hanging until ctest's timeout
trap 'rc=$?; pkill -P $$ 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
failures=0

# The local cluster must be up; the test suite's runner starts it.
"$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" status >/dev/null ||
    { echo "$TEST_NAME: the local Postgres is not running (scripts/pg-local.sh start)" >&2; exit 1; }
eval "$("$WAL2EDGE_SOURCE_DIR/scripts/pg-local.sh" env)"

# Each test runs in a database of its own, made afresh here, so the demo's database (and its
# publication and slot) is never touched and tests never see each other's tables. What a killed
# earlier run left behind (sessions, slots on that database) is cleared first.
TEST_DB="w2e_t_$(printf '%s' "$TEST_NAME" | tr -c 'a-z0-9_' '_')"
psql -X -q -v ON_ERROR_STOP=1 -At -d postgres >/dev/null <<SQL
SET client_min_messages = warning;
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$TEST_DB' AND pid <> pg_backend_pid();
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$TEST_DB' AND NOT active;
DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE);
CREATE DATABASE $TEST_DB;
SQL
export PGDATABASE=$TEST_DB
export DATABASE_URL="postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$TEST_DB"

# Every test starts without Cloudflare settings (a developer's or the suite's edge
# emulator exports them); a test that wants the local edge calls use_edge.
for var in CLOUDFLARE_API_BASE_URL CLOUDFLARE_ACCOUNT_ID CLOUDFLARE_API_TOKEN R2_ENDPOINT R2_ACCESS_KEY_ID \
    R2_SECRET_ACCESS_KEY; do
    unset "$var"
done
use_edge() {
    "$WAL2EDGE_SOURCE_DIR/scripts/edge-local.sh" status >/dev/null 2>&1 ||
        { echo "$TEST_NAME: the local edge is not running (scripts/edge-local.sh start)" >&2; exit 1; }
    eval "$("$WAL2EDGE_SOURCE_DIR/scripts/edge-local.sh" env)"
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*" >&2; failures=$((failures + 1)); }

# same_rows WHAT PG_SQL SQLITE_FILE SQLITE_SQL: the two row sets, '|'-separated and sorted bytewise,
# are equal and not empty (a pass with the row count, or a fail with the first differences)
same_rows() {
    psql_q -F '|' -c "$2" | LC_ALL=C sort >"$WORK/same.pg"
    sqlite3 -cmd ".timeout 10000" -batch -noheader -separator '|' "$3" "$4" | LC_ALL=C sort >"$WORK/same.sqlite"
    if [ -s "$WORK/same.pg" ] && cmp -s "$WORK/same.pg" "$WORK/same.sqlite"; then
        pass "$1 ($(wc -l <"$WORK/same.pg") rows compared)"
    else
        fail "$1: differs"; diff "$WORK/same.pg" "$WORK/same.sqlite" | head -6 >&2 || true
    fi
}

# wait_streamed TABLE VALUES WHERE COUNT_FN: `run` streams - a row inserted into TABLE (VALUES)
# reaches the target (COUNT_FN SQL prints a count there, WHERE selects the row), then goes again.
# A test that kills a resync starts it only then: run's resyncer, started later, would take over
# the killed one's progress (rightly) and the resync started again would find it running.
wait_streamed() {
    psql_q -c "INSERT INTO $1 VALUES ($2)" >/dev/null
    local _ seen=no
    for _ in $(seq 1 240); do
        [ "$("$4" "SELECT count(*) FROM $1 WHERE $3")" = 1 ] && { seen=yes; break; }
        sleep 0.25
    done
    [ $seen = yes ] || fail "run did not stream the row of $1 where $3 within 60 s"
    psql_q -c "DELETE FROM $1 WHERE $3" >/dev/null
}

# resync_killed_midway CONFIG TABLE CHUNK_ROWS AT OF: `wal2edge resync TABLE` killed with SIGKILL
# once its progress file ($PROGRESS) counts AT chunks, of about OF (output in $WORK/rs1.*)
resync_killed_midway() {
    PROGRESS=$(dirname "$1")/state/resync/$2.json
    "$WAL2EDGE_BIN" --config "$1" resync "$2" --chunk-rows "$3" >"$WORK/rs1.out" 2>"$WORK/rs1.err" &
    local pid=$! chunk
    for _ in $(seq 1 1500); do   # up to ~30 s: a slow (sanitizer) build starts late; the kill comes at AT all the same
        [ -f "$PROGRESS" ] && [ "$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)" -ge "$4" ] && break
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    chunk=$(jq -r .chunk "$PROGRESS" 2>/dev/null || echo 0)   # (no file: the copy ended before the kill)
    [ "$chunk" -ge 1 ] && [ "$chunk" -lt "$5" ] && pass "resync killed after chunk $chunk of about $5" ||
        fail "resync not killed half way (chunk $chunk; 0: its progress file was gone, the copy ended first)"
}

# run_w2e NAME ARGS... : run wal2edge, keep stdout/stderr/exit code in $WORK/NAME.{out,err,rc}
run_w2e() {
    local name=$1; shift
    set +e
    "$WAL2EDGE_BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    echo $? >"$WORK/$name.rc"
    set -e
}
rc_of() { cat "$WORK/$1.rc"; }

expect_rc() {   # expect_rc NAME CODE
    local got
    got=$(rc_of "$1")
    if [ "$got" = "$2" ]; then pass "$1 exits $2"; else
        fail "$1 exits $got, expected $2"; sed 's/^/    | /' "$WORK/$1.out" "$WORK/$1.err" >&2; fi
}

expect_contains() {   # expect_contains FILE TEXT [description]
    if grep -qF -- "$2" "$1"; then pass "${3:-$(basename "$1") contains: $2}"; else
        fail "${3:-$(basename "$1") lacks: $2}"; sed 's/^/    | /' "$1" >&2; fi
}

expect_not_contains() {
    if grep -qF -- "$2" "$1"; then fail "${3:-$(basename "$1") contains: $2}"; sed 's/^/    | /' "$1" >&2; else
        pass "${3:-$(basename "$1") does not contain: $2}"; fi
}

finish() {
    if [ "$failures" -gt 0 ]; then echo "$TEST_NAME: $failures failure(s)" >&2; exit 1; fi
    echo "$TEST_NAME: all passed"
}

# A config file for the local cluster; extra JSON members may be passed as $1.
write_config() {   # write_config FILE [EXTRA_MEMBERS]
    cat >"$1" <<JSONC
{
  // written by $TEST_NAME
  "source": { "dsn": "\${DATABASE_URL}", "publication": "\${TEST_PUBLICATION:-wal2edge}", "slot": "\${TEST_SLOT:-wal2edge_test}" },
  "state_dir": "state",
  ${2:-}
}
JSONC
}

# DIR/w.jsonc: TABLE's changes go to the queue target "changes", which pushes to QUEUE_ID through
# the emulator's REST API (start_consumer_edge sets the CLOUDFLARE_* variables it names).
write_queue_config() {   # write_queue_config DIR QUEUE_ID TABLE
    mkdir -p "$1/mappings"
    write_config "$1/w.jsonc" "\"queues\": { \"changes\": { \"queue_id\": \"$2\" } }, \"mappings\": [\"mappings/*.jsonc\"],
  \"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
                  \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" }"
    echo "{ \"table\": \"$3\", \"queue\": { \"queue\": \"changes\" } }" >"$1/mappings/queue.jsonc"
}

# A private edge emulator running the reference queue consumer (workers/queue-consumer) on every
# queue, applying events to its D1 database D1_ID; extra NAME=VALUE settings for the emulator may
# follow. Exports CLOUDFLARE_API_BASE_URL/ACCOUNT_ID/API_TOKEN and sets ADMIN (the admin API);
# the emulator is stopped when the test exits.
start_consumer_edge() {   # start_consumer_edge D1_ID [NAME=VALUE...]
    local d1_id=$1; shift
    mkdir -p "$WORK/consumer"
    cp "$WAL2EDGE_SOURCE_DIR/workers/queue-consumer/src/index.mjs" "$WORK/consumer/consumer.mjs"
    printf 'import { makeConsumer } from "./consumer.mjs";\nexport default makeConsumer({ d1DatabaseId: "%s", retryDelaySeconds: 0 });\n' \
        "$d1_id" >"$WORK/consumer/worker.mjs"
    (cd "$WAL2EDGE_SOURCE_DIR" && exec env EDGE_PORT=0 EDGE_STATE_DIR="$WORK/edge" EDGE_CONSUMER_SCRIPT="$WORK/consumer/worker.mjs" \
        "$@" node tests/edge/src/main.mjs >"$WORK/edge.out" 2>"$WORK/edge.err") &
    edge_pid=$!
    trap 'rc=$?; kill $edge_pid 2>/dev/null || true; wait $edge_pid 2>/dev/null || true; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
    local ready="" _
    for _ in $(seq 1 120); do grep -q '"ready"' "$WORK/edge.out" 2>/dev/null && break; sleep 0.5; done
    ready=$(grep '"ready"' "$WORK/edge.out") || { echo "$TEST_NAME: emulator did not start" >&2; cat "$WORK/edge.err" >&2; exit 1; }
    CLOUDFLARE_API_BASE_URL=$(jq -r .CLOUDFLARE_API_BASE_URL <<<"$ready")
    CLOUDFLARE_ACCOUNT_ID=$(jq -r .CLOUDFLARE_ACCOUNT_ID <<<"$ready")
    CLOUDFLARE_API_TOKEN=$(jq -r .CLOUDFLARE_API_TOKEN <<<"$ready")
    export CLOUDFLARE_API_BASE_URL CLOUDFLARE_ACCOUNT_ID CLOUDFLARE_API_TOKEN
    ADMIN="http://127.0.0.1:$(jq -r .port <<<"$ready")/__admin"
}
