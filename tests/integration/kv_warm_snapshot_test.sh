#!/usr/bin/env bash
# `wal2edge warm --from-snapshot ID`: a snapshot to the local directory (`wal2edge snapshot`) is
# warmed into the embedded KV store and into the edge emulator; every key and value equals a warm
# of the same table from Postgres (a table with every translated type; keys built from timestamptz,
# template values of many types, column-list values); changes made after the snapshot (updates, a
# delete, an insert, a key-forming change, an update leaving a TOASTed value unchanged) are applied
# by `run --exit-when-caught-up` and the cache equals Postgres again. REST: the same from a snapshot
# in R2 (the emulator's S3 API). Embedded only: a warm killed
# part-way resumes; a missing snapshot, an unfinished one, a damaged part, a slot past the snapshot,
# a missing slot and a --mapping that leaves out part of the namespace give clear errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kv_lib.sh"
source "$(dirname "$0")/snapshot_lib.sh"

export TEST_SLOT=kvws_slot TEST_PUBLICATION=kvws_pub
REF_SLOT=kvws_ref

mapping() {   # mapping DIR
    cat >"$1/mappings/types.jsonc" <<'JSONC'
{ "table": "public.kvws_types",
  "kv": [ { "namespace": "cache", "key": "t:{id}", "value": "row" },
          { "namespace": "cache", "key": "ts:{tstz}:{id}",
            "value": "{t}|{d}|{ttz}|{ts}|{tm}|{f8}|{r4}|{i8}|{ai}|{at}|{pr}|{by}|{jb}|{js}|{b}|{num}|{iv}|{u}|{mood}" },
          { "namespace": "cache", "key": "c:{id}", "value": ["i8", "num", "r4", "js", "mood", "cents", "pr"] } ],
  "snapshot": { "bucket": "lake", "prefix": "bronze" } }
JSONC
}

config() {   # config DIR : kv "cache" on the selected backend plus the local r2 "lake" (DIR/state/r2/lake)
    kv_config "$1"
    sed -i 's|"kv": {|"r2": { "lake": {} }, "kv": {|' "$1/w.jsonc"
    mapping "$1"
}

# reference: a fresh warm from Postgres into an embedded store, with its own slot
reference() {   # reference NAME -> $WORK/NAME.want ({"k","v"} lines)
    local dir="$WORK/ref_$1" saved=$KV_BACKEND
    rm -rf "$dir"
    KV_BACKEND=embedded
    config "$dir"
    sed -i "s|\"slot\": \"[^\"]*\"|\"slot\": \"$REF_SLOT\"|" "$dir/w.jsonc"
    run_w2e "ref_$1" --config "$dir/w.jsonc" warm
    expect_rc "ref_$1" 0
    kv_dump >"$WORK/$1.want"
    psql_q -c "SELECT pg_drop_replication_slot('$REF_SLOT')" >/dev/null
    KV_BACKEND=$saved
    KV_FILE="$DIR/state/kv/cache.sqlite"
}

compare() {   # compare NAME : the selected namespace equals $WORK/NAME.want
    kv_dump >"$WORK/$1.got"
    if [ -s "$WORK/$1.want" ] && cmp -s "$WORK/$1.want" "$WORK/$1.got"; then
        pass "[$KV_BACKEND] $1: every key and value equals the warm from Postgres ($(wc -l <"$WORK/$1.got") keys)"
    else
        fail "[$KV_BACKEND] $1: KV differs from the warm from Postgres"
        diff "$WORK/$1.want" "$WORK/$1.got" | head -20 | sed 's/^/    | /' >&2
    fi
}

for backend in $KV_BACKENDS; do
    kv_use "$backend"
    ROWS=20000
    [ "$backend" = rest ] && ROWS=600
    DIR="$WORK/$backend"
    LAKE="$DIR/state/r2/lake/bronze/public.kvws_types"
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('$TEST_SLOT', '$REF_SLOT')" >/dev/null
    psql_q -c "DROP PUBLICATION IF EXISTS $TEST_PUBLICATION" >/dev/null
    snx_schema kvws
    psql_q <<SQL >/dev/null
