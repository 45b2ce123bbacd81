/* Unit tests for pipeline/event: the Debezium-style envelope of every kind of change,
 * key columns, unchanged TOAST (filled from a full old row, else marked and listed),
 * the transaction block with event_count, the claim-check pointer and stable ids. */
#include "../d1/d1_test_util.h"

#include <jansson.h>

#include "pipeline/event.h"

#define NCOLS 7

static Rel *rel;
static EventTable *et;
static Buf out;

static void setup(void)
{
    rel = test_rel(&test_tables[0]);
    const char *exclude[] = {"password_hash"};
    Err err;
    et = event_table_new(&test_cat, &test_tables[0], exclude, 1, &err);
    cr_assert_not_null(et, "%s", err.msg);
    buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    buf_free(&out);
    event_table_free(et);
    test_rel_free(rel);
}

TestSuite(event, .init = setup, .fini = teardown);

static EventMeta meta(uint32_t index, uint64_t order)
{
    return (EventMeta){.db = "shop", .server = "slot1", .xid = 771, .commit_lsn = 0x1A2B3C8,
                       .commit_time_us = 1793613600123456, .index = index, .total_order = order,
                       .table_order = order, .now_ms = 1793613601000};
}

static json_t *parse(void)
{
    json_error_t e;
    json_t *doc = json_loadb(out.data, out.len, 0, &e);
    cr_assert_not_null(doc, "not JSON (%s): %s", e.text, out.data);
    return doc;
}

/* "a" or "a.b": a string member of doc */
static const char *str(json_t *doc, const char *path)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_string_value(json_object_get(doc, path));
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
    return json_string_value(json_object_get(json_object_get(doc, head), dot + 1));
}

Test(event, insert_envelope)
{
    const char *v[NCOLS] = {"42", "a@example.com", "Ann", "secret", "\\x0102", "1.5", "{x,\"y z\"}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    Change c = {.op = CHANGE_INSERT, .index = 3, .rel = rel, .new_tuple = &nt};
    EventMeta m = meta(3, 1);
    Err err;
    cr_assert(event_append_row(&out, et, &m, &c, &err), "%s", err.msg);
    json_t *doc = parse();
    cr_assert_str_eq(str(doc, "id"), "0/1A2B3C8:3");
    cr_assert_str_eq(str(doc, "op"), "c");
    cr_assert(json_is_null(json_object_get(doc, "before")));
    json_t *after = json_object_get(doc, "after");
    cr_assert_eq(json_integer_value(json_object_get(after, "id")), 42);
    cr_assert_str_eq(json_string_value(json_object_get(after, "email")), "a@example.com");
    cr_assert_null(json_object_get(after, "password_hash"), "excluded column rendered");
    cr_assert_str_eq(json_string_value(json_object_get(after, "avatar")), "\\x0102");
    cr_assert_eq(json_real_value(json_object_get(after, "score")), 1.5);
    cr_assert_eq(json_array_size(json_object_get(after, "tags")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "key"), "id")), 42);
    cr_assert_eq(json_object_size(json_object_get(doc, "key")), 1);
    cr_assert_str_eq(str(doc, "source.connector"), "wal2edge");
    cr_assert_str_eq(str(doc, "source.db"), "shop");
    cr_assert_str_eq(str(doc, "source.schema"), "public");
    cr_assert_str_eq(str(doc, "source.table"), "users");
    cr_assert_str_eq(str(doc, "source.snapshot"), "false");
    cr_assert_str_eq(str(doc, "source.commit_lsn"), "0/1A2B3C8");
    json_t *src = json_object_get(doc, "source");
    cr_assert_eq(json_integer_value(json_object_get(src, "lsn")), 0x1A2B3C8);
    cr_assert_eq(json_integer_value(json_object_get(src, "txId")), 771);
    cr_assert_eq(json_integer_value(json_object_get(src, "ts_ms")), 1793613600123);
    cr_assert_eq(json_integer_value(json_object_get(doc, "ts_ms")), 1793613601000);
    cr_assert_str_eq(str(doc, "transaction.id"), "771:0/1A2B3C8");
    json_t *tx = json_object_get(doc, "transaction");
    cr_assert_eq(json_integer_value(json_object_get(tx, "total_order")), 1);
    cr_assert_null(json_object_get(tx, "event_count"));
    cr_assert_null(json_object_get(doc, "unchanged_toast"));
    json_decref(doc);

    cr_assert(event_mark_last(&out, 5, &err), "%s", err.msg);
    doc = parse();
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "transaction"), "event_count")), 5);
    json_decref(doc);
}

