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
