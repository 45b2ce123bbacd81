/* Unit tests for d1/sql: statements for inserts, updates (TOAST, key changes), deletes, truncate, limits. */
#include "d1_test_util.h"

#include "d1/ddl.h"
#include "d1/sql.h"

typedef struct Fx {
    Config *cfg;
    MappingSet *maps;
    D1Schema *schema;
    const D1Table *t;
    Rel *rel;
} Fx;

static Fx fx;

static void setup(void)
{
    fx.cfg = test_config("state");
    const char *texts[] = {users_mapping};
    fx.maps = test_maps(fx.cfg, texts, 1);
    fx.schema = d1_schema_build(fx.maps, &test_cat, NULL);
    fx.t = d1_schema_table(fx.schema, "public.users");
    cr_assert_not_null(fx.t);
    fx.rel = test_rel(&test_tables[0]);
}

static void teardown(void)
{
    test_rel_free(fx.rel);
    d1_schema_free(fx.schema);
    mapping_set_free(fx.maps);
    config_free(fx.cfg);
    log_redact_clear();
}

TestSuite(d1_sql, .init = setup, .fini = teardown);

/* Rel columns: id, email, name, password_hash, avatar, score, tags (total is generated). */
#define NCOLS 7

static void run(ChangeOp op, const char *const *newv, const char *const *oldv, uint8_t old_kind,
                D1StmtList *out)
{
    PgoCol nc[NCOLS], oc[NCOLS];
    PgoTuple nt, ot;
    Change c = {.op = op, .rel = fx.rel};
    if (newv) {
        nt = test_tuple(nc, newv, NCOLS);
        c.new_tuple = &nt;
    }
    if (oldv) {
        ot = test_tuple(oc, oldv, NCOLS);
        c.old_tuple = &ot;
        c.old_kind = old_kind;
    }
    D1SqlLimits lim = d1_sql_default_limits();
    Err err;
    cr_assert(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, out, &err), "%s", err.msg);
}

static void expect_params(const D1Stmt *st, const char *const *want, size_t n)
{
    cr_assert_eq(st->param_count, n, "%zu params", st->param_count);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(st->params[i].data, want[i], "param %zu", i + 1);
}

