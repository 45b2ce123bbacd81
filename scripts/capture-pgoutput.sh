#!/usr/bin/env bash
# scripts/capture-pgoutput.sh - (re)capture the pgoutput fixtures in tests/fixtures/pgoutput.
#
# Starts a throwaway PostgreSQL 15 cluster (loopback + a private unix socket,
# wal_level=logical, logical_decoding_work_mem=64kB, max_prepared_transactions=10),
# and for each capture NAME: creates database NAME, runs NAME.setup.sql, creates
# a pgoutput slot with pg_recvlogical, runs NAME.sql, then streams everything up to
# the current WAL position into NAME.bin with `pg_recvlogical --start -E <lsn> -f`,
# the exact file format `wal2edge decode` reads. Also writes the hand-made
# protocol-4 fixture (PG15 cannot produce it) and, with --expected BIN, the
# NAME.expected.ndjson files by running `BIN decode`.
#
# LSNs, xids, OIDs and timestamps differ on every run, so re-capturing changes
# the .bin files and their expected output; review the diff before committing.
#
# With --bench FILE [--txns N] it instead captures N pgbench (TPC-B-like) transactions,
# proto 1, into FILE for bench/decoder/run.sh (not a fixture: do not commit it).
#
# usage: scripts/capture-pgoutput.sh [--expected WAL2EDGE_BIN] [--only NAME] [OUTDIR]
#        scripts/capture-pgoutput.sh --bench FILE [--txns N]
# env:   PGBIN (default /usr/lib/postgresql/15/bin), PGFX_PORT (default 54400)
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${PGFX_PORT:-54400}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=""
EXPECT_BIN=""
ONLY=""
BENCH=""
TXNS=20000
while [ $# -gt 0 ]; do
    case "$1" in
        --expected) EXPECT_BIN=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        --txns) TXNS=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) OUT=$1; shift ;;
    esac
done
OUT=${OUT:-$ROOT/tests/fixtures/pgoutput}
SQL=$ROOT/tests/fixtures/pgoutput

# initdb and postgres refuse to run as root: run the server side as `postgres`.
AS=()
if [ "$(id -u)" = 0 ]; then
    AS=(runuser -u postgres --)
fi

