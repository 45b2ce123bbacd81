/* Unit tests for cf/payload: bodies, limits at their exact edges, splitting, result parsing. */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/api.h"
#include "cf/payload.h"
#include "cf_test_util.h"
#include "core/mem.h"

#define BIG ((size_t)1 << 40)

Test(cf_payload, d1_body_is_a_batch_with_string_and_null_params)
{
    const char *p1[] = {"42", NULL, "it's \"q\"\n"};
    CfD1Stmt s[] = {{"INSERT INTO t(a,b,c) VALUES (?1,?2,?3)", p1, 3}, {"SELECT 1", NULL, 0}};
    Buf b;
    Err e;
    buf_init(&b, BIG);
    cr_assert(cf_d1_body(s, 2, &b, &e), "%s", e.msg);
    cr_assert_str_eq(b.data, "{\"batch\":[{\"sql\":\"INSERT INTO t(a,b,c) VALUES (?1,?2,?3)\","
                             "\"params\":[\"42\",null,\"it's \\\"q\\\"\\n\"]},"
                             "{\"sql\":\"SELECT 1\"}]}");
    json_error_t je;
    json_t *v = json_loads(b.data, 0, &je);
    cr_assert_not_null(v, "valid JSON");
    json_decref(v);
    buf_free(&b);
}

Test(cf_payload, d1_limits_are_checked_at_their_exact_edges)
{
    Buf b;
    Err e;
    buf_init(&b, BIG);
    char *sql = xmalloc(CF_D1_MAX_SQL_BYTES + 2);
    memset(sql, ' ', CF_D1_MAX_SQL_BYTES + 1);
    memcpy(sql, "SELECT 1", 8);
    sql[CF_D1_MAX_SQL_BYTES] = '\0';
    CfD1Stmt s = {sql, NULL, 0};
    cr_assert(cf_d1_body(&s, 1, &b, &e), "100,000 bytes is allowed");
    sql[CF_D1_MAX_SQL_BYTES] = ' ';
    sql[CF_D1_MAX_SQL_BYTES + 1] = '\0';
    buf_reset(&b);
    cr_assert_not(cf_d1_body(&s, 1, &b, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    free(sql);

    const char *params[101];
    for (int i = 0; i < 101; i++)
        params[i] = "1";
    CfD1Stmt ok = {"SELECT ?", params, 100}, bad = {"SELECT ?", params, 101};
    buf_reset(&b);
    cr_assert(cf_d1_body(&ok, 1, &b, &e));
    buf_reset(&b);
    cr_assert_not(cf_d1_body(&bad, 1, &b, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert(strstr(e.msg, "101 bound parameters"), "%s", e.msg);

    const char *badutf[] = {"\xff\xfe"};
    CfD1Stmt u = {"SELECT ?", badutf, 1};
    buf_reset(&b);
    cr_assert_not(cf_d1_body(&u, 1, &b, &e));
    cr_assert_eq(e.code, ERR_USAGE);
    cr_assert(strstr(e.msg, "unhex"));
    cr_assert_not(cf_d1_body(&u, 0, &b, &e));
    buf_free(&b);
}

Test(cf_payload, d1_results_parse_rows_and_meta)
{
    size_t n;
    char *body = cf_fixture("cf/d1_query_ok.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    CfD1Result r;
    cr_assert(cf_d1_result_parse(env.result, 2, false, &r, &e), "%s", e.msg);
    cf_envelope_free(&env);   /* the result keeps its own reference */
    cr_assert_eq(r.count, 2);
    cr_assert_eq(r.stmts[0].meta.changes, 1);
    cr_assert_eq(r.stmts[0].meta.last_row_id, 8);
    cr_assert_eq(r.stmts[0].meta.rows_written, 2);
    cr_assert(r.stmts[0].meta.changed_db);
    cr_assert_eq(json_array_size(r.stmts[1].rows), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r.stmts[1].rows, 0), "name")),
                     "bob");
    cr_assert_null(r.stmts[1].columns);
    cf_d1_result_free(&r);
    free(body);

    body = cf_fixture("cf/d1_raw_ok.json", &n);
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cr_assert(cf_d1_result_parse(env.result, 1, true, &r, &e));
    cr_assert_eq(json_array_size(r.stmts[0].columns), 2);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(r.stmts[0].rows, 1), 0)), 9);
    cf_d1_result_free(&r);
    cr_assert_not(cf_d1_result_parse(env.result, 3, true, &r, &e), "fewer results than sent");
    cr_assert_eq(e.code, ERR_PROTOCOL);
    cf_envelope_free(&env);
    free(body);
}

