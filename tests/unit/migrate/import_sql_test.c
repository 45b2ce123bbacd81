/* Unit tests for migrate/import_sql: SQL literals, multi-row INSERTs under the statement cap,
 * no transaction statements, and the generated text run through SQLite gives back every value. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/import_sql.h"
#include "state/sqlite.h"

#define S(x) ((char *)(x)) /* string literals in the fixtures' char * fields */
static D1Column cols[] = {
    {.d1_name = S("id")}, {.d1_name = S("na\"me")}, {.d1_name = S("data")}, {.d1_name = S("r")},
};
static D1Table table = {.name = S("my table"), .cols = cols, .col_count = 4};

static D1Value text(const char *s) { return (D1Value){.kind = D1V_TEXT, .data = (char *)s, .len = strlen(s)}; }

static char *lit(const D1Value *v)
{
    Buf b;
    buf_init(&b, 1 << 20);
    Err err;
    cr_assert(import_sql_literal(&b, v, &err), "%s", err.msg);
    char *s = buf_take(&b);
    buf_free(&b);
    return s;
}

Test(import_sql, literals)
{
    D1Value vs[] = {
        {.kind = D1V_NULL},
        {.kind = D1V_INTEGER, .data = S("-9223372036854775808"), .len = 20},
        {.kind = D1V_REAL, .data = S("0.1"), .len = 3, .r = 0.1},
        text("it's ''quoted''; -- not a comment\n"),
        text(""),
        {.kind = D1V_BLOB, .data = S("\x00\xff\x0a"), .len = 3},
        {.kind = D1V_BLOB, .data = S(""), .len = 0},
    };
    const char *want[] = {"NULL", "'-9223372036854775808'", "'0.1'", "'it''s ''''quoted''''; -- not a comment\n'",
                          "''", "X'00FF0A'", "X''"};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char *s = lit(&vs[i]);
        cr_assert_str_eq(s, want[i]);
        free(s);
    }
}

static void row_of(D1Value v[4], long i, char *buf, size_t cap)
{
    snprintf(buf, cap, "row %ld: 'x' \"y\" ;", i);
    v[0] = (D1Value){.kind = D1V_INTEGER, .data = buf + cap - 32, .len = 0};
    v[0].len = (size_t)snprintf(v[0].data, 32, "%ld", i);
    v[1] = text(buf);
    v[2] = (i % 3 == 0) ? (D1Value){.kind = D1V_NULL} : (D1Value){.kind = D1V_BLOB, .data = S("\x01\x02"), .len = 2};
    v[3] = (D1Value){.kind = D1V_REAL, .data = S("2.5"), .len = 3, .r = 2.5};
}

/* Statements (split at ";\n") of out. */
static size_t statements(const char *sql, size_t max, size_t *rows)
{
    size_t n = 0;
    *rows = 0;
    const char *p = sql;
    while (*p) {
        const char *e = strstr(p, ";\n");
        cr_assert_not_null(e, "statement not terminated: %s", p);
        size_t len = (size_t)(e - p) + 1;
        cr_assert_leq(len, max, "statement %zu has %zu bytes, over %zu", n, len, max);
        static const char head[] = "INSERT INTO \"my table\" (\"id\", \"na\"\"me\", \"data\", \"r\") VALUES\n";
        cr_assert_eq(strncmp(p, head, sizeof head - 1), 0, "statement %zu: %.80s", n, p);
        for (const char *q = p; q < e; q++)
            if (*q == '(' && q[1] == '\'')
                (*rows)++;
        n++;
        p = e + 2;
    }
    return n;
}

/* n rows of row_of added to w, the last statement terminated */
static void fill(ImportSql *w, long n)
{
    char buf[128];
    D1Value v[4];
    Err err;
    for (long i = 0; i < n; i++) {
        row_of(v, i, buf, sizeof buf);
        cr_assert(import_sql_add_row(w, v, 4, &err), "%s", err.msg);
    }
    cr_assert(import_sql_end(w, &err));
}

