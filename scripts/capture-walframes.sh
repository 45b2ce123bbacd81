#!/usr/bin/env bash
# scripts/capture-walframes.sh - (re)capture tests/fixtures/walframes/stream.frames: the
# CopyData frames (XLogData and keepalives) a real PostgreSQL sends on a replication
# connection, as pg/stream receives them, for tests/unit/pg/stream_test.c.
#
# Against the local server of scripts/pg-local.sh (it must be running): a throwaway
# database w2e_capture_frames with one published table, a pgoutput slot, then a few
# transactions (inserts, an update, a delete, a transactional logical message, and one
# transaction large enough to stream in blocks with logical_decoding_work_mem=64kB); then
# build/dev/tests/capture_walframes streams the slot (protocol 2, streaming, messages)
# until a keepalive reports the WAL end. The slot and the database are dropped after.
# LSNs, xids and timestamps differ on every run: review the diff before committing.
#
# usage: scripts/capture-walframes.sh [OUT]   (default tests/fixtures/walframes/stream.frames)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/walframes/stream.frames}
TOOL=${CAPTURE_TOOL:-$ROOT/build/dev/tests/capture_walframes}
[ -x "$TOOL" ] || { echo "capture-walframes: build the dev preset first ($TOOL)" >&2; exit 2; }
eval "$("$ROOT/scripts/pg-local.sh" env)"
DB=w2e_capture_frames
SLOT=w2e_capture_frames
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
cleanup() {
    psql_q -d "$DB" -c "SELECT pg_drop_replication_slot('$SLOT') FROM pg_replication_slots WHERE slot_name = '$SLOT'" \
        >/dev/null 2>&1 || true
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
psql_q -d postgres -c "CREATE DATABASE $DB" >/dev/null
psql_q -d "$DB" <<'SQL' >/dev/null
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, pad text);
CREATE PUBLICATION w2e_capture_frames FOR TABLE items;
SELECT pg_create_logical_replication_slot('w2e_capture_frames', 'pgoutput');
SQL
psql_q -d "$DB" <<'SQL' >/dev/null
INSERT INTO items VALUES (1, 'one', NULL), (2, 'two', NULL);
UPDATE items SET name = 'uno' WHERE id = 1;
DELETE FROM items WHERE id = 2;
BEGIN;
INSERT INTO items VALUES (3, 'three', NULL);
SELECT pg_logical_emit_message(true, 'app.audit', 'three added');
COMMIT;
INSERT INTO items SELECT g, 'bulk ' || g, repeat('x', 300) FROM generate_series(100, 399) g;
SQL
end=$(psql_q -d "$DB" -c "SELECT pg_current_wal_lsn()")
mkdir -p "$(dirname "$OUT")"
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$DB?options=-c%20logical_decoding_work_mem%3D64kB" \
    "$TOOL" "$SLOT" w2e_capture_frames "$end" "$OUT"
