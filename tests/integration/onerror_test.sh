#!/usr/bin/env bash
# "on_error" (docs/mappings.md): a change a target refuses for its row alone (a D1 row over 2 MB,
# a constraint D1 has and Postgres has not, a KV key over 512 bytes, a KV value over 25 MiB at
# any size, a queue event over 128 KB without a claim check) stops the run under "stop" (exit 1,
# the target, table, key, commit LSN and limit named, the checkpoint before it, the next run after
# the fix continuing) and under "skip" lets later rows arrive, with one dead-letter line and one
# warning per row and the count in `status`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=onerror_slot TEST_PUBLICATION=onerror_pub

lsn_le() { [ "$(psql_q -c "SELECT '$1'::pg_lsn <= '$2'::pg_lsn")" = t ]; }
# the commit LSN a stop message names
stop_lsn() { grep -o 'commit LSN [0-9A-F]*/[0-9A-F]*' "$1" | head -1 | cut -d' ' -f3; }
dead_lines() { grep -c "\"target\":\"$2\"" "$1/state/deadletter.ndjson" 2>/dev/null || true; }

# ---- D1: a row over 2,000,000 bytes and a UNIQUE constraint Postgres does not have ----------
for backend in $D1_BACKENDS; do
    d1_use "$backend"
    dir="$WORK/d1_$backend"
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS oe_docs;
CREATE TABLE oe_docs (id int PRIMARY KEY, title text, body text, bin bytea);
ALTER TABLE oe_docs ALTER COLUMN body SET STORAGE EXTERNAL;
SQL
    d1_reset_slot oe_docs
    d1_config "$dir" oe_docs
    psql_q -c "INSERT INTO oe_docs VALUES (1, 'one', 'first'), (2, 'two', 'second')" >/dev/null
    run_w2e "d1_first_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "d1_first_$backend" 0
    # D1 gets a constraint that Postgres does not have
    d1_exec 'CREATE UNIQUE INDEX oe_docs_title ON oe_docs (title)'
    psql_q <<'SQL' >/dev/null