Test(d1_sql, insert_is_an_upsert)
{
    const char *row[NCOLS] = {"42", "ada@example.com", "Ada", "secret", "\\x0102", "0.5", "{a,\"b c\"}"};
    D1StmtList l = {0};
    run(CHANGE_INSERT, row, NULL, 0, &l);
    cr_assert_eq(l.count, 1);
    cr_expect_str_eq(l.items[0].sql,
                     "INSERT INTO \"users\" (\"id\", \"email\", \"full_name\", \"avatar\", \"score\", \"tags\") "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (\"id\") DO UPDATE SET \"email\" = "
                     "excluded.\"email\", \"full_name\" = excluded.\"full_name\", \"avatar\" = "
                     "excluded.\"avatar\", \"score\" = excluded.\"score\", \"tags\" = excluded.\"tags\"");
    cr_expect_eq(l.items[0].params[0].kind, D1V_INTEGER);
    cr_expect_eq(l.items[0].params[3].kind, D1V_BLOB);
    cr_expect_eq(l.items[0].params[3].len, 2);
    cr_expect_str_eq(l.items[0].params[5].data, "[\"a\",\"b c\"]");
    d1_stmt_list_clear(&l);
    /* NULLs are literals, not parameters */
    const char *row2[NCOLS] = {"43", "b@example.com", NULL, "x", NULL, NULL, NULL};
    run(CHANGE_INSERT, row2, NULL, 0, &l);
    cr_expect(strstr(l.items[0].sql, "VALUES (?1, ?2, NULL, NULL, NULL, NULL)") != NULL, "%s", l.items[0].sql);
    const char *want[] = {"43", "b@example.com"};
    expect_params(&l.items[0], want, 2);
    d1_stmt_list_clear(&l);
}

Test(d1_sql, update_with_unchanged_toast_touches_only_present_columns)
{
    const char *row[NCOLS] = {"42", "new@example.com", TOAST, "x", TOAST, "1.5", TOAST};
    D1StmtList l = {0};
    run(CHANGE_UPDATE, row, NULL, 0, &l);
    cr_assert_eq(l.count, 1);
    cr_expect_str_eq(l.items[0].sql,
                     "UPDATE \"users\" SET \"email\" = ?1, \"score\" = ?2 WHERE \"id\" = ?3");
    const char *want[] = {"new@example.com", "1.5", "42"};
    expect_params(&l.items[0], want, 3);
    d1_stmt_list_clear(&l);
    /* every mapped column present: an idempotent upsert */
    const char *full[NCOLS] = {"42", "e", "n", TOAST, NULL, NULL, NULL};
    run(CHANGE_UPDATE, full, NULL, 0, &l);
    cr_expect(strncmp(l.items[0].sql, "INSERT INTO", 11) == 0, "%s", l.items[0].sql);
    d1_stmt_list_clear(&l);
}

Test(d1_sql, key_change_is_delete_then_insert)
{
    const char *oldk[NCOLS] = {"42", NULL, NULL, NULL, NULL, NULL, NULL};
    const char *row[NCOLS] = {"43", "e", "n", "x", NULL, NULL, NULL};
    D1StmtList l = {0};
    run(CHANGE_UPDATE, row, oldk, 'K', &l);
    cr_assert_eq(l.count, 2);
    cr_expect_str_eq(l.items[0].sql, "DELETE FROM \"users\" WHERE \"id\" = ?1");
    cr_expect_str_eq(l.items[0].params[0].data, "42");
    cr_expect(strncmp(l.items[1].sql, "INSERT INTO \"users\"", 19) == 0);
    cr_expect_str_eq(l.items[1].params[0].data, "43");
    d1_stmt_list_clear(&l);
    /* key change with unchanged TOAST: an UPDATE that keeps the untouched columns */
    const char *toasted[NCOLS] = {"44", "e", TOAST, "x", NULL, NULL, NULL};
    run(CHANGE_UPDATE, toasted, oldk, 'K', &l);
    cr_assert_eq(l.count, 1);
    cr_expect_str_eq(l.items[0].sql, "UPDATE \"users\" SET \"id\" = ?1, \"email\" = ?2, \"avatar\" = "
                                     "NULL, \"score\" = NULL, \"tags\" = NULL WHERE \"id\" = ?3");
    d1_stmt_list_clear(&l);
    /* old key equal to the new one: a plain upsert */
    const char *same[NCOLS] = {"42", "e", "n", "x", NULL, NULL, NULL};
    run(CHANGE_UPDATE, same, oldk, 'K', &l);
    cr_assert_eq(l.count, 1);
    d1_stmt_list_clear(&l);
}

Test(d1_sql, delete_by_key_and_truncate)
{
    const char *oldk[NCOLS] = {"42", NULL, NULL, NULL, NULL, NULL, NULL};
    D1StmtList l = {0};
    run(CHANGE_DELETE, NULL, oldk, 'K', &l);
    cr_assert_eq(l.count, 1);
    cr_expect_str_eq(l.items[0].sql, "DELETE FROM \"users\" WHERE \"id\" = ?1");
    Err err;
    cr_assert(d1_sql_truncate(fx.t, &l, &err));
    cr_expect_str_eq(l.items[1].sql, "DELETE FROM \"users\"");
    d1_stmt_list_clear(&l);
    /* no old key: a clear error */
    Change c = {.op = CHANGE_DELETE, .rel = fx.rel};
    D1SqlLimits lim = d1_sql_default_limits();
    cr_assert_not(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err));
    cr_expect_str_eq(err.msg, "cannot delete from public.users at LSN 0/16B3748: the change carries no "
                              "old key (check the table's replica identity)");
}