INSERT INTO kvws_types (id, i8, t, jb, tstz, d, ai, pr, b)
  SELECT g, g * 1000, 'row ' || g || ' "q" : /', jsonb_build_object('g', g), '2026-01-01 00:00:00+00'::timestamptz + g * interval '1.5 s',
         '2026-01-01'::date - g, ARRAY[g, NULL], ROW(g, 'p q', g / 7.0)::kvws_pair, g % 3 = 0
  FROM generate_series(10, $ROWS) g;
INSERT INTO kvws_types (id, t, i4) SELECT 5, string_agg(md5(g::text), ''), 1 FROM generate_series(1, 3000) g;
ALTER TABLE kvws_types ALTER COLUMN t SET STORAGE EXTERNAL;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE kvws_types;
SQL
    config "$DIR"

    # 1. the snapshot creates the slot at its point
    run_w2e snap --config "$DIR/w.jsonc" snapshot --id s1 --part-size 16K --jobs 2
    expect_rc snap 0
    lsn=$(jq -r .lsn "$LAKE/s1/manifest.json")
    parts=$(jq '.parts | length' "$LAKE/s1/manifest.json")
    reference before

    # 2. warm from the snapshot (embedded: killed once part-way, then resumed)
    if [ "$backend" = embedded ]; then
        "$WAL2EDGE_BIN" --config "$DIR/w.jsonc" warm --from-snapshot s1 >"$WORK/warm0.out" 2>"$WORK/warm0.err" &
        pid=$!
        for _ in $(seq 1 1000); do
            n=$(sqlite3 "$KV_FILE" "SELECT coalesce(max(rows), 0) FROM _wal2edge_kv_warm WHERE done = 0" 2>/dev/null || echo 0)
            [ "${n:-0}" -gt 0 ] && break
            sleep 0.005
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        progress=$(sqlite3 "$KV_FILE" "SELECT rows || '/' || done || '/' || last_pk FROM _wal2edge_kv_warm")
        case "$progress" in
        */0/snapshot:s1) pass "warm killed part-way ($progress)" ;;
        *) fail "warm was not interrupted part-way (progress $progress)" ;;
        esac
    fi
    run_w2e warm --config "$DIR/w.jsonc" warm --from-snapshot s1
    expect_rc warm 0
    expect_contains "$WORK/warm.out" "snapshot s1 at $lsn" "[$backend] warm reports the snapshot's LSN"
    [ "$backend" = embedded ] && expect_contains "$WORK/warm.err" "resuming an interrupted warm" "warm resumed"
    compare before
    if [ "$backend" = embedded ]; then
        [ "$(sqlite3 "$KV_FILE" "SELECT DISTINCT json_extract(metadata, '$.commit_lsn') FROM kv")" = "$lsn" ] &&
            pass "every value's metadata carries the snapshot's LSN" || fail "metadata commit_lsn"
        [ "$(sqlite3 "$KV_FILE" "SELECT end_lsn FROM _wal2edge_kv_checkpoint")" = "$lsn" ] &&
            pass "the KV checkpoint is the snapshot's LSN ($lsn, $parts parts)" || fail "KV checkpoint"
    fi

    # 3. changes after the snapshot: run makes the cache exact
    psql_q <<SQL >/dev/null