Test(event, update_key_only_old_and_toast_marked)
{
    for (uint16_t i = 0; i < rel->ncols; i++)
        rel->cols[i].key = i == 0;
    const char *nv[NCOLS] = {"43", "b@example.com", TOAST, "h", NULL, "2", "{}"};
    const char *ov[NCOLS] = {"42", NULL, NULL, NULL, NULL, NULL, NULL};
    PgoCol nc[NCOLS], oc[NCOLS];
    PgoTuple nt = test_tuple(nc, nv, NCOLS), ot = test_tuple(oc, ov, NCOLS);
    Change c = {.op = CHANGE_UPDATE, .index = 0, .rel = rel, .new_tuple = &nt, .old_tuple = &ot, .old_kind = 'K'};
    EventMeta m = meta(0, 1);
    Err err;
    cr_assert(event_append_row(&out, et, &m, &c, &err), "%s", err.msg);
    json_t *doc = parse();
    cr_assert_str_eq(str(doc, "op"), "u");
    json_t *before = json_object_get(doc, "before");
    cr_assert_eq(json_object_size(before), 1, "key-only before has only the key: %s", out.data);
    cr_assert_eq(json_integer_value(json_object_get(before, "id")), 42);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "key"), "id")), 43);
    json_t *name = json_object_get(json_object_get(doc, "after"), "name");
    cr_assert(json_is_true(json_object_get(name, "unchanged_toast")), "%s", out.data);
    json_t *list = json_object_get(doc, "unchanged_toast");
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_str_eq(json_string_value(json_array_get(list, 0)), "name");
    json_decref(doc);
}

Test(event, update_toast_filled_from_full_old_row)
{
    const char *nv[NCOLS] = {"42", "b@example.com", TOAST, "h", NULL, "2", "{}"};
    const char *ov[NCOLS] = {"42", "a@example.com", "Long name", "h", NULL, "1", "{}"};
    PgoCol nc[NCOLS], oc[NCOLS];
    PgoTuple nt = test_tuple(nc, nv, NCOLS), ot = test_tuple(oc, ov, NCOLS);
    Change c = {.op = CHANGE_UPDATE, .rel = rel, .new_tuple = &nt, .old_tuple = &ot, .old_kind = 'O'};
    EventMeta m = meta(0, 1);
    Err err;
    cr_assert(event_append_row(&out, et, &m, &c, &err), "%s", err.msg);
    json_t *doc = parse();
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "after"), "name")), "Long name");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "before"), "email")), "a@example.com");
    cr_assert_null(json_object_get(doc, "unchanged_toast"));
    json_decref(doc);
}

Test(event, delete_and_truncate)
{
    const char *ov[NCOLS] = {"42", NULL, NULL, NULL, NULL, NULL, NULL};
    PgoCol oc[NCOLS];
    PgoTuple ot = test_tuple(oc, ov, NCOLS);
    for (uint16_t i = 0; i < rel->ncols; i++)
        rel->cols[i].key = i == 0;
    Change c = {.op = CHANGE_DELETE, .index = 7, .rel = rel, .old_tuple = &ot, .old_kind = 'K'};
    EventMeta m = meta(7, 2);
    Err err;
    cr_assert(event_append_row(&out, et, &m, &c, &err), "%s", err.msg);
    json_t *doc = parse();
    cr_assert_str_eq(str(doc, "op"), "d");
    cr_assert(json_is_null(json_object_get(doc, "after")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "key"), "id")), 42);
    json_decref(doc);

    buf_reset(&out);
    m.sub = 1;
    cr_assert(event_append_truncate(&out, et, &m, &err), "%s", err.msg);
    doc = parse();
    cr_assert_str_eq(str(doc, "op"), "t");
    cr_assert_str_eq(str(doc, "id"), "0/1A2B3C8:7.1");
    cr_assert(json_is_null(json_object_get(doc, "key")));
    cr_assert(json_is_null(json_object_get(doc, "before")));
    json_decref(doc);
}

