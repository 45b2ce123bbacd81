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
for backend in embedded; do   # REST: see below
    d1_use "$backend"
    dir="$WORK/d1_$backend"
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS oe_docs;
CREATE TABLE oe_docs (id int PRIMARY KEY, title text, body text);
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
INSERT INTO oe_docs VALUES (4, 'one', 'same title as row 1');
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
    [ "$(d1_q 'SELECT group_concat(id) FROM (SELECT id FROM oe_docs ORDER BY id)')" = "1,2,5" ] &&
        pass "[$backend] skip: the later row arrived, the refused ones did not" ||
        fail "[$backend] skip: D1 has rows $(d1_q 'SELECT group_concat(id) FROM oe_docs')"
    dl="$dir/state/deadletter.ndjson"
    [ "$(dead_lines "$dir" d1.app)" = 2 ] && pass "[$backend] two dead-letter lines" ||
        { fail "[$backend] dead-letter lines: $(dead_lines "$dir" d1.app)"; cat "$dl" >&2 || true; }
    if jq -e -s --arg lsn "$lsn" 'map(select(.key.id == "3")) | length == 1 and (.[0] |
            .target == "d1.app" and .table == "public.oe_docs" and .lsn == $lsn and (.xid > 0)
            and (.reason | test("2000000-byte row limit")) and (.value | contains("xxx...") and length < 5000))' \
            "$dl" >/dev/null; then
        pass "[$backend] the big row's line has target, table, lsn, xid, key, reason and a bounded value"
    else fail "[$backend] the big row's dead-letter line is wrong"; cat "$dl" >&2; fi
    jq -e -s 'map(select(.key.id == "4")) | length == 1 and (.[0].reason | test("UNIQUE constraint failed"))' \
        "$dl" >/dev/null &&
        pass "[$backend] the constraint's line names the constraint" ||
        { fail "[$backend] no constraint line"; cat "$dl" >&2; }
    [ "$(grep -c 'skipped a change of public.oe_docs' "$WORK/d1_skip_$backend.err")" = 2 ] &&
        pass "[$backend] one warning per skipped row" ||
        { fail "[$backend] warnings"; cat "$WORK/d1_skip_$backend.err" >&2; }
    run_w2e "d1_status_$backend" --config "$dir/w.jsonc" status --json
    [ "$(jq '.dead_letters["d1.app"]' "$WORK/d1_status_$backend.out")" = 2 ] &&
        pass "[$backend] status --json counts the dead letters" || fail "[$backend] status --json: $(cat "$WORK/d1_status_$backend.out")"
    run_w2e "d1_status_text_$backend" --config "$dir/w.jsonc" status
    expect_contains "$WORK/d1_status_text_$backend.out" "d1.app: 2 skipped changes" "[$backend] status shows the count"
    d1_drop_slot
done

finish
