#!/usr/bin/env bash
# snapshot to the local directory (the embedded R2 default): every translated type rendered
# losslessly (checked by decompressing each part with the zstd CLI and loading every row back
# into Postgres), parts of a target size, the manifest (written last) and its checksums, the
# slot left at the snapshot's LSN, an interrupted snapshot cleaned up and redone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snapshot_lib.sh"

export TEST_SLOT=w2e_snl_slot TEST_PUBLICATION=w2e_snl_pub
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'w2e_snl%'" >/dev/null
psql_q -c "DROP PUBLICATION IF EXISTS w2e_snl_pub" >/dev/null
snx_schema snl
psql_q -c "INSERT INTO snl_types (id, i8, t, jb) SELECT g, g * 1000, md5(g::text), jsonb_build_object('g', g)
           FROM generate_series(10, 30000) g" >/dev/null
psql_q -c "CREATE TABLE IF NOT EXISTS snl_empty (id int PRIMARY KEY, v text)" >/dev/null

cd "$WORK"
mkdir -p mappings
write_config w.jsonc '"r2": { "lake": {} }, "mappings": ["mappings/*.jsonc"]'
echo '{ "table": "public.snl_types", "snapshot": { "bucket": "lake", "prefix": "bronze" } }' >mappings/types.jsonc
echo '{ "table": "public.snl_empty", "snapshot": { "bucket": "lake" } }' >mappings/empty.jsonc

# a range size far below the table's size: the big table is read in block ranges by both connections
run_w2e snap1 --config w.jsonc snapshot --part-size 64K --jobs 2 --range-size 256K --id s1
expect_rc snap1 0
expect_contains "$WORK/snap1.out" "snapshot s1 at"
ranges=$(sed -n 's/.*2 table(s) in \([0-9]*\) range(s), 2 connection(s).*/\1/p' snap1.err)
[ "${ranges:-0}" -ge 3 ] && pass "the big table is read as $((ranges - 1)) ranges over 2 connections" ||
    fail "no split over 2 connections: $(grep -o 'table(s) in [^"]*' snap1.err)"
dir=state/r2/lake/bronze/public.snl_types/s1
parts=$(ls $dir/part-*.ndjson.zst | wc -l)
if [ "$parts" -ge 3 ]; then pass "several parts ($parts)"; else fail "only $parts part(s)"; fi
[ -f $dir/manifest.json ] && pass "manifest written" || fail "no manifest"
[ -f state/r2/lake/public.snl_empty/s1/manifest.json ] && pass "empty table: manifest" || fail "empty table: no manifest"
[ -z "$(find state/r2 -name '*.partial')" ] && pass "no partial files left" || fail "partial files left"

snx_rows $dir >rows.ndjson
diff_out=$(snx_compare "$WORK/rows.ndjson" snl_types)
if [ -z "$diff_out" ]; then pass "every row equals Postgres (30,000 rows, every type)"; else
    fail "rows differ"; echo "$diff_out" | head -5 >&2; fi
expect_contains rows.ndjson '"i8":"9223372036854775807"' "bigint beyond 2^53 is a string"
expect_contains rows.ndjson '"num":"12345678901234567890.123456789012345678"' "numeric is an exact string"
expect_contains rows.ndjson '"tstz":"2026-11-02T08:00:00.5Z"' "timestamptz in UTC"