Test(event, bad_value_names_the_column)
{
    const char *v[NCOLS] = {"not-a-number", "a", "b", "c", NULL, "1", "{}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    Change c = {.op = CHANGE_INSERT, .rel = rel, .new_tuple = &nt};
    EventMeta m = meta(0, 1);
    Err err;
    cr_assert_not(event_append_row(&out, et, &m, &c, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "\"id\""), "%s", err.msg);
}

Test(event, claim_pointer_and_ids)
{
    const char *v[NCOLS] = {"1", "a", "b", "c", NULL, "1", "{}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    Change c = {.op = CHANGE_INSERT, .rel = rel, .new_tuple = &nt};
    EventMeta m = meta(9, 1);
    Err err;
    cr_assert(event_append_row(&out, et, &m, &c, &err), "%s", err.msg);
    Buf p;
    buf_init(&p, 1 << 20);
    cr_assert(event_claim_pointer(out.data, out.len, "lake", "k/x.json", "ab", &p, &err), "%s", err.msg);
    json_t *doc = json_loads(p.data, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_null(json_object_get(doc, "after"));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), "0/1A2B3C8:9");
    json_t *cc = json_object_get(doc, "claim_check");
    cr_assert_str_eq(json_string_value(json_object_get(cc, "key")), "k/x.json");
    cr_assert_eq((size_t)json_integer_value(json_object_get(cc, "bytes")), out.len);
    cr_assert_not_null(json_object_get(doc, "key"));
    json_decref(doc);
    buf_free(&p);
    char id[EVENT_ID_MAX];
    cr_assert_str_eq(event_id(0x100000000ull, 0, 0, id), "1/0:0");
    cr_assert_str_eq(event_id(0x16B3748, 4294967295u, 2, id), "0/16B3748:4294967295.2");
    cr_assert_eq(event_op_letter(CHANGE_INSERT, true), 'r');
}

/* json/jsonb columns are named in json_columns (excluded and generated ones left out), and a
 * JSON null in them is {"$json":null}, never null (docs/types.md, "The JSON rendering"). */
Test(event, json_columns_and_json_null)
{
    static const CatColumn cols[] = {
        {"id", 1, 20, -1, "bigint", true, false},      {"jb", 2, 3802, -1, "jsonb", false, false},
        {"js", 3, 114, -1, "json", false, false},      {"hidden", 4, 3802, -1, "jsonb", false, false},
        {"gen", 5, 3802, -1, "jsonb", false, true},    {"n", 6, 25, -1, "text", false, false},
    };
    static const size_t pk[] = {0};
    static const CatIndex ix[] = {{"docs_pkey", true, true, false, false, false, pk, 1}};
    static const CatTable docs = {"public.docs", "public", "docs", true, 16500, 'r', 'd', true, cols, 6, ix, 1};
    const char *exclude[] = {"hidden"};
    Err err;
    EventTable *t = event_table_new(&test_cat, &docs, exclude, 1, &err);
    cr_assert_not_null(t, "%s", err.msg);
    Rel *r = test_rel(&docs);
    const char *v[5] = {"1", "null", NULL, "null", "null"};
    PgoCol nc[5];
    PgoTuple nt = test_tuple(nc, v, 5);
    Change c = {.op = CHANGE_INSERT, .rel = r, .new_tuple = &nt};
    EventMeta m = meta(0, 1);
    cr_assert(event_append_row(&out, t, &m, &c, &err), "%s", err.msg);
    cr_assert(strstr(out.data, "\"after\":{\"id\":1,\"jb\":{\"$json\":null},\"js\":null,\"n\":\"null\"},"
                               "\"json_columns\":[\"jb\",\"js\"],\"source\":"), "%s", out.data);
    buf_reset(&out);
    cr_assert(event_append_truncate(&out, t, &m, &err), "%s", err.msg);
    cr_assert_null(strstr(out.data, "json_columns"), "%s", out.data);
    buf_reset(&out);
    /* a table without json columns: no member */
    const char *u[NCOLS] = {"42", "a@example.com", "Ann", "secret", NULL, "1.5", NULL};
    PgoCol uc[NCOLS];
    PgoTuple ut = test_tuple(uc, u, NCOLS);
    Change uchg = {.op = CHANGE_INSERT, .rel = rel, .new_tuple = &ut};
    cr_assert(event_append_row(&out, et, &m, &uchg, &err), "%s", err.msg);
    cr_assert_null(strstr(out.data, "json_columns"), "%s", out.data);
    test_rel_free(r);
    event_table_free(t);
}
