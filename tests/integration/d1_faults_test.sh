#!/usr/bin/env bash
# D1 under faults. REST (local edge): 429 with Retry-After, 500s and dropped connections while
# `run` applies a workload; the copy still equals Postgres and the emulator's request log shows
# the retries. Both targets: a UNIQUE index that exists only in D1 is violated by the source; run
# stops (exit 1) naming the D1 error, the table and the LSN, the checkpoint stays before the bad
# transaction; after the index is dropped, run resumes and nothing is lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_faults TEST_PUBLICATION=d1_faults_pub

psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS d1f_t, d1f_u CASCADE;
CREATE TABLE d1f_t (id int PRIMARY KEY, v text, n int);
CREATE TABLE d1f_u (id int PRIMARY KEY, email text);
SQL

workload() {   # workload ROUND : 60 small transactions
    local r=$1 i
    for ((i = 0; i < 60; i++)); do
        echo "INSERT INTO d1f_t VALUES ($((r * 1000 + i)), 'r$r', $i);"
        echo "UPDATE d1f_t SET n = n + 1 WHERE id = $((r * 1000 + i / 2));"
        if ((i % 7 == 3)); then echo "DELETE FROM d1f_t WHERE id = $((r * 1000 + i - 1));"; fi
    done | psql_q >/dev/null
}
same_t() {
    d1_same "t_$1" "SELECT id || '|' || v || '|' || n FROM d1f_t" "SELECT id || '|' || v || '|' || n FROM d1f_t"
}

# ---- faults on the REST path ----
if [[ " $D1_BACKENDS " == *" rest "* ]]; then
    d1_use rest
    dir="$WORK/rest-faults"
    d1_reset_slot d1f_t d1f_u
    d1_config "$dir" d1f_t d1f_u
    run_w2e init --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc init 0
    qpath="/d1/database/$D1_DB_ID/query"
    since=$(curl -sS "$EDGE_ADMIN_URL/counters" | jq .last_seq)
    for round in 1 2 3; do
        workload $round
        case $round in
        1) rule="[{\"path\":\"$qpath\",\"count\":2,\"status\":429,\"retry_after\":1}]" ;;
        2) rule="[{\"path\":\"$qpath\",\"count\":2,\"status\":500},{\"path\":\"$qpath\",\"count\":1,\"status\":503}]" ;;
        3) rule="[{\"path\":\"$qpath\",\"count\":1,\"drop\":\"before\"},{\"path\":\"$qpath\",\"count\":1,\"drop\":\"during\"},{\"path\":\"$qpath\",\"count\":1,\"drop\":\"after\"}]" ;;
        esac
        curl -sS -X POST "$EDGE_ADMIN_URL/faults" -d "$rule" >/dev/null
        t0=$(date +%s.%N)
        run_w2e "faults$round" --config "$dir/w.jsonc" run --exit-when-caught-up
        expect_rc "faults$round" 0
        echo "# round $round took $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
        same_t "round$round"
    done
    # round 4: a data batch applied by D1 whose answer is lost. run is started first (its
    # opening request is not the one faulted), then the fault is armed and the workload runs.
    "$WAL2EDGE_BIN" --config "$dir/w.jsonc" run >"$WORK/bg4.out" 2>"$WORK/bg4.err" &
    bg=$!
    for _ in $(seq 1 600); do grep -q "streaming from slot" "$WORK/bg4.err" && break; sleep 0.1; done
    curl -sS -X POST "$EDGE_ADMIN_URL/faults" -d "[{\"path\":\"$qpath\",\"count\":1,\"drop\":\"after\"}]" >/dev/null
    workload 4
    # a row written after the workload reached D1 first: SIGTERM stops between transactions, and the
    # wait below for the slot's position runs out silently on a server other databases write to
    psql_q -c "INSERT INTO d1f_t VALUES (4999, 'marker', 0)" >/dev/null
    marked=no
    for _ in $(seq 1 240); do [ "$(d1_q "SELECT count(*) FROM d1f_t WHERE id = 4999")" = 1 ] && { marked=yes; break; }; sleep 0.25; done
    [ $marked = yes ] || fail "round 4: D1 did not get the row written after the workload"
    for _ in $(seq 1 100); do
        [ "$(psql_q -c "SELECT confirmed_flush_lsn >= pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")" = t ] && break
        sleep 0.2
    done
    kill -TERM $bg
    wait $bg && pass "round 4: run stopped cleanly" || fail "round 4: run exited $?"
    same_t "round4"
    curl -sS -X DELETE "$EDGE_ADMIN_URL/faults" >/dev/null
    curl -sS "$EDGE_ADMIN_URL/log?since=$since&path=$D1_DB_ID&limit=1000" >"$WORK/edge-log.json"
    st() { jq "[.entries[] | select($1)] | length" "$WORK/edge-log.json"; }
    n429=$(st '.status == 429') n5xx=$(st '.status >= 500') ndrop=$(st '.dropped != null') nok=$(st '.status == 200 and .dropped == null')
    [ "$n429" -ge 2 ] && pass "emulator log: $n429 requests answered 429" || fail "emulator log: $n429 answers 429"
    [ "$n5xx" -ge 3 ] && pass "emulator log: $n5xx requests answered 5xx" || fail "emulator log: $n5xx answers 5xx"
    [ "$ndrop" -ge 4 ] && pass "emulator log: $ndrop dropped connections" || fail "emulator log: $ndrop dropped"
    [ "$nok" -ge 3 ] && pass "emulator log: $nok requests succeeded after the retries" || fail "emulator log: $nok ok"
    # a request applied but answered on a dropped connection is retried by the client: the
    # checkpoint guard at its head makes D1 refuse the copy (400), and the target then reads
    # the checkpoint back instead of applying the transactions twice
    nguard=$(st '.route == "d1.query" and .status == 400')
    [ "$nguard" -ge 1 ] && pass "emulator log: $nguard retried copies refused by the checkpoint guard" ||
        fail "emulator log: no retried copy was refused by the checkpoint guard"
    # every fault was followed by a retry: the request after a faulted one hits the same path again
    jq -e '[.entries[] | select(.route == "d1.query")] | last | .status == 200' "$WORK/edge-log.json" >/dev/null &&
        pass "the last D1 request succeeded" || fail "the last D1 request failed"
    d1_drop_slot
