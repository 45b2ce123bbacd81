#!/usr/bin/env bash
# snapshot to R2 through the S3 API of the local edge emulator (which verifies every SigV4
# signature and enforces R2's multipart rules): several part objects, one of them large enough
# for a multipart upload of equal 5 MiB chunks; objects read back with curl's own SigV4 and
# compared with Postgres; wrong credentials give a clear error and no manifest.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snapshot_lib.sh"
use_edge

export TEST_SLOT=w2e_snr_slot TEST_PUBLICATION=w2e_snr_pub
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'w2e_snr%'" >/dev/null
snx_schema snr
# ~20 MB of hex text: compressed parts > 5 MiB take the multipart path
psql_q -c "INSERT INTO snr_types (id, t) SELECT g, md5(g || 'a') || md5(g || 'b') || md5(g || 'c')
           || md5(g || 'd') FROM generate_series(10, 150000) g" >/dev/null
BUCKET="w2e-snr-$$-$RANDOM"
s3() {   # s3 KEY_OR_QUERY : GET through curl's SigV4 (an independent signer)
    curl -sS --fail --aws-sigv4 "aws:amz:auto:s3" --user "$R2_ACCESS_KEY_ID:$R2_SECRET_ACCESS_KEY" \
        "$R2_ENDPOINT/$BUCKET/$1"
}

cd "$WORK"
mkdir -p mappings
write_config w.jsonc "\"r2\": { \"lake\": { \"bucket\": \"$BUCKET\" } }, \"mappings\": [\"mappings/*.jsonc\"]"
echo '{ "table": "public.snr_types", "snapshot": { "bucket": "lake", "prefix": "raw/pg" } }' >mappings/t.jsonc

run_w2e snap1 --config w.jsonc snapshot --id r1 --part-size 6M --chunk-size 5M --level 1 --jobs 1
expect_rc snap1 0
dir=raw/pg/public.snr_types/r1
s3 "$dir/manifest.json" >manifest.json || fail "manifest not readable"
nparts=$(jq '.parts | length' manifest.json)
[ "$nparts" -ge 2 ] && pass "$nparts part objects" || fail "parts: $nparts"
big=$(jq '[.parts[].bytes] | max' manifest.json)
[ "$big" -gt 5242880 ] && pass "a part of $big bytes went by multipart upload" || fail "no part above 5 MiB ($big)"
: >rows.ndjson
bad=0
while IFS=$'\t' read -r key bytes sha; do
    s3 "$key" >part.zst || bad=1
    [ "$(stat -c %s part.zst)" = "$bytes" ] || bad=1
    [ "$(sha256sum part.zst | cut -d' ' -f1)" = "$sha" ] || bad=1
    zstd -dcq part.zst >>rows.ndjson
done < <(jq -r '.parts[] | [.key, .bytes, .sha256] | @tsv' manifest.json)
[ $bad = 0 ] && pass "every object matches its size and sha256" || fail "an object differs from the manifest"
diff_out=$(snx_compare "$WORK/rows.ndjson" snr_types)
[ -z "$diff_out" ] && pass "every row equals Postgres" || { fail "rows differ"; echo "$diff_out" | head -3 >&2; }
[ -z "$(ls state/snapshot/spool 2>/dev/null)" ] && pass "spool emptied" || fail "spool files left"

# kill -9 while a multipart upload is open (its first chunk held up by the emulator): the
# UploadId is in the local state, and the next run aborts it, so no uploaded chunks stay behind
key3=raw/pg/public.snr_types/r3/part-00000.ndjson.zst
curl -sS -X POST "$EDGE_ADMIN_URL/faults" \
    -d "{\"path\":\"/$BUCKET/$key3\",\"method\":\"PUT\",\"count\":1,\"delay_ms\":8000}" >/dev/null
"$WAL2EDGE_BIN" --config w.jsonc snapshot --id r3 --part-size 6M --chunk-size 5M --level 1 --jobs 1 \
    >"$WORK/snap3.out" 2>"$WORK/snap3.err" &
pid=$!
for _ in $(seq 150); do
    s3 "?uploads=" 2>/dev/null | grep -q "<Key>$key3</Key>" && break
    sleep 0.1
done
sleep 0.3
kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
s3 "?uploads=" | grep -q "<Key>$key3</Key>" && pass "killed snapshot left an open multipart upload" ||
    fail "no open multipart upload after the kill"
run_w2e snap4 --config w.jsonc snapshot --id r4 --level 1 --jobs 2 --range-size 1M
expect_rc snap4 0
expect_contains "$WORK/snap4.err" "aborted the unfinished multipart upload of $key3 left by snapshot r3"
if s3 "?uploads=" | grep -q "<Key>$key3</Key>"; then fail "the interrupted upload is still open"; else
    pass "the interrupted upload was aborted"; fi
s3 "raw/pg/public.snr_types/r4/manifest.json" >manifest4.json || fail "r4 manifest not readable"
: >rows4.ndjson
while read -r key; do s3 "$key" | zstd -dcq >>rows4.ndjson; done < <(jq -r '.parts[].key' manifest4.json)
diff_out=$(snx_compare "$WORK/rows4.ndjson" snr_types)
[ -z "$diff_out" ] && pass "rerun over ranges: every row once, equal to Postgres" ||
    { fail "rerun rows differ"; echo "$diff_out" | head -3 >&2; }

# wrong credentials: a clear error naming the bucket and R2's code; no manifest
R2_SECRET_ACCESS_KEY=wrong-secret-key-for-the-test run_w2e badcreds --config w.jsonc snapshot --id r2 --level 1
expect_rc badcreds 1
expect_contains "$WORK/badcreds.err" "r2.lake (bucket $BUCKET)"
expect_contains "$WORK/badcreds.err" "SignatureDoesNotMatch"
expect_not_contains "$WORK/badcreds.err" "wrong-secret-key-for-the-test"
if s3 "raw/pg/public.snr_types/r2/manifest.json" >/dev/null 2>&1; then fail "failed snapshot has a manifest"; else
    pass "failed snapshot has no manifest"; fi
psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'w2e_snr%' OR slot_name LIKE 'w2e_snap_%'" >/dev/null
finish
