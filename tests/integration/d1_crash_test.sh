#!/usr/bin/env bash
# D1 (embedded file and REST on the local edge) under concurrent writers: `run` streaming while
# three psql writers insert/update/delete, then `run` killed with SIGKILL at random moments ten
# times over and restarted. The D1 copy must equal Postgres, and no transaction may be applied
# twice: d1c_ev is append-only, and a D1 trigger records any row whose insert is applied again
# (a replayed insert takes the upsert's UPDATE path).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/d1_lib.sh"

export TEST_SLOT=d1_crash TEST_PUBLICATION=d1_crash_pub
TXNS=${D1_CRASH_TXNS:-400}

setup_tables() {
    psql_q <<'SQL' >/dev/null
DROP TABLE IF EXISTS d1c_acct, d1c_ev CASCADE;
CREATE TABLE d1c_acct (id int PRIMARY KEY, n int NOT NULL, note text);
CREATE TABLE d1c_ev (id bigserial PRIMARY KEY, w int NOT NULL, i int NOT NULL, note text);
INSERT INTO d1c_acct SELECT g, 0, 'start' FROM generate_series(0, 49) g;
SQL
}

writer() {   # writer W TXNS [PAUSE_EVERY] : small transactions on both tables, a 10 ms pause every so often
    local w=$1 n=$2 every=${3:-20} i
    {
        for ((i = 0; i < n; i++)); do
            echo "BEGIN; INSERT INTO d1c_ev (w, i, note) VALUES ($w, $i, 'w$w-$i');"
            echo "UPDATE d1c_acct SET n = n + 1, note = 'w$w' WHERE id = $(((i * 7 + w * 13) % 50));"
            if ((i % 10 == 5)); then
                echo "DELETE FROM d1c_acct WHERE id = $(((i + w) % 50));"
                echo "INSERT INTO d1c_acct VALUES ($(((i + w) % 50)), $i, 'again') ON CONFLICT (id) DO NOTHING;"
            fi
            echo "COMMIT;"
            if ((i % every == 0)); then echo "SELECT pg_sleep(0.01);"; fi
        done
    } | psql -X -q -At -v ON_ERROR_STOP=0 >/dev/null 2>&1   # a deadlock aborts one transaction only
}

compare() {   # compare LABEL
    d1_same "acct_$1" "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM d1c_acct" \
        "SELECT id || '|' || n || '|' || coalesce(note, '~') FROM d1c_acct"
    d1_same "ev_$1" "SELECT id || '|' || w || '|' || i || '|' || note FROM d1c_ev" \
        "SELECT id || '|' || w || '|' || i || '|' || note FROM d1c_ev"
    local dups
    dups=$(d1_q "SELECT count(*) FROM d1c_dup")
    [ "$dups" = 0 ] && pass "[$D1_BACKEND] $1: no insert applied twice" ||
        fail "[$D1_BACKEND] $1: $dups inserts applied twice: $(d1_q "SELECT group_concat(id) FROM d1c_dup")"
}

for backend in $D1_BACKENDS; do
    d1_use "$backend"
    dir="$WORK/$backend"
    setup_tables
    d1_reset_slot d1c_acct d1c_ev
    d1_config "$dir" d1c_acct d1c_ev
    run_w2e "init_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "init_$backend" 0
    d1_exec "CREATE TABLE d1c_dup (id INTEGER); CREATE TRIGGER d1c_ev_dup AFTER UPDATE ON d1c_ev BEGIN INSERT INTO d1c_dup VALUES (new.id); END;"

    # 1. run streams while three writers go
    start=$(date +%s.%N)
    "$WAL2EDGE_BIN" --config "$dir/w.jsonc" run 2>"$WORK/stream_$backend.err" &
    run_pid=$!
    writer 1 "$TXNS" & w1=$!
    writer 2 "$TXNS" & w2=$!
    writer 3 "$TXNS" & w3=$!
    wait $w1 $w2 $w3
    sleep 1
    kill -TERM $run_pid
    if wait $run_pid; then pass "[$backend] streaming run stops cleanly on SIGTERM"; else
        fail "[$backend] streaming run failed"; tail -5 "$WORK/stream_$backend.err" >&2; fi
    run_w2e "catchup1_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "catchup1_$backend" 0
    compare streaming
    echo "# [$backend] streaming phase: $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}") s"

    # 2. SIGKILL at random moments, ten times, while the writers go on
    start=$(date +%s.%N)
    writer 4 $((TXNS * 2)) 2 & w1=$!   # slower: they write during most of the kills
    writer 5 $((TXNS * 2)) 2 & w2=$!
    d1_kill_runs "$dir/w.jsonc" 10 "$WORK/kill_$backend.err"
    writing=$(jobs -rp | grep -cE "^($w1|$w2)$" || true)
    wait $w1 $w2
    echo "# [$backend] $(grep -c 'streaming from slot' "$WORK/kill_$backend.err") of 10 killed runs were streaming; writers still busy after the kills: $writing"
    run_w2e "catchup2_$backend" --config "$dir/w.jsonc" run --exit-when-caught-up
    expect_rc "catchup2_$backend" 0
    compare killed
    applied=$(d1_q "SELECT count(*) FROM d1c_ev")
    echo "# [$backend] kill phase: $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}") s, $applied events"
    ck=$(d1_q "SELECT commit_lsn FROM _wal2edge_state WHERE slot = '$TEST_SLOT'")
    flushed=$(psql_q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'")
    [ "$(psql_q -c "SELECT '$ck'::pg_lsn <= '$flushed'::pg_lsn")" = t ] &&
        pass "[$backend] D1 checkpoint $ck is within the slot's confirmed position $flushed" ||
        fail "[$backend] D1 checkpoint $ck is past the slot's confirmed position $flushed"
    d1_drop_slot
done
psql_q -c "DROP TABLE IF EXISTS d1c_acct, d1c_ev CASCADE" >/dev/null
finish