fi

# ---- a permanent D1 error stops the run; fixing D1 resumes with nothing lost ----
for backend in $D1_BACKENDS; do
    d1_use "$backend"
    dir="$WORK/$backend-constraint"
    psql_q -c "TRUNCATE d1f_t, d1f_u" >/dev/null
    d1_reset_slot d1f_t d1f_u
    d1_config "$dir" d1f_t d1f_u
    psql_q -c "INSERT INTO d1f_u VALUES (1, 'a@x'), (2, 'b@x')" >/dev/null
    run_w2e "c_init_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "c_init_$backend" 0
    d1_exec 'CREATE UNIQUE INDEX d1f_u_email_only_in_d1 ON d1f_u (email)'
    ck_before=$(d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
    psql_q -c "INSERT INTO d1f_t VALUES (1, 'good before', 0)" >/dev/null
    bad_lsn=$(psql_q -c "BEGIN" -c "UPDATE d1f_u SET email = 'a@x' WHERE id = 2" \
        -c "COMMIT" -c "SELECT pg_current_wal_insert_lsn()")
    psql_q -c "INSERT INTO d1f_t VALUES (2, 'good after', 0)" >/dev/null
    run_w2e "c_fail_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "c_fail_$backend" 1
    expect_contains "$WORK/c_fail_$backend.err" "UNIQUE constraint failed: d1f_u.email" "[$backend] the D1 error is named"
    expect_contains "$WORK/c_fail_$backend.err" "d1.app" "[$backend] the target is named"
    if [ "$backend" = rest ]; then
        expect_contains "$WORK/c_fail_$backend.err" "[7500]" "[rest] the D1 error code is named"
        expect_contains "$WORK/c_fail_$backend.err" 'refused a change of public.d1f_u, key {"id":"2"}' "[rest] the table and the row are named"
        grep -qE "transaction at commit LSN [0-9A-F]+/[0-9A-F]+" "$WORK/c_fail_$backend.err" &&
            pass "[rest] the transaction's LSN is named" || fail "[rest] no LSN in the error"
    fi
    ck_fail=$(d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
    [ "$(psql_q -c "SELECT '$ck_fail'::pg_lsn < '$bad_lsn'::pg_lsn")" = t ] &&
        pass "[$backend] the checkpoint ($ck_before → $ck_fail) stays before the refused transaction" ||
        fail "[$backend] the checkpoint $ck_fail moved past the refused transaction ($bad_lsn)"
    [ "$(d1_q "SELECT email FROM d1f_u WHERE id = 2")" = b@x ] && pass "[$backend] the refused update is not applied" ||
        fail "[$backend] the refused update was applied"
    # the same again: still refused, nothing moves
    run_w2e "c_fail2_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "c_fail2_$backend" 1
    d1_exec 'DROP INDEX d1f_u_email_only_in_d1'
    run_w2e "c_fixed_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "c_fixed_$backend" 0
    d1_same "u_$backend" "SELECT id || '|' || email FROM d1f_u" "SELECT id || '|' || email FROM d1f_u"
    same_t "after_fix_$backend"
    d1_drop_slot
done
psql_q -c "DROP TABLE IF EXISTS d1f_t, d1f_u CASCADE" >/dev/null
finish
