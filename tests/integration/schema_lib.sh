# tests/integration/schema_lib.sh - helpers for the schema_*_test.sh tests (sourced after lib.sh).

# compare_table TABLE D1FILE WHAT: the embedded D1 table equals the Postgres table value by value,
# over the columns the Postgres table has now (in attnum order).
compare_table() {
    local table=$1 file=$2 what=$3 cols pg d1
    cols=$(psql_q -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                       WHERE attrelid = '$table'::regclass AND attnum > 0 AND NOT attisdropped")
    pg=$(psql_q -F '|' -c "SELECT $cols FROM $table ORDER BY 1")
    d1=$(sqlite3 -batch -noheader -separator '|' "$file" "SELECT $cols FROM $table ORDER BY 1" 2>&1) || true
    if [ "$pg" = "$d1" ] && [ -n "$pg" ]; then pass "$what: D1 equals Postgres ($(wc -l <<<"$pg") rows, columns $cols)"; else
        fail "$what: D1 differs from Postgres"; diff <(echo "$pg") <(echo "$d1") | head -10 >&2 || true; fi
}

# A writer that keeps inserting and updating rows of TABLE (id, email; ids 1-50 there) while run
# streams. It updates ids 11-50 only: the tests' own schema-change transactions update ids 1-10
# before their ALTER TABLE, and a writer waiting on one of those rows while holding its own lock on
# the table would deadlock with the ALTER; it holds still while $WORK/pause exists (and says so with $WORK/paused), so D1 can be
# compared with a still table. Stopped by $WORK/stop_writer.
writer() {   # writer TABLE
    local i=1000
    while [ -d "$WORK" ] && [ ! -e "$WORK/stop_writer" ]; do   # (gone: the test ended)
        if [ -e "$WORK/pause" ]; then touch "$WORK/paused"; sleep 0.1; continue; fi
        rm -f "$WORK/paused"
        psql_q -c "INSERT INTO $1 (id, email) VALUES ($i, 'w$i@x') ON CONFLICT DO NOTHING;
                   UPDATE $1 SET email = email || '.' WHERE id = $((i % 40 + 11))" >/dev/null 2>&1 || true
        i=$((i + 1))
    done
}
pause_writer() {
    # a "paused" left from the last pause is stale: the writer, resumed, may be about to remove it
    # and write once more
    rm -f "$WORK/paused"
    touch "$WORK/pause"
    local _
    for _ in $(seq 1 300); do [ -e "$WORK/paused" ] && return 0; sleep 0.1; done
    fail "the writer did not pause within 30 s"
}
resume_writer() { rm -f "$WORK/pause"; }