WORK=$(mktemp -d)
chmod 755 "$WORK"
if [ ${#AS[@]} -gt 0 ]; then chown postgres "$WORK"; fi

cleanup() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -E UTF8 --locale=C -A trust -U postgres >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_prepared_transactions = 10
logical_decoding_work_mem = 64kB
fsync = off
timezone = 'UTC'
datestyle = 'iso, mdy'
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/log" -w start >/dev/null

psql_db() {
    local db=$1; shift
    "${AS[@]}" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d "$db" "$@"
}
recv() {
    local db=$1; shift
    "${AS[@]}" "$PGBIN/pg_recvlogical" -h "$WORK" -p "$PORT" -U postgres -d "$db" "$@"
}

if [ -n "$BENCH" ]; then
    echo "capturing $TXNS pgbench transactions" >&2
    psql_db postgres -c "CREATE DATABASE bench" >/dev/null
    "${AS[@]}" "$PGBIN/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -q -s 1 bench >/dev/null 2>&1
    psql_db bench -c "CREATE PUBLICATION fx_pub FOR ALL TABLES" >/dev/null
    recv bench --slot=bench --create-slot -P pgoutput
    "${AS[@]}" "$PGBIN/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -c 1 -t "$TXNS" bench >/dev/null
    end=$(psql_db bench -Atc "SELECT pg_current_wal_lsn()")
    timeout 600 "${AS[@]}" "$PGBIN/pg_recvlogical" -h "$WORK" -p "$PORT" -U postgres -d bench \
        --slot=bench --start -E "$end" -F 0 -f "$WORK/bench.bin" -o proto_version=1 -o publication_names=fx_pub
    cp "$WORK/bench.bin" "$BENCH"
    echo "done: $BENCH" >&2
    exit 0
fi

# capture NAME "SLOT FLAGS" -o opt=val ...
capture() {
    local name=$1 slotflags=$2; shift 2
    if [ -n "$ONLY" ] && [ "$ONLY" != "$name" ]; then return; fi
    echo "capturing $name ($*)" >&2
    psql_db postgres -c "CREATE DATABASE $name" >/dev/null
    psql_db "$name" -f - <"$SQL/$name.setup.sql" >/dev/null
    # shellcheck disable=SC2086
    recv "$name" --slot="$name" --create-slot -P pgoutput $slotflags
    psql_db "$name" -f - <"$SQL/$name.sql" >/dev/null
    local end
    end=$(psql_db "$name" -Atc "SELECT pg_current_wal_lsn()")
    timeout 60 "${AS[@]}" "$PGBIN/pg_recvlogical" -h "$WORK" -p "$PORT" -U postgres -d "$name" \
        --slot="$name" --start -E "$end" -F 0 -f "$WORK/$name.bin" "$@"
    recv "$name" --slot="$name" --drop-slot
    cp "$WORK/$name.bin" "$OUT/$name.bin"
    chmod 644 "$OUT/$name.bin"
}

capture proto1_basic "" -o proto_version=1 -o publication_names=fx_pub,fx_ins
capture proto1_messages "" -o proto_version=1 -o publication_names=fx_pub -o messages=true
capture proto1_binary "" -o proto_version=1 -o publication_names=fx_pub -o binary=true
capture proto2_stream "" -o proto_version=2 -o publication_names=fx_pub -o streaming=on
capture proto3_twophase "--two-phase" -o proto_version=3 -o publication_names=fx_pub -o two_phase=on
capture proto3_twophase_stream "--two-phase" -o proto_version=3 -o publication_names=fx_pub \
    -o streaming=on -o two_phase=on

# Protocol 4 (PG16+, streaming=parallel) cannot be produced by PG15: hand-made from
# the documented layouts. Each line is one message; a newline follows each in the file.
write_hex() { grep -v '^#' | tr -d ' ' | while read -r hex; do printf '%s0a' "$hex"; done | xxd -r -p; }
if [ -z "$ONLY" ] || [ "$ONLY" = proto4_parallel ]; then
write_hex >"$OUT/proto4_parallel.bin" <<'HEX'
# Begin final_lsn 0/1A2B3C40 ts 2024-05-01 12:00:00 UTC xid 750
42 000000001a2b3c40 0002ba61fea15000 000002ee
# Relation 24626 public.users (id int4 key, name varchar(50), bio text), identity default
52 00006032 7075626c696300 757365727300 64 0003 01 696400 00000017 ffffffff 00 6e616d6500 00000413 00000036 00 62696f00 00000019 ffffffff
# Insert (1, 'alice', 'hi')
49 00006032 4e 0003 74 00000001 31 74 00000005 616c696365 74 00000002 6869
# Commit commit 0/1A2B3C40 end 0/1A2B3C70
43 00 000000001a2b3c40 000000001a2b3c70 0002ba61fea15000
# Stream Start xid 760, first segment
53 000002f8 01
# Relation with the stream xid prefix
52 000002f8 00006032 7075626c696300 757365727300 64 0003 01 696400 00000017 ffffffff 00 6e616d6500 00000413 00000036 00 62696f00 00000019 ffffffff
# Insert xid 760 (5, 'e', NULL); Insert by subtransaction 761 (6, 'f', NULL)
49 000002f8 00006032 4e 0003 74 00000001 35 74 00000001 65 6e
49 000002f9 00006032 4e 0003 74 00000001 36 74 00000001 66 6e
# Stream Stop
45
# Stream Abort 760 / subxact 761 with abort_lsn 0/1B000100 and abort_ts (v4 parallel trailer)
41 000002f8 000002f9 000000001b000100 0002ba61fea15000
# Second block for 760: Insert (7, 'g', NULL)
53 000002f8 00
49 000002f8 00006032 4e 0003 74 00000001 37 74 00000001 67 6e
45
# Whole transaction 760 aborted at 0/1B000200
41 000002f8 000002f8 000000001b000200 0002ba61fea15000
# Transaction 770 streamed and committed: commit 0/1C000000 end 0/1C000040
53 00000302 01
49 00000302 00006032 4e 0003 74 00000001 38 74 00000001 68 6e
45
63 00000302 00 000000001c000000 000000001c000040 0002ba61fea15000
HEX
fi

if [ -n "$EXPECT_BIN" ]; then
    for bin in "$OUT"/*.bin; do
        "$EXPECT_BIN" decode "$bin" >"${bin%.bin}.expected.ndjson"
    done
fi
echo "done: $(ls "$OUT"/*.bin | wc -l) captures in $OUT" >&2