Test(import_sql, rows_split_under_the_cap)
{
    ImportSql w;
    Err err;
    cr_assert(import_sql_init(&w, &table, 400, &err));
    fill(&w, 100);
    cr_assert(import_sql_end(&w, &err)); /* idempotent */
    size_t rows = 0;
    size_t n = statements(w.out.data, 400, &rows);
    cr_assert_eq(rows, 100);
    cr_assert_eq(w.rows, 100);
    cr_assert_eq(n, w.stmts);
    cr_assert_gt(n, 10, "several rows per statement, several statements: %zu", n);
    cr_assert_null(strstr(w.out.data, "BEGIN"));
    cr_assert_null(strstr(w.out.data, "COMMIT"));
    import_sql_reset(&w);
    cr_assert_eq(w.out.len, 0);
    cr_assert_eq(w.rows, 0);
    import_sql_free(&w);
}

Test(import_sql, default_cap_is_under_d1s_statement_limit)
{
    ImportSql w;
    Err err;
    cr_assert(import_sql_init(&w, &table, 0, &err));
    cr_assert_eq(w.max_stmt, IMPORT_SQL_MAX_STMT_BYTES);
    cr_assert_lt(IMPORT_SQL_MAX_STMT_BYTES, D1_MAX_SQL_BYTES);
    fill(&w, 5000);
    size_t rows = 0;
    statements(w.out.data, D1_MAX_SQL_BYTES - 1, &rows);
    cr_assert_eq(rows, 5000);
    import_sql_free(&w);
}

Test(import_sql, a_row_too_large_for_a_statement_is_refused_alone)
{
    ImportSql w;
    Err err;
    cr_assert(import_sql_init(&w, &table, 300, &err));
    char buf[128];
    D1Value v[4];
    row_of(v, 1, buf, sizeof buf);
    cr_assert(import_sql_add_row(&w, v, 4, &err));
    size_t before = w.out.len;
    char big[400];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    D1Value bv[4] = {v[0], text(big), v[2], v[3]};
    cr_assert_not(import_sql_add_row(&w, bv, 4, &err));
    cr_assert_eq(err.code, ERR_TOO_LARGE);
    cr_assert_eq(w.out.len, before, "nothing appended");
    cr_assert_eq(w.rows, 1);
    row_of(v, 2, buf, sizeof buf);
    cr_assert(import_sql_add_row(&w, v, 4, &err), "still usable: %s", err.msg);
    cr_assert_eq(w.rows, 2);
    import_sql_free(&w);
}

/* The text runs in SQLite (what D1 is) and gives back exactly the values, by the column's affinity. */
Test(import_sql, sqlite_reads_back_the_values)
{
    char path[] = "/tmp/w2e_import_sql_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    Err err;
    Sqlite *db = sqlite_open(path, true, &err);
    cr_assert_not_null(db, "%s", err.msg);
    cr_assert(sqlite_exec(db, "CREATE TABLE \"my table\" (id INTEGER PRIMARY KEY, \"na\"\"me\" TEXT, data BLOB, r REAL)",
                          &err));
    ImportSql w;
    cr_assert(import_sql_init(&w, &table, 500, &err));
    fill(&w, 50);
    cr_assert(sqlite_exec(db, w.out.data, &err), "%s", err.msg);
    SqliteStmt *st = sqlite_prepare(
        db, "SELECT count(*), sum(id), sum(typeof(id) = 'integer'), sum(typeof(r) = 'real' AND r = 2.5), "
            "sum(data = X'0102'), sum(data IS NULL), max(\"na\"\"me\") FROM \"my table\"", &err);
    cr_assert_not_null(st, "%s", err.msg);
    cr_assert_eq(sqlite_step(st, &err), 1);
    cr_assert_eq(sqlite_column_int64(st, 0), 50);
    cr_assert_eq(sqlite_column_int64(st, 1), 49 * 50 / 2);
    cr_assert_eq(sqlite_column_int64(st, 2), 50);
    cr_assert_eq(sqlite_column_int64(st, 3), 50);
    cr_assert_eq(sqlite_column_int64(st, 4), 33);
    cr_assert_eq(sqlite_column_int64(st, 5), 17);
    size_t len = 0;
    cr_assert_str_eq(sqlite_column_text(st, 6, &len), "row 9: 'x' \"y\" ;");
    sqlite_finalize(st);
    sqlite_close(db);
    import_sql_free(&w);
    unlink(path);
}