UPDATE kvws_types SET t = 'changed', f8 = 2.5 WHERE id IN (1, 11);
UPDATE kvws_types SET tstz = '2030-05-05 05:05:05.5+00' WHERE id = 12;
UPDATE kvws_types SET i4 = 42 WHERE id = 5;
DELETE FROM kvws_types WHERE id IN (2, 13);
INSERT INTO kvws_types (id, t, tstz) VALUES ($ROWS + 1, 'new', '2031-01-01 00:00:00+00');
SQL
    run_w2e run --config "$DIR/w.jsonc" run --exit-when-caught-up
    expect_rc run 0
    reference after
    compare after
    grep -q '"k":"t:5".*"i4":42' "$WORK/after.got" && pass "[$backend] a TOASTed value left unchanged comes from the warm's row state" ||
        fail "[$backend] row 5 after the update"

    if [ "$backend" = rest ]; then
        # 4. the same from a snapshot in R2 (the emulator's S3 API), read by ranged GETs
        BUCKET="w2e-kvws-$$-$RANDOM"
        sed "s|\"lake\": {}|\"lake\": { \"bucket\": \"$BUCKET\" }|" "$DIR/w.jsonc" >"$DIR/r2.jsonc"
        run_w2e snap_r2 --config "$DIR/r2.jsonc" snapshot --id r1 --part-size 16K
        expect_rc snap_r2 0
        run_w2e warm_r2 --config "$DIR/r2.jsonc" warm --from-snapshot r1
        expect_rc warm_r2 0
        cp "$WORK/after.want" "$WORK/after_r2.want"
        compare after_r2
        run_w2e missing_r2 --config "$DIR/r2.jsonc" warm --from-snapshot nope
        expect_rc missing_r2 2
        expect_contains "$WORK/missing_r2.err" "no snapshot \"nope\" of public.kvws_types in r2.lake (bucket $BUCKET)"
    fi
    if [ "$backend" = embedded ]; then
        # 5. errors
        run_w2e missing --config "$DIR/w.jsonc" warm --from-snapshot nope
        expect_rc missing 2
        expect_contains "$WORK/missing.err" 'no snapshot "nope" of public.kvws_types'
        run_w2e badid --config "$DIR/w.jsonc" warm --from-snapshot ../s1
        expect_rc badid 2
        run_w2e past --config "$DIR/w.jsonc" warm --from-snapshot s1
        expect_rc past 1
        expect_contains "$WORK/past.err" "has already confirmed changes up to"
        expect_contains "$WORK/past.err" "Take a new snapshot"
        psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
        run_w2e noslot --config "$DIR/w.jsonc" warm --from-snapshot s1
        expect_rc noslot 1
        expect_contains "$WORK/noslot.err" "replication slot \"$TEST_SLOT\" does not exist"
        cp -r "$LAKE/s1" "$LAKE/s9"
        sed -i 's/"snapshot_id": "s1"/"snapshot_id": "s9"/; s#/s1/#/s9/#g' "$LAKE/s9/manifest.json"
        psql_q -c "SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput')" >/dev/null
        sed -i "s|\"lsn\": \"[^\"]*\"|\"lsn\": \"$(psql_q -c 'SELECT pg_current_wal_lsn()')\"|" \
            "$LAKE/s9/manifest.json"
        first=$(ls "$LAKE/s9/"part-* | head -1)
        printf 'x' | dd of="$first" bs=1 seek=100 conv=notrunc 2>/dev/null
        ckpt=$(sqlite3 "$KV_FILE" "SELECT commit_lsn || ' ' || end_lsn FROM _wal2edge_kv_checkpoint")
        run_w2e damaged --config "$DIR/w.jsonc" warm --from-snapshot s9
        expect_rc damaged 1
        expect_contains "$WORK/damaged.err" "differs from its manifest entry"
        [ "$(sqlite3 "$KV_FILE" "SELECT commit_lsn || ' ' || end_lsn FROM _wal2edge_kv_checkpoint")" = "$ckpt" ] &&
            pass "a failed warm leaves the KV checkpoint alone ($ckpt)" || fail "checkpoint moved by a failed warm"
        psql_q -c "DROP TABLE IF EXISTS kvws_other; CREATE TABLE kvws_other (id int PRIMARY KEY)" >/dev/null
        echo '{ "table": "public.kvws_other", "kv": [ { "namespace": "cache", "key": "o:{id}", "value": "row" } ] }' \
            >"$DIR/mappings/other.jsonc"
        run_w2e subset --config "$DIR/w.jsonc" warm --from-snapshot s9 --mapping types
        expect_rc subset 2
        expect_contains "$WORK/subset.err" "kv.cache also holds public.kvws_other, which --mapping leaves out"
        rm "$DIR/mappings/other.jsonc"
        rm "$LAKE/s9/manifest.json"
        run_w2e unfinished --config "$DIR/w.jsonc" warm --from-snapshot s9
        expect_rc unfinished 1
        expect_contains "$WORK/unfinished.err" 'snapshot "s9" of public.kvws_types is not complete'
    fi
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('$TEST_SLOT', '$REF_SLOT')" >/dev/null
done
finish
