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