# manifest: LSN = the slot's consistent point, per part rows/bytes/sha256 match the files
m=$dir/manifest.json
slot_lsn=$(psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'w2e_snl_slot'")
[ "$(jq -r .lsn $m)" = "$slot_lsn" ] && pass "manifest LSN is the slot's point ($slot_lsn)" ||
    fail "manifest LSN $(jq -r .lsn $m) vs slot $slot_lsn"
[ "$(jq -r .rows $m)" = 29994 ] && pass "manifest rows" || fail "manifest rows $(jq -r .rows $m)"
[ "$(jq '[.parts[].rows] | add' $m)" = 29994 ] && pass "part rows add up" || fail "part rows"
[ "$(jq -r '.columns[] | select(.name == "mood") | .type' $m)" = snl_mood ] && pass "schema has Postgres types" ||
    fail "column types: $(jq -c .columns $m)"
[ "$(jq -r '.tables | length' $m)" = 2 ] && pass "manifest lists both tables" || fail "tables in manifest"
bad=0
while IFS=$'\t' read -r key bytes sha rows; do
    f=state/r2/lake/$key
    [ "$(stat -c %s "$f")" = "$bytes" ] || bad=1
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sha" ] || bad=1
    [ "$(zstd -dcq "$f" | wc -l)" = "$rows" ] || bad=1
done < <(jq -r '.parts[] | [.key, .bytes, .sha256, .rows] | @tsv' $m)
[ $bad = 0 ] && pass "every part's size, sha256 and rows match the manifest" || fail "a part differs from the manifest"
# manifest after every part
newest_part=$(stat -c %Y $dir/part-*.zst | sort -n | tail -1)
[ "$(stat -c %Y $m)" -ge "$newest_part" ] && pass "manifest written last" || fail "manifest older than a part"

# a second snapshot with the slot existing uses a helper slot; the configured slot is untouched
run_w2e snap2 --config w.jsonc snapshot --table public.snl_types --id s2 --level 1
expect_rc snap2 0
helper=$(grep -o 'helper slot \\"w2e_snap_[0-9]*' snap2.err | grep -o 'w2e_snap_[0-9]*')
[ -n "$helper" ] && [ "$(psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$helper'")" = 0 ] &&
    pass "helper slot $helper dropped" || fail "helper slot ${helper:-?} left behind"
snx_rows state/r2/lake/bronze/public.snl_types/s2 >rows2.ndjson
[ "$(wc -l <rows2.ndjson)" = 29994 ] && pass "second snapshot complete" || fail "second snapshot rows"

# kill -9 mid-snapshot (two connections reading ranges), then rerun: the interrupted snapshot is
# removed and a complete one made, every row exactly once
psql_q -c "INSERT INTO snl_types (id, t) SELECT g, repeat(md5(g::text), 4) FROM generate_series(100000, 200000) g" >/dev/null
"$WAL2EDGE_BIN" --config w.jsonc snapshot --table public.snl_types --id s3 --part-size 16K --jobs 2 --range-size 256K \
    >"$WORK/snap3.out" 2>"$WORK/snap3.err" &
pid=$!
for _ in $(seq 300); do   # up to 30 s on a slow (sanitizer) build; the kill comes at 2 parts all the same
    [ "$(ls state/r2/lake/bronze/public.snl_types/s3/ 2>/dev/null | grep -c 'part-.*zst$')" -ge 2 ] && break
    sleep 0.1
done
kill -9 $pid; wait $pid 2>/dev/null || true
[ ! -f state/r2/lake/bronze/public.snl_types/s3/manifest.json ] && pass "killed snapshot has no manifest" ||
    fail "killed snapshot has a manifest"
# its helper slot was temporary: the server drops it with the dead session (no WAL pinned)
for _ in $(seq 50); do
    left=$(psql_q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'w2e_snap_$pid'")
    [ "$left" = 0 ] && break
    sleep 0.1
done
[ "$left" = 0 ] && pass "killed snapshot's helper slot w2e_snap_$pid is gone" ||
    fail "killed snapshot left helper slot w2e_snap_$pid"
run_w2e snap4 --config w.jsonc snapshot --table public.snl_types --id s4 --jobs 2 --range-size 1M
expect_rc snap4 0
expect_contains "$WORK/snap4.err" "2 connection(s)"
expect_contains "$WORK/snap4.err" "snapshot s3 (at"
expect_contains "$WORK/snap4.err" "starting a new snapshot"
[ -z "$(ls state/r2/lake/bronze/public.snl_types/s3/ 2>/dev/null | grep 'part-')" ] &&
    pass "interrupted snapshot's parts removed" || fail "interrupted snapshot's parts remain"
snx_rows state/r2/lake/bronze/public.snl_types/s4 >rows4.ndjson
diff_out=$(snx_compare "$WORK/rows4.ndjson" snl_types)
[ -z "$diff_out" ] && pass "rerun: complete and correct" || { fail "rerun rows differ"; echo "$diff_out" | head -3 >&2; }
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'w2e_snl%' OR slot_name LIKE 'w2e_snap_%'" >/dev/null

# usage errors
run_w2e bad1 --config w.jsonc snapshot --level 40
expect_rc bad1 2
run_w2e bad2 --config w.jsonc snapshot --table public.nope_missing
expect_rc bad2 2
expect_contains "$WORK/bad2.err" "public.nope_missing does not exist"
finish
