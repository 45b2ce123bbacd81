/*
 * Unit tests for pipeline/resync (the watermark window, the high watermark as a Relation and
 * tuples) and d1/resync (the chunk's upsert less the recorded rows, the range delete).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "d1/resync.h"
#include "mapping/shard.h"
#include "state/sqlite.h"

/* items(id bigint key, v text) from public.items */
static D1Table items(void)
{
    D1Table t = {0};
    t.database = xstrdup("app");
    t.name = xstrdup("items");
    t.source = xstrdup("public.items");
    t.col_count = 2;
    t.cols = xcalloc(2, sizeof *t.cols);
    Err err;
    t.cols[0] = (D1Column){xstrdup("id"), xstrdup("id"), d1_type_resolve(NULL, 20, NULL, &err), xstrdup("bigint"), -1,
                           true, true};
    t.cols[1] = (D1Column){xstrdup("v"), xstrdup("v"), d1_type_resolve(NULL, 25, NULL, &err), xstrdup("text"), -1,
                           false, false};
    t.key_count = 1;
    t.key = xcalloc(1, sizeof *t.key);
    return t;
}

static Change message(const char *json)
{
    Change c = {.op = CHANGE_MESSAGE, .message_transactional = true};
    c.message_prefix = (PgoStr){RESYNC_PREFIX, strlen(RESYNC_PREFIX)};
    c.message_content = (const uint8_t *)json;
    c.message_len = (uint32_t)strlen(json);
    return c;
}

static bool wants_items(const char *table, void *ctx)
{
    (void)ctx;
    return strcmp(table, "public.items") == 0;
}