Test(cf_payload, kv_pairs_are_checked)
{
    Err e;
    char key513[514];
    memset(key513, 'k', 513);
    key513[513] = '\0';
    CfKvPair p = {.key = key513, .value = "v", .value_len = 1};
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    key513[512] = '\0';
    cr_assert(cf_kv_pairs_check(&p, 1, &e), "512 bytes is allowed");
    p.key = "..";
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    p.key = "";
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    p.key = "k";
    p.expiration_ttl = 59;
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    p.expiration_ttl = 60;
    cr_assert(cf_kv_pairs_check(&p, 1, &e));
    p.metadata_json = "{not json";
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    cr_assert_eq(e.code, ERR_USAGE);
    char meta[1100];
    snprintf(meta, sizeof meta, "{\"m\":\"%01016d\"}", 0);   /* 1024 bytes compact */
    p.metadata_json = meta;
    cr_assert_eq(strlen(meta), 1024);
    cr_assert(cf_kv_pairs_check(&p, 1, &e), "%s", e.msg);
    snprintf(meta, sizeof meta, "{\"m\":\"%01017d\"}", 0);
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    p.metadata_json = NULL;
    p.value_len = CF_KV_MAX_VALUE_BYTES + 1;
    cr_assert_not(cf_kv_pairs_check(&p, 1, &e));
    CfKvPair dup[3] = {{.key = "a"}, {.key = "b"}, {.key = "a"}};
    cr_assert_not(cf_kv_pairs_check(dup, 3, &e));
    cr_assert(strstr(e.msg, "'a' appears twice (pairs 0 and 2)"), "%s", e.msg);
}

Test(cf_payload, kv_values_go_as_text_or_base64)
{
    CfKvPair p[] = {
        {.key = "t", .value = "h\xc3\xa9llo", .value_len = 6, .expiration_ttl = 3600,
         .metadata_json = "{ \"lsn\" : \"0/1\" }"},
        {.key = "b", .value = "\x00\xff\x10", .value_len = 3},
        {.key = "f", .value = "hi", .value_len = 2, .binary = true, .expiration = 1767225600},
    };
    Buf b;
    Err e;
    size_t end;
    buf_init(&b, BIG);
    cr_assert(cf_kv_bulk_chunk(p, 3, 0, 0, 0, &b, &end, &e), "%s", e.msg);
    cr_assert_eq(end, 3);
    cr_assert_str_eq(b.data,
                     "[{\"key\":\"t\",\"value\":\"h\xc3\xa9llo\",\"expiration_ttl\":3600,"
                     "\"metadata\":{\"lsn\":\"0/1\"}},"
                     "{\"key\":\"b\",\"value\":\"AP8Q\",\"base64\":true},"
                     "{\"key\":\"f\",\"value\":\"aGk=\",\"base64\":true,\"expiration\":1767225600}]");
    buf_free(&b);
}

Test(cf_payload, kv_bulk_splits_at_10000_pairs)
{
    size_t n = 25000;
    CfKvPair *p = xcalloc(n, sizeof *p);
    char **keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        keys[i] = xasprintf("k%zu", i);
        p[i] = (CfKvPair){.key = keys[i], .value = "v", .value_len = 1};
    }
    Err e;
    cr_assert(cf_kv_pairs_check(p, n, &e));
    Buf b;
    buf_init(&b, BIG);
    size_t start = 0, end = 0, requests = 0;
    size_t sizes[4] = {0};
    while (start < n) {
        buf_reset(&b);
        cr_assert(cf_kv_bulk_chunk(p, n, start, 0, 0, &b, &end, &e));
        sizes[requests++] = end - start;
        start = end;
    }
    cr_assert_eq(requests, 3);
    cr_assert_eq(sizes[0], 10000);
    cr_assert_eq(sizes[1], 10000);
    cr_assert_eq(sizes[2], 5000);
    /* a smaller configured count */
    buf_reset(&b);
    cr_assert(cf_kv_bulk_chunk(p, n, 0, 1000, 0, &b, &end, &e));
    cr_assert_eq(end, 1000);
    buf_free(&b);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(p);
}