INSERT INTO oe_docs VALUES (3, 'big', repeat('x', 2500000));
BEGIN;
INSERT INTO oe_docs VALUES (6, 'six', 'before it in its transaction');
INSERT INTO oe_docs VALUES (4, 'one', 'same title as row 1');
INSERT INTO oe_docs VALUES (7, 'seven', 'after it in its transaction');
COMMIT;
-- 60,000 bytes: over REST (BLOBs as X'..' literals) a statement over 100,000 bytes of SQL
INSERT INTO oe_docs VALUES (8, 'eight', 'a blob', decode(repeat('ab', 60000), 'hex'));
-- a key change (delete + upsert) whose upsert hits the D1-only constraint: neither is applied
UPDATE oe_docs SET id = 9, title = 'two' WHERE id = 1;
INSERT INTO oe_docs VALUES (5, 'five', 'after both');
SQL
    ck_before=$(d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")

    run_w2e "d1_stop_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "d1_stop_$backend" 1
    err="$WORK/d1_stop_$backend.err"
    expect_contains "$err" 'd1.app: refused a change of public.oe_docs, key {"id":"3"}' "[$backend] stop names target, table and key"
    expect_contains "$err" "over D1's 2000000-byte row limit" "[$backend] stop names the limit"
    expect_contains "$err" "Set \"on_error\": \"skip\" in the \"d1\" section of $dir/mappings/oe_docs.jsonc" \
        "[$backend] stop names on_error and the mapping file"
    expect_contains "$err" 'leave the large column out of D1' "[$backend] stop names the other ways out"
    lsn=$(stop_lsn "$err")
    ck=$(d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
    if [ -n "$lsn" ] && [ "$ck" = "$ck_before" ] && ! lsn_le "$lsn" "$ck"; then
        pass "[$backend] the checkpoint ($ck) stays before the refused transaction ($lsn)"
    else fail "[$backend] checkpoint $ck (was $ck_before), refused transaction at '$lsn'"; fi
    [ "$(d1_q 'SELECT count(*) FROM oe_docs')" = 2 ] && pass "[$backend] nothing after it was applied" ||
        fail "[$backend] rows after the refused one were applied: $(d1_q 'SELECT group_concat(id) FROM oe_docs')"
    [ ! -e "$dir/state/deadletter.ndjson" ] && pass "[$backend] stop writes no dead letter" ||
        fail "[$backend] stop wrote a dead letter"

    # fix the config: skip
    printf '{ "table": "public.oe_docs", "d1": { "database": "app", "on_error": "skip" } }\n' >"$dir/mappings/oe_docs.jsonc"
    run_w2e "d1_skip_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "d1_skip_$backend" 0
    want_rows="1,2,5,6,7,8" want_dead=3
    [ "$backend" = rest ] && want_rows="1,2,5,6,7" want_dead=4
    [ "$(d1_q 'SELECT group_concat(id) FROM (SELECT id FROM oe_docs ORDER BY id)')" = "$want_rows" ] &&
        pass "[$backend] skip: the later rows arrived (also those of the refused row's transaction), the refused ones did not" ||
        fail "[$backend] skip: D1 has rows $(d1_q 'SELECT group_concat(id) FROM oe_docs')"
    dl="$dir/state/deadletter.ndjson"
    [ "$(dead_lines "$dir" d1.app)" = "$want_dead" ] && pass "[$backend] $want_dead dead-letter lines" ||
        { fail "[$backend] dead-letter lines: $(dead_lines "$dir" d1.app)"; cut -c1-400 "$dl" >&2 || true; }
    if jq -e -s --arg lsn "$lsn" 'map(select(.key.id == "3")) | length == 1 and (.[0] |
            .target == "d1.app" and .table == "public.oe_docs" and .lsn == $lsn and (.xid > 0)
            and (.reason | test("2000000-byte row limit")) and (.value | contains("xxx...") and length < 5000))' \
            "$dl" >/dev/null; then
        pass "[$backend] the big row's line has target, table, lsn, xid, key, reason and a bounded value"
    else fail "[$backend] the big row's dead-letter line is wrong"; cut -c1-400 "$dl" >&2; fi
    jq -e -s 'map(select(.key.id == "4")) | length == 1 and (.[0].reason | test("UNIQUE constraint failed"))' \
        "$dl" >/dev/null &&
        pass "[$backend] the constraint's line names the constraint" ||
        { fail "[$backend] no constraint line"; cut -c1-400 "$dl" >&2; }
    jq -e -s 'map(select(.key.id == "9")) | length == 1 and (.[0].reason | test("UNIQUE constraint failed"))' \
        "$dl" >/dev/null && [ "$(d1_q 'SELECT title FROM oe_docs WHERE id = 1')" = one ] &&
        pass "[$backend] a refused key change is skipped whole (the old row stays)" ||
        { fail "[$backend] key change: row 1 is '$(d1_q 'SELECT title FROM oe_docs WHERE id = 1')'"; cut -c1-300 "$dl" >&2; }
    if [ "$backend" = rest ]; then
        jq -e -s 'map(select(.key.id == "8")) | length == 1 and (.[0].reason | test("does not fit one D1 statement"))' \
            "$dl" >/dev/null && pass "[rest] a statement over 100,000 bytes of SQL is refused by row" ||
            { fail "[rest] no line for the statement over the limit"; cut -c1-300 "$dl" >&2; }
    fi
    [ "$(grep -c 'skipped a change of public.oe_docs' "$WORK/d1_skip_$backend.err")" = "$want_dead" ] &&
        pass "[$backend] one warning per skipped row" ||
        { fail "[$backend] warnings"; cat "$WORK/d1_skip_$backend.err" >&2; }
    run_w2e "d1_status_$backend" --config "$dir/w.jsonc" status --json
    [ "$(jq '.dead_letters["d1.app"]' "$WORK/d1_status_$backend.out")" = "$want_dead" ] &&
        pass "[$backend] status --json counts the dead letters" || fail "[$backend] status --json: $(cat "$WORK/d1_status_$backend.out")"
    run_w2e "d1_status_text_$backend" --config "$dir/w.jsonc" status
    expect_contains "$WORK/d1_status_text_$backend.out" "d1.app: $want_dead skipped changes" "[$backend] status shows the count"
    d1_drop_slot
done

# ---- KV: a key over 512 bytes, values over 25 MiB at 25.5, 27 and 30 MiB (past the value buffer) --
dir="$WORK/kv"
mkdir -p "$dir/mappings"
write_config "$dir/w.jsonc" '"kv": { "cache": {} }, "mappings": ["mappings/*.jsonc"]'
kv_map() { printf '{ "table": "public.oe_kv", "kv": [ { "namespace": "cache", "key": "doc:{k}", "value": "row"%s } ] }\n' "$1" \
    >"$dir/mappings/oe_kv.jsonc"; }
kv_map ''
psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS oe_kv;
CREATE TABLE oe_kv (id int PRIMARY KEY, k text, v text);
SQL
d1_reset_slot oe_kv
kv_file="$dir/state/kv/cache.sqlite"
kv_keys() { sqlite3 -batch -noheader "$kv_file" 'SELECT group_concat(key, " ") FROM (SELECT key FROM kv ORDER BY key)'; }
kv_ck() { sqlite3 -batch -noheader "$kv_file" "SELECT commit_lsn FROM _wal2edge_kv_checkpoint WHERE slot = '$TEST_SLOT'"; }
psql_q -c "INSERT INTO oe_kv VALUES (1, 'a', 'small')" >/dev/null
run_w2e kv_first --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc kv_first 0
MiB=1048576
psql_q <<SQL >/dev/null
INSERT INTO oe_kv VALUES (5, 'e', repeat('v', 30 * $MiB));
INSERT INTO oe_kv VALUES (2, repeat('k', 600), 'key too long');
INSERT INTO oe_kv VALUES (3, 'c', repeat('v', 25 * $MiB + $MiB / 2));
INSERT INTO oe_kv VALUES (4, 'd', repeat('v', 27 * $MiB));
UPDATE oe_kv SET v = repeat('w', 26 * $MiB) WHERE id = 1;
INSERT INTO oe_kv VALUES (6, 'f', 'after them');
SQL
ck_before=$(kv_ck)
run_w2e kv_stop --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc kv_stop 1
err="$WORK/kv_stop.err"
expect_contains "$err" 'kv.cache: refused a change of public.oe_kv, key {"id":"5"}' "kv stop names target, table and key"
expect_contains "$err" 'the value is more than 27262976 bytes, over the 25 MiB (26214400-byte) KV value limit' \
    "kv stop at 30 MiB names the limit (no buffer-limit error)"
expect_contains "$err" "Set \"on_error\": \"skip\" in the \"kv[0]\" section of $dir/mappings/oe_kv.jsonc" "kv stop names on_error"
expect_not_contains "$err" "buffer" "kv stop is not a buffer error"
lsn=$(stop_lsn "$err")
[ "$(kv_ck)" = "$ck_before" ] && [ -n "$lsn" ] && ! lsn_le "$lsn" "$ck_before" &&
    pass "kv checkpoint ($ck_before) stays before the refused transaction ($lsn)" || fail "kv checkpoint $(kv_ck), refused at '$lsn'"
[ "$(kv_keys)" = "doc:a" ] && pass "kv: nothing after it was written" || fail "kv keys after stop: $(kv_keys)"

kv_map ', "on_error": "skip"'
run_w2e kv_skip --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc kv_skip 0
[ "$(kv_keys)" = "doc:f" ] && pass "kv skip: the later row's key arrived; no refused key was written, doc:a (now too large) deleted" ||
    fail "kv keys after skip: $(kv_keys)"
dl="$dir/state/deadletter.ndjson"
[ "$(dead_lines "$dir" kv.cache)" = 5 ] && pass "kv: five dead-letter lines" || { fail "kv dead letters: $(dead_lines "$dir" kv.cache)"; cut -c1-400 "$dl" >&2; }
for want in '5 more than 27262976 bytes' '2 longer than 512 bytes' '3 is 26738711 bytes' '4 more than 27262976' '1 more than 27262976'; do
    id=${want%% *} text=${want#* }
    jq -e -s --arg id "$id" --arg t "$text" 'map(select(.key.id == $id and .target == "kv.cache"
            and .table == "public.oe_kv" and (.reason | contains($t)) and .xid > 0)) | length == 1' "$dl" >/dev/null &&
        pass "kv dead letter for row $id: $text" || { fail "kv dead letter for row $id ($text)"; cut -c1-400 "$dl" >&2; }