Test(resync, chunk_less_the_rows_the_stream_changed)
{
    D1Table t = items();
    ResyncWindow w = {0};
    ResyncStep step;
    ResyncMsg *m = NULL;
    Err err;
    Change low = message("{\"phase\":\"low\",\"run\":\"r1\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null}");
    cr_assert(resync_step(&w, &low, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_OPENED);

    /* the stream updates id 2 between the watermarks */
    char id_name[] = "id", v_name[] = "v", nsp[] = "public", rel_name[] = "items", qual[] = "public.items";
    RelCol rc[] = {{id_name, 20, -1, true}, {v_name, 25, -1, false}};
    Rel rel = {.oid = 1, .nspname = nsp, .relname = rel_name, .qualname = qual, .ncols = 2, .cols = rc};
    PgoCol cols[] = {{PGO_COL_TEXT, 1, (const uint8_t *)"2"}, {PGO_COL_TEXT, 3, (const uint8_t *)"new"}};
    PgoTuple tup = {2, cols};
    Change upd = {.op = CHANGE_UPDATE, .rel = &rel, .new_tuple = &tup};
    resync_record(&w, "id", &upd);
    cr_assert(resync_recorded(&w, "2"));

    Change high = message("{\"phase\":\"high\",\"run\":\"r1\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null,"
                          "\"from\":null,\"to\":\"3\",\"last\":false,\"columns\":[\"id\",\"v\"],"
                          "\"rows\":[[\"1\",\"a\"],[\"2\",\"old\"],[\"3\",null]]}");
    cr_assert(resync_step(&w, &high, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_HIGH);
    cr_assert_not(w.open, "the window closes at the high watermark");
    cr_assert_eq(resync_msg_row_count(m), 3);
    cr_assert_eq(resync_msg_rel(m)->ncols, 2);
    cr_assert_eq(resync_msg_row(m, 2)->cols[1].kind, PGO_COL_NULL);
    cr_assert_str_eq(resync_msg_value(m, 1, "v"), "old");

    D1SqlLimits lim = d1_sql_default_limits();
    D1StmtList l = {0};
    long rows;
    cr_assert(d1_resync_chunk(&w, m, &t, 0, &lim, &l, &rows, &err), "%s", err.msg);
    cr_assert_eq(rows, 2, "id 2 is the stream's");
    cr_assert_eq(l.count, 2);
    cr_assert_not_null(strstr(l.items[0].sql, "), ("), "two rows: %s", l.items[0].sql);
    for (size_t i = 0; i < l.items[0].param_count; i++)
        cr_assert(!l.items[0].params[i].data || strcmp(l.items[0].params[i].data, "old") != 0,
                  "not the chunk's stale row of id 2");
    cr_assert_str_eq(l.items[1].sql, "DELETE FROM \"items\" WHERE \"id\" NOT IN (SELECT value FROM json_each(?1)) "
                                     "AND \"id\" <= ?2");
    cr_assert_str_eq(l.items[1].params[0].data, "[2,1,2,3]", "the recorded key and the chunk's keys are kept");
    cr_assert_eq(l.items[1].params[1].i, 3);
    d1_stmt_list_clear(&l);
    resync_msg_free(m);

    /* a high watermark without its low one (a restart between them) is left out */
    cr_assert(resync_step(&w, &high, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_SKIPPED);
    cr_assert_null(m);
    /* another target's resync is not ours */
    Change other = message("{\"phase\":\"low\",\"run\":\"r2\",\"table\":\"public.items\",\"chunk\":1,"
                           "\"targets\":[\"d1.other\"]}");
    cr_assert(resync_step(&w, &other, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_NONE);
    Change bad = message("{\"phase\":\"low\"}");
    cr_assert_not(resync_step(&w, &bad, "d1.app", wants_items, NULL, &step, &m, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    Change short_row = message("{\"phase\":\"low\",\"run\":\"r3\",\"table\":\"public.items\",\"chunk\":1}");
    cr_assert(resync_step(&w, &short_row, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    Change broken = message("{\"phase\":\"high\",\"run\":\"r3\",\"table\":\"public.items\",\"chunk\":1,"
                            "\"columns\":[\"id\",\"v\"],\"rows\":[[\"1\"]]}");
    cr_assert_not(resync_step(&w, &broken, "d1.app", wants_items, NULL, &step, &m, &err));
    cr_assert_not_null(strstr(err.msg, "row 0 does not have 2 values"), "%s", err.msg);
    resync_window_clear(&w);
    d1_table_clear(&t);
}

/*
 * A killed copy's last chunk can commit after the copy resumed and sent that chunk's low
 * watermark again (the server ends a dead client's statement only once it finishes): its rows
 * were read before changes only the first window saw. Seen in the 1,000,000-row kill test as
 * low A, low B, high A, high B: high A closed B's window (stale rows), high B was "left out".
 */
Test(resync, a_high_watermark_of_another_attempt_at_the_chunk_is_ignored)
{
    D1Table t = items();
    ResyncWindow w = {0};
    ResyncStep step;
    ResyncMsg *m = NULL;
    Err err;
#define HDR(phase, attempt) "{\"phase\":\"" phase "\",\"run\":\"r1\",\"attempt\":\"" attempt "\",\"table\":\"public.items\",\"chunk\":7"
#define ROWS ",\"from\":null,\"to\":\"1\",\"last\":false,\"columns\":[\"id\",\"v\"],\"rows\":[[\"1\",\"a\"]]}"
    Change low_a = message(HDR("low", "A") "}"), low_b = message(HDR("low", "B") "}");
    Change high_a = message(HDR("high", "A") ROWS), high_b = message(HDR("high", "B") ROWS);
    Change high_old = message("{\"phase\":\"high\",\"run\":\"r1\",\"table\":\"public.items\",\"chunk\":7" ROWS);
    cr_assert(resync_step(&w, &low_a, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert(resync_step(&w, &low_b, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_OPENED);
    cr_assert(resync_step(&w, &high_a, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_SUPERSEDED, "attempt A's rows are not applied in attempt B's window");
    cr_assert_null(m);
    cr_assert(w.open, "the window waits for its own high watermark");
    cr_assert_null(w.skipped_table, "nothing was left out");
    cr_assert(resync_step(&w, &high_b, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_HIGH);
    resync_msg_free(m);
    m = NULL;
    /* the other order: attempt A's high watermark after B's closed the window */
    cr_assert(resync_step(&w, &high_a, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_SUPERSEDED, "not a chunk left out: B sent it");
    cr_assert_null(w.skipped_table);
    /* messages without an attempt (before it existed, or made by hand) match by run and chunk alone */
    cr_assert(resync_step(&w, &low_b, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert(resync_step(&w, &high_old, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_HIGH);
    resync_msg_free(m);
#undef HDR
#undef ROWS
    resync_window_clear(&w);
    d1_table_clear(&t);
}

Test(resync, a_sharded_table_takes_its_own_rows_of_a_chunk)
{
    for (size_t s = 0; s < 2; s++) {
        D1Table t = items();
        t.shard = s; /* sharded by id over two databases (d1/shard) */
        t.shard_count = 2;
        t.shard_cols = xcalloc(1, sizeof *t.shard_cols);
        t.shard_col_count = 1;
        ResyncWindow w = {0};
        ResyncStep step;
        ResyncMsg *m = NULL;
        Err err;
        Change low = message("{\"phase\":\"low\",\"run\":\"r1\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null}");
        cr_assert(resync_step(&w, &low, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
        Change high = message("{\"phase\":\"high\",\"run\":\"r1\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null,"
                              "\"from\":null,\"to\":\"6\",\"last\":false,\"columns\":[\"id\",\"v\"],"
                              "\"rows\":[[\"1\",\"a\"],[\"2\",\"b\"],[\"3\",\"c\"],[\"4\",\"d\"],[\"5\",\"e\"],[\"6\",\"f\"]]}");
        cr_assert(resync_step(&w, &high, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
        cr_assert_eq(step, RESYNC_HIGH);
        /* the keys this database keeps: exactly the ids the shard function gives it */
        char want[64] = "[";
        long mine = 0;
        for (int id = 1; id <= 6; id++) {
            char k[4];
            snprintf(k, sizeof k, "%d", id);
            if (shard_for(&(ShardPart){k, 1}, 1, 2) == s) {
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", mine ? "," : "", id);
                mine++;
            }
        }
        strcat(want, "]");
        cr_assert(mine > 0 && mine < 6, "both databases get some of ids 1-6 (%ld)", mine);
        D1SqlLimits lim = d1_sql_default_limits();
        D1StmtList l = {0};
        long rows;
        cr_assert(d1_resync_chunk(&w, m, &t, 0, &lim, &l, &rows, &err), "%s", err.msg);
        cr_assert_eq(rows, mine, "database %zu", s);
        cr_assert_eq(l.count, 2);
        cr_assert_str_eq(l.items[1].params[0].data, want, "the other database's rows are deleted here");
        d1_stmt_list_clear(&l);
        resync_msg_free(m);
        resync_window_clear(&w);
        d1_table_clear(&t);
    }
}

/* acct(tenant text, n bigint, v text) keyed by (tenant, n), from public.acct */
static D1Table acct(void)
{
    D1Table t = {0};
    t.database = xstrdup("app");
    t.name = xstrdup("acct");
    t.source = xstrdup("public.acct");
    t.col_count = 3;
    t.cols = xcalloc(3, sizeof *t.cols);
    Err err;
    t.cols[0] = (D1Column){xstrdup("tenant"), xstrdup("tenant"), d1_type_resolve(NULL, 25, NULL, &err), xstrdup("text"),
                           -1, true, true};
    t.cols[1] = (D1Column){xstrdup("n"), xstrdup("n"), d1_type_resolve(NULL, 20, NULL, &err), xstrdup("bigint"), -1,
                           true, true};
    t.cols[2] = (D1Column){xstrdup("v"), xstrdup("v"), d1_type_resolve(NULL, 25, NULL, &err), xstrdup("text"), -1,
                           false, false};
    t.key_count = 2;
    t.key = xcalloc(2, sizeof *t.key);
    t.key[1] = 1;
    return t;
}

static bool wants_acct(const char *table, void *ctx)
{
    (void)ctx;
    return strcmp(table, "public.acct") == 0;
}

/* Run statement st on db, its parameters bound as D1 would bind them. */
static void run_stmt(Sqlite *db, const D1Stmt *st)
{
    Err err;
    SqliteStmt *s = sqlite_prepare(db, st->sql, &err);
    cr_assert_not_null(s, "%s: %s", st->sql, err.msg);
    for (size_t i = 0; i < st->param_count; i++) {
        const D1Value *v = &st->params[i];
        bool ok = v->kind == D1V_INTEGER ? sqlite_bind_int64(s, (int)i + 1, v->i, &err)
                  : v->kind == D1V_NULL  ? sqlite_bind_null(s, (int)i + 1, &err)
                                         : sqlite_bind_text(s, (int)i + 1, v->data, v->len, &err);
        cr_assert(ok, "%s", err.msg);
    }
    cr_assert(sqlite_run(s, &err), "%s: %s", st->sql, err.msg);
    sqlite_finalize(s);
}

Test(resync, a_composite_text_and_integer_key_orders_as_postgres)
{
    D1Table t = acct();
    ResyncWindow w = {0};
    ResyncStep step;
    ResyncMsg *m = NULL;
    Err err;
    Change low = message("{\"phase\":\"low\",\"run\":\"r1\",\"table\":\"public.acct\",\"chunk\":2,\"targets\":null,"
                         "\"key\":[\"tenant\",\"n\"],\"key_types\":[\"text\",\"integer\"]}");
    cr_assert(resync_step(&w, &low, "d1.app", wants_acct, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_OPENED);
    cr_assert_eq(w.key_col_count, 2);

    /* the stream updates (acme, 2) between the watermarks: recorded by both columns, whatever the target's key */
    char tn[] = "tenant", nn[] = "n", vn[] = "v", nsp[] = "public", rel_name[] = "acct", qual[] = "public.acct";
    RelCol rc[] = {{tn, 25, -1, true}, {nn, 20, -1, true}, {vn, 25, -1, false}};
    Rel rel = {.oid = 1, .nspname = nsp, .relname = rel_name, .qualname = qual, .ncols = 3, .cols = rc};
    PgoCol cols[] = {{PGO_COL_TEXT, 4, (const uint8_t *)"acme"}, {PGO_COL_TEXT, 1, (const uint8_t *)"2"},
                     {PGO_COL_TEXT, 3, (const uint8_t *)"new"}};
    PgoTuple tup = {3, cols};
    Change upd = {.op = CHANGE_UPDATE, .rel = &rel, .new_tuple = &tup};
    resync_record(&w, "tenant", &upd);
    cr_assert(resync_recorded(&w, "[\"acme\",\"2\"]"));
    cr_assert_not(resync_recorded(&w, "acme"));

    /* the chunk in Postgres' order: (acme, 2) < (acme, 10) < (beta, 1) */
    Change high = message("{\"phase\":\"high\",\"run\":\"r1\",\"table\":\"public.acct\",\"chunk\":2,\"targets\":null,"
                          "\"key\":[\"tenant\",\"n\"],\"key_types\":[\"text\",\"integer\"],"
                          "\"from\":[\"acme\",\"1\"],\"to\":[\"beta\",\"1\"],\"last\":false,"
                          "\"columns\":[\"tenant\",\"n\",\"v\"],"
                          "\"rows\":[[\"acme\",\"2\",\"old\"],[\"acme\",\"10\",\"x\"],[\"beta\",\"1\",\"y\"]]}");
    cr_assert(resync_step(&w, &high, "d1.app", wants_acct, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_HIGH);
    cr_assert_eq(resync_msg_key_count(m), 2);
    char *k = resync_msg_row_key(m, 1);
    cr_assert_str_eq(k, "[\"acme\",\"10\"]");
    free(k);
    const char *in[] = {"acme", "10"}, *out9[] = {"acme", "9"};
    cr_assert(resync_msg_has_key(m, in));
    cr_assert_not(resync_msg_has_key(m, out9));

    D1SqlLimits lim = d1_sql_default_limits();
    D1StmtList l = {0};
    long rows;
    cr_assert(d1_resync_chunk(&w, m, &t, 0, &lim, &l, &rows, &err), "%s", err.msg);
    cr_assert_eq(rows, 2, "(acme, 2) is the stream's");
    cr_assert_eq(l.count, 2);
    cr_assert_str_eq(l.items[1].sql,
                     "DELETE FROM \"acct\" WHERE (\"tenant\", \"n\") NOT IN (SELECT json_extract(value, '$[0]'), "
                     "json_extract(value, '$[1]') FROM json_each(?1)) AND (\"tenant\", \"n\") > (?2, ?3) AND "
                     "(\"tenant\", \"n\") <= (?4, ?5)");
    cr_assert_str_eq(l.items[1].params[0].data, "[[\"acme\",2],[\"acme\",2],[\"acme\",10],[\"beta\",1]]");
    cr_assert_eq(l.items[1].params[1].kind, D1V_TEXT);
    cr_assert_eq(l.items[1].params[2].kind, D1V_INTEGER, "an integer column's bound as a number");
    cr_assert_eq(l.items[1].params[2].i, 1);

    /* applied to a D1 (SQLite) table: rows of the range that Postgres does not have go, the others stay */
    Sqlite *db = sqlite_open(":memory:", true, &err);
    cr_assert_not_null(db, "%s", err.msg);
    cr_assert(sqlite_exec(db,
                          "CREATE TABLE acct (tenant TEXT NOT NULL, n INTEGER NOT NULL, v TEXT, PRIMARY KEY (tenant, n));"
                          "INSERT INTO acct VALUES ('B', 5, 'before: upper case'), ('Zeta', 1, 'before'), "
                          "('acme', 1, 'from: not in the range'), ('acme', 2, 'the stream''s'), "
                          "('acme', 3, 'ghost'), ('acme', 9, 'ghost: 9 < 10 as numbers'), ('acme', 11, 'ghost'), "
                          "('acm\xc3\xa9', 1, 'ghost: after acme bytewise'), ('beta', 2, 'after to'), "
                          "('c', 1, 'after')",
                          &err),
              "%s", err.msg);
    for (size_t i = 0; i < l.count; i++)
        run_stmt(db, &l.items[i]);
    SqliteStmt *q = sqlite_prepare(db, "SELECT tenant || ':' || n || ':' || v FROM acct ORDER BY tenant, n", &err);
    cr_assert_not_null(q, "%s", err.msg);
    char got[1024] = "";
    while (sqlite_step(q, &err) == 1) {
        strncat(got, sqlite_column_text(q, 0, NULL), sizeof got - strlen(got) - 2);
        strcat(got, "\n");
    }
    sqlite_finalize(q);
    cr_assert_str_eq(got, "B:5:before: upper case\nZeta:1:before\nacme:1:from: not in the range\nacme:2:the stream's\n"
                          "acme:10:x\nbeta:1:y\nbeta:2:after to\nc:1:after\n");
    sqlite_close(db);
    d1_stmt_list_clear(&l);
    resync_msg_free(m);
    resync_window_clear(&w);
    d1_table_clear(&t);
}

Test(resync, a_uuid_key_compares_as_text)
{
    D1Table t = items();
    d1_type_free(t.cols[0].type);
    t.cols[0].type = d1_type_resolve(NULL, 2950, NULL, &(Err){0});
    ResyncWindow w = {0};
    ResyncStep step;
    ResyncMsg *m = NULL;
    Err err;
    Change low = message("{\"phase\":\"low\",\"run\":\"u\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null,"
                         "\"key\":[\"id\"],\"key_types\":[\"uuid\"]}");
    cr_assert(resync_step(&w, &low, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    Change high = message("{\"phase\":\"high\",\"run\":\"u\",\"table\":\"public.items\",\"chunk\":1,\"targets\":null,"
                          "\"key\":[\"id\"],\"key_types\":[\"uuid\"],\"from\":null,"
                          "\"to\":[\"9a000000-0000-0000-0000-000000000000\"],\"last\":false,\"columns\":[\"id\",\"v\"],"
                          "\"rows\":[[\"10000000-0000-0000-0000-000000000000\",\"a\"],"
                          "[\"9a000000-0000-0000-0000-000000000000\",\"b\"]]}");
    cr_assert(resync_step(&w, &high, "d1.app", wants_items, NULL, &step, &m, &err), "%s", err.msg);
    cr_assert_eq(step, RESYNC_HIGH);
    D1SqlLimits lim = d1_sql_default_limits();
    D1StmtList l = {0};
    long rows;
    cr_assert(d1_resync_chunk(&w, m, &t, 0, &lim, &l, &rows, &err), "%s", err.msg);
    cr_assert_eq(rows, 2);
    cr_assert_str_eq(l.items[1].sql, "DELETE FROM \"items\" WHERE \"id\" NOT IN (SELECT value FROM json_each(?1)) "
                                     "AND \"id\" <= ?2");
    cr_assert_str_eq(l.items[1].params[0].data, "[\"10000000-0000-0000-0000-000000000000\","
                                                "\"9a000000-0000-0000-0000-000000000000\"]");
    cr_assert_eq(l.items[1].params[1].kind, D1V_TEXT, "a uuid is bound as its text");
    d1_stmt_list_clear(&l);
    resync_msg_free(m);
    resync_window_clear(&w);
    d1_table_clear(&t);
}