Test(d1_sql, bad_value_names_table_column_lsn)
{
    const char *row[NCOLS] = {"4x2", "e", "n", "x", NULL, NULL, NULL};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, row, NCOLS);
    Change c = {.op = CHANGE_INSERT, .rel = fx.rel, .new_tuple = &nt};
    D1SqlLimits lim = d1_sql_default_limits();
    D1StmtList l = {0};
    Err err;
    cr_assert_not(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err));
    cr_expect_str_eq(err.msg, "public.users column \"id\" at LSN 0/16B3748: invalid bigint value \"4x2\"");
}

Test(d1_sql, limits_name_table_column_and_lsn)
{
    static char big[3000];
    memset(big, 'a', sizeof big - 1);
    const char *row[NCOLS] = {"1", big, "n", "x", NULL, NULL, NULL};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, row, NCOLS);
    Change c = {.op = CHANGE_INSERT, .rel = fx.rel, .new_tuple = &nt};
    D1SqlLimits lim = d1_sql_default_limits();
    lim.max_row_bytes = 2000;
    D1StmtList l = {0};
    Err err;
    cr_assert_not(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err));
    cr_expect_eq(err.code, ERR_TOO_LARGE);
    cr_expect_str_eq(err.msg, "a row of public.users (D1 table \"users\") at LSN 0/16B3748 is 3001 bytes, "
                              "over D1's 2000-byte row limit; largest column \"email\" is 2999 bytes");
    /* inline BLOBs count toward the statement size */
    static char blob[2 + 2 * 60000 + 1];
    blob[0] = '\\';
    blob[1] = 'x';
    memset(blob + 2, 'f', 2 * 60000);
    const char *row2[NCOLS] = {"1", "e", "n", "x", blob, NULL, NULL};
    nt = test_tuple(nc, row2, NCOLS);
    lim = d1_sql_default_limits();
    lim.inline_blobs = true;
    cr_assert_not(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err));
    cr_expect(strstr(err.msg, "does not fit one D1 statement") && strstr(err.msg, "largest column \"avatar\""),
              "%s", err.msg);
    lim.inline_blobs = false;
    cr_assert(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err), "%s", err.msg);
    d1_stmt_list_clear(&l);
    /* inline small blob */
    const char *row3[NCOLS] = {"1", "e", "n", "x", "\\x0aff", NULL, NULL};
    nt = test_tuple(nc, row3, NCOLS);
    lim.inline_blobs = true;
    cr_assert(d1_sql_for_change(fx.t, &c, 0x16B3748, &lim, &l, &err), "%s", err.msg);
    cr_expect(strstr(l.items[0].sql, "?3, X'0AFF', NULL") != NULL, "%s", l.items[0].sql);
    d1_stmt_list_clear(&l);
}

Test(d1_sql, multi_row_upserts_split_at_100_params)
{
    enum { ROWS = 40 };
    D1Value vals[ROWS][6];
    const D1Value *rows[ROWS];
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < 6; c++) {
            vals[r][c] = (D1Value){D1V_TEXT, strdup("v"), 1, 0, 0};
        }
        rows[r] = vals[r];
    }
    D1SqlLimits lim = d1_sql_default_limits();
    D1StmtList l = {0};
    Err err;
    cr_assert(d1_sql_upsert_rows(fx.t, rows, ROWS, 0, &lim, &l, &err), "%s", err.msg);
    cr_expect_eq(l.count, 3); /* 16 + 16 + 8 rows of 6 params */
    cr_expect_eq(l.items[0].param_count, 96);
    cr_expect_eq(l.items[2].param_count, 48);
    cr_expect(strstr(l.items[0].sql, "(?91, ?92, ?93, ?94, ?95, ?96) ON CONFLICT (\"id\")") != NULL);
    for (size_t i = 0; i < l.count; i++)
        cr_expect_leq(strlen(l.items[i].sql), D1_MAX_SQL_BYTES);
    d1_stmt_list_clear(&l);
    /* a tight SQL budget splits by size too */
    lim.max_sql_bytes = 400;
    cr_assert(d1_sql_upsert_rows(fx.t, rows, ROWS, 0, &lim, &l, &err), "%s", err.msg);
    cr_expect_gt(l.count, 3);
    for (size_t i = 0; i < l.count; i++)
        cr_expect_leq(strlen(l.items[i].sql), 400);
    d1_stmt_list_clear(&l);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 6; c++)
            d1_value_clear(&vals[r][c]);
}