done
[ "$(grep -c 'skipped a change of public.oe_kv' "$WORK/kv_skip.err")" = 5 ] && pass "kv: one warning per skipped row" ||
    { fail "kv warnings"; cat "$WORK/kv_skip.err" >&2; }
run_w2e kv_status --config "$dir/w.jsonc" status --json
[ "$(jq '.dead_letters["kv.cache"]' "$WORK/kv_status.out")" = 5 ] && pass "status --json counts the KV dead letters" ||
    fail "kv status: $(cat "$WORK/kv_status.out")"
d1_drop_slot

# ---- Queue: an event over 128,000 bytes without a claim check (embedded spool) ---------------
dir="$WORK/queue"
mkdir -p "$dir/mappings"
write_config "$dir/w.jsonc" '"queues": { "changes": {} }, "mappings": ["mappings/*.jsonc"]'
q_map() { printf '{ "table": "public.oe_q", "queue": { "queue": "changes"%s } }\n' "$1" >"$dir/mappings/oe_q.jsonc"; }
q_map ''
psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS oe_q;
CREATE TABLE oe_q (id int PRIMARY KEY, v text);
SQL
d1_reset_slot oe_q
spool="$dir/state/queues/changes.ndjson"
psql_q <<'SQL' >/dev/null
INSERT INTO oe_q VALUES (1, 'small');
BEGIN;
INSERT INTO oe_q VALUES (2, repeat('q', 200000));
INSERT INTO oe_q VALUES (3, 'same transaction');
COMMIT;
INSERT INTO oe_q VALUES (4, 'after it');
SQL
run_w2e q_stop --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc q_stop 1
err="$WORK/q_stop.err"
expect_contains "$err" 'queues.changes: refused a change of public.oe_q, key {"id":"2"}' "queue stop names target, table and key"
expect_contains "$err" 'over the 128000-byte message limit' "queue stop names the limit"
expect_contains "$err" "Set \"on_error\": \"skip\" in the \"queue\" section of $dir/mappings/oe_q.jsonc" "queue stop names on_error"
expect_contains "$err" '"oversize": "claim_check"' "queue stop names the claim check"
[ "$(jq -r '.key.id' "$spool" 2>/dev/null | tr '\n' ' ')" = "1 " ] && pass "queue: only the event before it is in the spool" ||
    fail "queue spool after stop: $(jq -c .key "$spool" 2>/dev/null | tr '\n' ' ')"