Test(cf_payload, kv_bulk_splits_at_the_byte_limit_exactly)
{
    /* each item {"key":"kN","value":"vvvvvvvvvv"} is 33 bytes; "[" a "," b "]" */
    CfKvPair p[3] = {{.key = "k1", .value = "vvvvvvvvvv", .value_len = 10},
                     {.key = "k2", .value = "vvvvvvvvvv", .value_len = 10},
                     {.key = "k3", .value = "vvvvvvvvvv", .value_len = 10}};
    Buf b;
    Err e;
    size_t end;
    buf_init(&b, BIG);
    cr_assert(cf_kv_bulk_chunk(p, 3, 0, 0, 1 + 33 + 1 + 33 + 1, &b, &end, &e));
    cr_assert_eq(end, 2, "two items fit exactly");
    cr_assert_eq(b.len, 69);
    buf_reset(&b);
    cr_assert(cf_kv_bulk_chunk(p, 3, 0, 0, 1 + 33 + 1 + 33, &b, &end, &e));
    cr_assert_eq(end, 1, "one byte less: only one");
    buf_reset(&b);
    cr_assert_not(cf_kv_bulk_chunk(p, 3, 0, 0, 34, &b, &end, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE, "a single pair over the limit is refused");
    buf_free(&b);
}

Test(cf_payload, kv_delete_chunk_and_results)
{
    const char *keys[] = {"a", "b\"c"};
    Buf b;
    Err e;
    size_t end;
    buf_init(&b, BIG);
    cr_assert(cf_kv_delete_chunk(keys, 2, 0, 0, 0, &b, &end, &e));
    cr_assert_str_eq(b.data, "[\"a\",\"b\\\"c\"]");
    buf_free(&b);

    size_t n;
    char *body = cf_fixture("cf/kv_bulk_partial.json", &n);
    CfEnvelope env;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    CfKvBulkResult r = {0};
    cr_assert(cf_kv_bulk_result_add(env.result, 3, &r, &e));
    cr_assert(cf_kv_bulk_result_add(NULL, 4, &r, &e), "no result: all sent counted");
    cr_assert_eq(r.successful, 6);
    cr_assert_eq(r.unsuccessful_count, 1);
    cr_assert_str_eq(r.unsuccessful_keys[0], "session:abc");
    cf_kv_bulk_result_free(&r);
    cf_envelope_free(&env);
    free(body);
}

Test(cf_payload, kv_listing_parses_names_metadata_and_cursor)
{
    size_t n;
    char *body = cf_fixture("cf/kv_keys_page.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    CfKvList l;
    cr_assert(cf_kv_list_parse(env.result, env.cursor, &l, &e));
    cr_assert_eq(l.count, 2);
    cr_assert_str_eq(l.keys[0].name, "user:1");
    cr_assert_eq(l.keys[0].expiration, 1767225600);
    cr_assert_str_eq(l.keys[0].metadata_json, "{\"lsn\":\"0/16B3748\"}");
    cr_assert_null(l.keys[1].metadata_json);
    cr_assert_not_null(l.cursor);
    cf_kv_list_free(&l);
    cf_envelope_free(&env);
    free(body);
}

static CfQueueMsg text_msg(const char *body, size_t len)
{
    CfQueueMsg m = {body, len, CF_QUEUE_TEXT, -1};
    return m;
}

Test(cf_payload, queue_message_size_limit_is_exact)
{
    size_t max_body = CF_QUEUE_MAX_MESSAGE_BYTES - CF_QUEUE_MESSAGE_OVERHEAD;
    char *body = xmalloc(max_body + 2);
    memset(body, 'x', max_body + 1);
    body[max_body + 1] = '\0';
    CfQueueMsg m = text_msg(body, max_body);
    size_t size;
    Err e;
    cr_assert(cf_queue_msg_size(&m, &size, &e));
    cr_assert_eq(size, CF_QUEUE_MAX_MESSAGE_BYTES);
    m.body_len = max_body + 1;
    cr_assert_not(cf_queue_msg_size(&m, &size, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert(strstr(e.msg, "128000"), "%s", e.msg);
    free(body);

    CfQueueMsg j = {"{ \"a\" : [1, 2] }", 16, CF_QUEUE_JSON, -1};
    cr_assert(cf_queue_msg_size(&j, &size, &e));
    cr_assert_eq(size, strlen("{\"a\":[1,2]}") + 100, "counted compact");
    CfQueueMsg bad = {"{oops", 5, CF_QUEUE_JSON, -1};
    cr_assert_not(cf_queue_msg_size(&bad, &size, &e));
    cr_assert_eq(e.code, ERR_USAGE);
}

Test(cf_payload, queue_batches_split_at_100_messages)
{
    CfQueueMsg msgs[250];
    for (int i = 0; i < 250; i++)
        msgs[i] = (CfQueueMsg){"{\"i\":1}", 7, CF_QUEUE_JSON, i == 0 ? 5 : -1};
    Buf b;
    Err e;
    size_t end;
    buf_init(&b, BIG);
    cr_assert(cf_queue_batch_chunk(msgs, 250, 0, 0, 0, &b, &end, &e));
    cr_assert_eq(end, 100);
    cr_assert_eq(strncmp(b.data, "{\"messages\":[{\"body\":{\"i\":1},\"content_type\":\"json\","
                                 "\"delay_seconds\":5},{\"body\":{\"i\":1},\"content_type\":\"json\"},",
                         109),
                 0, "%.140s", b.data);
    json_error_t je;
    json_t *v = json_loads(b.data, 0, &je);
    cr_assert_eq(json_array_size(json_object_get(v, "messages")), 100);
    json_decref(v);
    buf_reset(&b);
    cr_assert(cf_queue_batch_chunk(msgs, 250, 200, 0, 0, &b, &end, &e));
    cr_assert_eq(end, 250);
    buf_free(&b);
}

Test(cf_payload, queue_batches_split_at_256000_bytes_exactly)
{
    /* four messages of 63,900 + 100 = 64,000 bytes fill 256,000 exactly */
    size_t body_len = 64000 - CF_QUEUE_MESSAGE_OVERHEAD;
    char *body = xmalloc(body_len + 1);
    memset(body, 'y', body_len);
    body[body_len] = '\0';
    CfQueueMsg msgs[6];
    for (int i = 0; i < 6; i++)
        msgs[i] = text_msg(body, body_len);
    Buf b;
    Err e;
    size_t end;
    buf_init(&b, BIG);
    cr_assert(cf_queue_batch_chunk(msgs, 6, 0, 0, 0, &b, &end, &e));
    cr_assert_eq(end, 4);
    msgs[3].body_len = body_len + 1;   /* one byte more: the fourth no longer fits */
    buf_reset(&b);
    cr_assert(cf_queue_batch_chunk(msgs, 6, 0, 0, 0, &b, &end, &e));
    cr_assert_eq(end, 3);
    buf_free(&b);
    free(body);
}

Test(cf_payload, queue_single_body)
{
    CfQueueMsg m = text_msg("plain \"text\"", 12);
    m.delay_seconds = 0;
    Buf b;
    Err e;
    buf_init(&b, BIG);
    cr_assert(cf_queue_single_body(&m, &b, &e));
    cr_assert_str_eq(b.data, "{\"body\":\"plain \\\"text\\\"\",\"content_type\":\"text\","
                             "\"delay_seconds\":0}");
    buf_free(&b);
}

Test(cf_payload, utf8_validation)
{
    cr_assert(cf_utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12));
    cr_assert_not(cf_utf8_valid("\xc0\x80", 2), "overlong");
    cr_assert_not(cf_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    cr_assert_not(cf_utf8_valid("\xe2\x82", 2), "truncated");
    cr_assert_not(cf_utf8_valid("\xf8\x88\x80\x80\x80", 5));
}