Test(d1_sql, checkpoint)
{
    D1StmtList l = {0};
    Err err;
    cr_assert(d1_sql_checkpoint("wal2edge", 0x16B3748, 0x16B3780, 1793613600500000, &l, &err));
    cr_assert_eq(l.count, 1);
    cr_expect(strstr(l.items[0].sql, "INSERT INTO \"_wal2edge_state\"") == l.items[0].sql);
    const char *want[] = {"wal2edge", "0/16B3748", "0/16B3780", "2026-11-02T10:00:00.500000Z",
                          "00000000016B3780"};
    expect_params(&l.items[0], want, 5);
    cr_expect(strstr(l.items[0].sql, "\"position\" = excluded.\"position\"") != NULL);
    d1_stmt_list_clear(&l);
    cr_expect(strstr(d1_sql_checkpoint_query(), "WHERE \"slot\" = ?1") != NULL);
}

/* A table of more columns than d1/sql converts on the stack: the same statements from the heap. */
Test(d1_sql, wide_table_rows)
{
    enum { WIDE = 40 };
    CatColumn cols[WIDE];
    char names[WIDE][8];
    for (int i = 0; i < WIDE; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cols[i] = (CatColumn){names[i], (int16_t)(i + 1), 23, -1, "integer", i == 0, false};
    }
    const size_t pk[] = {0};
    const CatIndex ix[] = {{"wide_pkey", true, true, false, false, false, pk, 1}};
    const CatTable tabs[] = {{"public.wide", "public", "wide", true, 16500, 'r', 'd', true, cols, WIDE, ix, 1}};
    const CatalogInfo cat = {150000, true, "wal2edge", tabs, 1, NULL, 0, NULL, 0};
    const char *texts[] = {"{ \"table\": \"public.wide\", \"d1\": { \"database\": \"app\" } }"};
    MappingSet *maps = test_maps(fx.cfg, texts, 1);
    D1Schema *schema = d1_schema_build(maps, &cat, NULL);
    const D1Table *t = d1_schema_table(schema, "public.wide");
    cr_assert_not_null(t);
    Rel *rel = test_rel(&tabs[0]);
    char vals[WIDE][8];
    const char *row[WIDE], *old[WIDE];
    for (int i = 0; i < WIDE; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", 100 + i);
        row[i] = vals[i];
        old[i] = i == 0 ? "99" : NULL;
    }
    D1SqlLimits lim = d1_sql_default_limits();
    Err err;
    D1StmtList l = {0};
    PgoCol nc[WIDE], oc[WIDE];
    PgoTuple nt = test_tuple(nc, row, WIDE), ot = test_tuple(oc, old, WIDE);
    Change c = {.op = CHANGE_INSERT, .rel = rel, .new_tuple = &nt};
    cr_assert(d1_sql_for_change(t, &c, 0x16B3748, &lim, &l, &err), "%s", err.msg);
    cr_assert_eq(l.count, 1);
    cr_assert_eq(l.items[0].param_count, WIDE);
    cr_expect_eq(l.items[0].params[39].i, 139);
    d1_stmt_list_clear(&l);
    /* a key change: DELETE of the old key, then the upsert */
    c = (Change){.op = CHANGE_UPDATE, .rel = rel, .new_tuple = &nt, .old_tuple = &ot, .old_kind = 'K'};
    cr_assert(d1_sql_for_change(t, &c, 0x16B3748, &lim, &l, &err), "%s", err.msg);
    cr_assert_eq(l.count, 2);
    cr_expect(strncmp(l.items[0].sql, "DELETE FROM \"wide\"", 18) == 0, "%s", l.items[0].sql);
    cr_expect_eq(l.items[0].params[0].i, 99);
    cr_expect_eq(l.items[1].param_count, WIDE);
    d1_stmt_list_clear(&l);
    test_rel_free(rel);
    d1_schema_free(schema);
    mapping_set_free(maps);
}