q_map ', "on_error": "skip"'
run_w2e q_skip --config "$dir/w.jsonc" run --exit-when-caught-up
expect_rc q_skip 0
[ "$(jq -r '.key.id' "$spool" | tr '\n' ' ')" = "1 3 4 " ] && pass "queue skip: later events arrived, the big one did not" ||
    fail "queue spool after skip: $(jq -c .key "$spool" | tr '\n' ' ')"
jq -e -s 'map(select(.key.id == 3)) | length == 1 and .[0].transaction.total_order == 1
        and .[0].transaction.event_count == 1' "$spool" >/dev/null &&
    pass "queue skip: the transaction's remaining event is numbered 1 of 1" || fail "queue numbering: $(grep '"id":3' "$spool")"
dl="$dir/state/deadletter.ndjson"
jq -e -s 'length == 1 and (.[0] | .target == "queues.changes" and .table == "public.oe_q" and .key.id == "2"
        and .xid > 0 and (.reason | test("over the 128000-byte message limit")) and .value_truncated)' "$dl" >/dev/null &&
    pass "queue: the dead-letter line" || { fail "queue dead letter"; cut -c1-400 "$dl" >&2; }
[ "$(grep -c 'skipped a change of public.oe_q' "$WORK/q_skip.err")" = 1 ] && pass "queue: one warning" ||
    fail "queue warnings: $(grep -c 'skipped a change' "$WORK/q_skip.err")"
run_w2e q_status --config "$dir/w.jsonc" status --json
[ "$(jq '.dead_letters["queues.changes"]' "$WORK/q_status.out")" = 1 ] && pass "status --json counts the queue dead letter" ||
    fail "queue status: $(cat "$WORK/q_status.out")"
d1_drop_slot

finish
