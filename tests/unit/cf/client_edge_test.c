/* Edge tests for cf/client against the local edge emulator (skipped unless it runs):
 * D1 batches and atomicity, KV bulk/list/get/delete, Queues batch splitting,
 * and the retry policy under injected faults (429 + Retry-After, 5xx, dropped
 * connections, a 400 that must not be retried). */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/client.h"
#include "edge_util.h"

#define D1_DB "w2e-cfclient-d1"
#define D1_FAULT_DB "w2e-cfclient-d1-faults"
#define D1_OBSERVED_DB "w2e-cfclient-d1-observed"
#define KV_NS "w2e-cfclient-kv"
#define QUEUE "w2e-cfclient-queue"

static Secret *g_token;

static CfClient *edge_client(void)
{
    EDGE_SKIP_UNLESS_UP();
    g_token = secret_new(edge_env("CLOUDFLARE_API_TOKEN"));
    CfClientOptions o;
    cf_client_options_default(&o);
    o.retry.base_delay_ms = 50;
    o.retry.max_delay_ms = 400;
    o.retry.max_total_ms = 30000;
    Err e;
    CfClient *c = cf_client_new(edge_env("CLOUDFLARE_API_BASE_URL"),
                                edge_env("CLOUDFLARE_ACCOUNT_ID"), g_token, &o, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

static void done(CfClient *c)
{
    cf_client_free(c);
    secret_free(g_token);
}

static void d1_exec1(CfClient *c, const char *db, const char *sql)
{
    CfD1Stmt s = {sql, NULL, 0};
    CfD1Result r;
    Err e;
    cr_assert(cf_d1_batch(c, db, &s, 1, &r, &e), "%s: %s", sql, e.msg);
    cf_d1_result_free(&r);
}

Test(cf_edge, token_verify_and_a_wrong_token)
{
    CfClient *c = edge_client();
    Err e;
    cr_assert(cf_token_verify(c, &e), "%s", e.msg);
    Secret *bad = secret_new("definitely-not-the-token");
    CfClient *b = cf_client_new(edge_env("CLOUDFLARE_API_BASE_URL"),
                                edge_env("CLOUDFLARE_ACCOUNT_ID"), bad, NULL, &e);
    CfD1Stmt s = {"SELECT 1", NULL, 0};
    CfD1Result r;
    cr_assert_not(cf_d1_batch(b, D1_DB, &s, 1, &r, &e));
    cr_assert_eq(e.code, ERR_CF_API, "%s", e.msg);
    cr_assert_eq(e.detail, 9109);
    cr_assert(strstr(e.msg, "hint:"), "%s", e.msg);
    cr_assert_null(strstr(e.msg, "definitely-not"), "the token never appears in errors");
    cr_assert_eq(cf_client_request_count(b), 1, "auth errors are not retried");
    cf_client_free(b);
    secret_free(bad);
    done(c);
}

Test(cf_edge, d1_batch_returns_per_statement_results)
{
    CfClient *c = edge_client();
    char *t = edge_unique("t");
    char *create = xasprintf("CREATE TABLE %s (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", t);
    d1_exec1(c, D1_DB, create);
    char *ins = xasprintf("INSERT INTO %s (id, name, n) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO "
                          "UPDATE SET name = excluded.name",
                          t);
    char *sel = xasprintf("SELECT id, name, n FROM %s ORDER BY id", t);
    const char *p1[] = {"1", "alice", "42"};
    const char *p2[] = {"2", NULL, NULL};
    CfD1Stmt stmts[] = {{ins, p1, 3}, {ins, p2, 3}, {sel, NULL, 0}};
    CfD1Result r;
    Err e;
    cr_assert(cf_d1_batch(c, D1_DB, stmts, 3, &r, &e), "%s", e.msg);
    cr_assert_eq(r.count, 3);
    cr_assert_eq(r.stmts[0].meta.changes, 1);
    cr_assert_eq(r.stmts[1].meta.last_row_id, 2);
    cr_assert_eq(json_array_size(r.stmts[2].rows), 2);
    json_t *row0 = json_array_get(r.stmts[2].rows, 0);
    cr_assert_str_eq(json_string_value(json_object_get(row0, "name")), "alice");
    cr_assert_eq(json_integer_value(json_object_get(row0, "n")), 42, "integer affinity from text");
    cr_assert(json_is_null(json_object_get(json_array_get(r.stmts[2].rows, 1), "name")));
    cf_d1_result_free(&r);

    CfD1Stmt raw = {sel, NULL, 0};
    cr_assert(cf_d1_batch_raw(c, D1_DB, &raw, 1, &r, &e), "%s", e.msg);
    cr_assert_eq(json_array_size(r.stmts[0].columns), 3);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(r.stmts[0].rows, 1), 0)), 2);
    cf_d1_result_free(&r);
    free(t);
    free(create);
    free(ins);
    free(sel);
    done(c);
}

Test(cf_edge, d1_batch_is_atomic_and_a_400_is_not_retried)
{
    CfClient *c = edge_client();
    char *t = edge_unique("a");
    char *create = xasprintf("CREATE TABLE %s (id INTEGER PRIMARY KEY)", t);
    d1_exec1(c, D1_DB, create);
    char *ins = xasprintf("INSERT INTO %s (id) VALUES (1)", t);
    CfD1Stmt stmts[] = {{ins, NULL, 0}, {"INSERTZ INTO nothing", NULL, 0}};
    CfD1Result r;
    Err e;
    long since = edge_log_seq();
    uint64_t before = cf_client_request_count(c);
    cr_assert_not(cf_d1_batch(c, D1_DB, stmts, 2, &r, &e));
    cr_assert_eq(e.code, ERR_CF_API, "%s", e.msg);
    cr_assert_eq(e.detail, 7500);
    cr_assert(strstr(e.msg, "d1 query: [7500]"), "%s", e.msg);
    cr_assert_eq(cf_client_request_count(c) - before, 1, "a 400 is sent once");
    long st[8];
    cr_assert_eq(edge_log_statuses("/d1/database/" D1_DB "/query", since, st, 8), 1);
    cr_assert_eq(st[0], 400);
    char *count = xasprintf("SELECT count(*) AS n FROM %s", t);
    CfD1Stmt q = {count, NULL, 0};
    cr_assert(cf_d1_batch(c, D1_DB, &q, 1, &r, &e), "%s", e.msg);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(r.stmts[0].rows, 0), "n")), 0,
                 "the insert before the failing statement was rolled back");
    cf_d1_result_free(&r);
    free(t);
    free(create);
    free(ins);
    free(count);
    done(c);
}

Test(cf_edge, kv_bulk_write_get_list_delete)
{
    CfClient *c = edge_client();
    char *prefix = edge_unique("k");
    char *k1 = xasprintf("%s:1", prefix), *k2 = xasprintf("%s:2", prefix),
         *k3 = xasprintf("%s:bin", prefix);
    CfKvPair pairs[] = {
        {.key = k1, .value = "{\"id\":1}", .value_len = 8, .metadata_json = "{\"lsn\":\"0/1\"}"},
        {.key = k2, .value = "two", .value_len = 3, .expiration_ttl = 3600},
        {.key = k3, .value = "\x00\x01\xff", .value_len = 3},
    };
    CfKvBulkResult br;
    Err e;
    cr_assert(cf_kv_bulk_write(c, KV_NS, pairs, 3, &br, &e), "%s", e.msg);
    cr_assert_eq(br.successful, 3);
    cr_assert_eq(br.unsuccessful_count, 0);
    cr_assert_eq(br.requests, 1);
    cf_kv_bulk_result_free(&br);

    Buf v;
    buf_init(&v, 1 << 20);
    bool found;
    cr_assert(cf_kv_get(c, KV_NS, k3, &v, &found, &e), "%s", e.msg);
    cr_assert(found);
    cr_assert_eq(v.len, 3);
    cr_assert_eq(memcmp(v.data, "\x00\x01\xff", 3), 0, "binary values round-trip via base64");

    CfKvList l;
    cr_assert(cf_kv_list_keys(c, KV_NS, prefix, NULL, 10, &l, &e), "%s", e.msg);
    cr_assert_eq(l.count, 3);
    cr_assert_str_eq(l.keys[0].name, k1);
    cr_assert_str_eq(l.keys[0].metadata_json, "{\"lsn\":\"0/1\"}");
    cr_assert_null(l.cursor);
    cf_kv_list_free(&l);

    /* a second write within a second hits the 1 write/s/key limit: reported, not lost */
    CfKvPair again[] = {{.key = k1, .value = "x", .value_len = 1}};
    cr_assert(cf_kv_bulk_write(c, KV_NS, again, 1, &br, &e), "%s", e.msg);
    cr_assert_eq(br.unsuccessful_count, 1, "the emulator refuses the same key within 1 s");
    cr_assert_str_eq(br.unsuccessful_keys[0], k1);
    cf_kv_bulk_result_free(&br);

    sleep(1);
    const char *keys[] = {k1, k2, k3};
    cr_assert(cf_kv_bulk_delete(c, KV_NS, keys, 3, &br, &e), "%s", e.msg);
    cr_assert_eq(br.unsuccessful_count, 0);
    cf_kv_bulk_result_free(&br);
    buf_reset(&v);
    cr_assert(cf_kv_get(c, KV_NS, k1, &v, &found, &e), "%s", e.msg);
    cr_assert_not(found);
    buf_free(&v);
    free(prefix);
    free(k1);
    free(k2);
    free(k3);
    done(c);
}

Test(cf_edge, kv_list_pages_with_a_cursor)
{
    CfClient *c = edge_client();
    char *prefix = edge_unique("p");
    enum { N = 25 };
    char *keys[N];
    CfKvPair pairs[N];
    for (int i = 0; i < N; i++) {
        keys[i] = xasprintf("%s:%02d", prefix, i);
        pairs[i] = (CfKvPair){.key = keys[i], .value = "v", .value_len = 1};
    }
    CfKvBulkResult br;
    Err e;
    cr_assert(cf_kv_bulk_write(c, KV_NS, pairs, N, &br, &e), "%s", e.msg);
    cf_kv_bulk_result_free(&br);
    size_t total = 0, pages = 0;
    char *cursor = NULL;
    do {
        CfKvList l;
        cr_assert(cf_kv_list_keys(c, KV_NS, prefix, cursor, 10, &l, &e), "%s", e.msg);
        total += l.count;
        pages++;
        free(cursor);
        cursor = l.cursor ? xstrdup(l.cursor) : NULL;
        cf_kv_list_free(&l);
    } while (cursor && pages < 10);
    cr_assert_eq(total, N);
    cr_assert_eq(pages, 3);
    for (int i = 0; i < N; i++)
        free(keys[i]);
    free(prefix);
    done(c);
}

Test(cf_edge, queue_batches_split_at_100_messages)
{
    CfClient *c = edge_client();
    enum { N = 250 };
    CfQueueMsg msgs[N];
    char *bodies[N];
    for (int i = 0; i < N; i++) {
        bodies[i] = xasprintf("{\"op\":\"c\",\"i\":%d}", i);
        msgs[i] = (CfQueueMsg){bodies[i], strlen(bodies[i]), CF_QUEUE_JSON, -1};
    }
    long since = edge_log_seq();
    size_t requests = 0;
    Err e;
    cr_assert(cf_queue_send_batch(c, QUEUE, msgs, N, &requests, &e), "%s", e.msg);
    cr_assert_eq(requests, 3);
    long st[8];
    cr_assert_eq(edge_log_statuses("/queues/" QUEUE "/messages/batch", since, st, 8), 3);
    for (int i = 0; i < N; i++)
        free(bodies[i]);
    done(c);
}

Test(cf_edge, queue_batches_split_at_256kb_and_oversize_is_refused)
{
    CfClient *c = edge_client();
    size_t len = 64000 - CF_QUEUE_MESSAGE_OVERHEAD;
    char *body = xmalloc(len + 2);
    memset(body, 'q', len + 1);
    body[len + 1] = '\0';
    CfQueueMsg msgs[6];
    for (int i = 0; i < 6; i++)
        msgs[i] = (CfQueueMsg){body, len, CF_QUEUE_TEXT, -1};
    long since = edge_log_seq();
    size_t requests = 0;
    Err e;
    cr_assert(cf_queue_send_batch(c, QUEUE, msgs, 6, &requests, &e), "%s", e.msg);
    cr_assert_eq(requests, 2, "4 + 2 messages of 64,000 bytes");
    long st[8];
    cr_assert_eq(edge_log_statuses("/queues/" QUEUE "/messages/batch", since, st, 8), 2);
    cr_assert_eq(st[0], 200);

    char *huge = xmalloc(CF_QUEUE_MAX_MESSAGE_BYTES + 1);
    memset(huge, 'h', CF_QUEUE_MAX_MESSAGE_BYTES);
    huge[CF_QUEUE_MAX_MESSAGE_BYTES] = '\0';
    CfQueueMsg two[2] = {{"ok", 2, CF_QUEUE_TEXT, -1},
                         {huge, CF_QUEUE_MAX_MESSAGE_BYTES, CF_QUEUE_TEXT, -1}};
    uint64_t before = cf_client_request_count(c);
    cr_assert_not(cf_queue_send_batch(c, QUEUE, two, 2, &requests, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert(strstr(e.msg, "message 1"), "%s", e.msg);
    cr_assert_eq(cf_client_request_count(c), before, "nothing is sent");
    CfQueueMsg one = {"{\"single\":true}", 15, CF_QUEUE_JSON, 0};
    cr_assert(cf_queue_send(c, QUEUE, &one, &e), "%s", e.msg);
    free(huge);
    free(body);
    done(c);
}

Test(cf_edge, a_429_with_retry_after_is_honoured, .timeout = 60)
{
    CfClient *c = edge_client();
    edge_add_fault("{\"path\":\"/d1/database/" D1_FAULT_DB "/\",\"status\":429,\"retry_after\":2,"
                   "\"count\":1}");
    long since = edge_log_seq();
    uint64_t t0 = edge_now_ms();
    CfD1Stmt s = {"SELECT 1 AS one", NULL, 0};
    CfD1Result r;
    Err e;
    cr_assert(cf_d1_batch(c, D1_FAULT_DB, &s, 1, &r, &e), "%s", e.msg);
    uint64_t took = edge_now_ms() - t0;
    cf_d1_result_free(&r);
    cr_assert_geq(took, 2000, "waited Retry-After (took %llu ms)", (unsigned long long)took);
    cr_assert_lt(took, 8000);
    long st[8];
    cr_assert_eq(edge_log_statuses("/d1/database/" D1_FAULT_DB "/", since, st, 8), 2);
    cr_assert_eq(st[0], 429);
    cr_assert_eq(st[1], 200);
    CfClientStats stats = cf_client_stats(c);
    cr_assert_eq(stats.throttled, 1);
    cr_assert_eq(stats.retries, 1);
    done(c);
}

Test(cf_edge, server_errors_are_retried, .timeout = 60)
{
    CfClient *c = edge_client();
    edge_add_fault("[{\"path\":\"/d1/database/" D1_FAULT_DB "/\",\"status\":500,\"count\":1},"
                   "{\"path\":\"/d1/database/" D1_FAULT_DB "/\",\"status\":502,\"count\":1},"
                   "{\"path\":\"/d1/database/" D1_FAULT_DB "/\",\"status\":503,\"retry_after\":0,"
                   "\"count\":1}]");
    long since = edge_log_seq();
    CfD1Stmt s = {"SELECT 2 AS two", NULL, 0};
    CfD1Result r;
    Err e;
    cr_assert(cf_d1_batch(c, D1_FAULT_DB, &s, 1, &r, &e), "%s", e.msg);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(r.stmts[0].rows, 0), "two")), 2);
    cf_d1_result_free(&r);
    long st[8];
    cr_assert_eq(edge_log_statuses("/d1/database/" D1_FAULT_DB "/", since, st, 8), 4);
    cr_assert_eq(st[0], 500);
    cr_assert_eq(st[1], 502);
    cr_assert_eq(st[2], 503);
    cr_assert_eq(st[3], 200);
    done(c);
}

Test(cf_edge, dropped_connections_are_retried, .timeout = 60)
{
    CfClient *c = edge_client();
    edge_add_fault("[{\"path\":\"/queues/" QUEUE "/messages\",\"drop\":\"before\",\"count\":1},"
                   "{\"path\":\"/queues/" QUEUE "/messages\",\"drop\":\"during\",\"count\":1}]");
    long since = edge_log_seq();
    CfQueueMsg m = {"{\"retry\":1}", 11, CF_QUEUE_JSON, -1};
    Err e;
    cr_assert(cf_queue_send(c, QUEUE, &m, &e), "%s", e.msg);
    long st[8];
    size_t n = edge_log_statuses("/queues/" QUEUE "/messages", since, st, 8);
    cr_assert_eq(n, 3, "dropped twice, then delivered");
    cr_assert_eq(cf_client_stats(c).retries, 2);
    done(c);
}

Test(cf_edge, exhausted_retries_give_a_retryable_error, .timeout = 60)
{
    CfClient *c = edge_client();
    edge_add_fault("{\"path\":\"/d1/database/" D1_FAULT_DB "/\",\"status\":500,\"count\":5}");
    CfD1Stmt s = {"SELECT 3", NULL, 0};
    CfD1Result r;
    Err e;
    cr_assert_not(cf_d1_batch(c, D1_FAULT_DB, &s, 1, &r, &e));
    cr_assert_eq(e.code, ERR_HTTP, "%s", e.msg);
    cr_assert(err_retryable(&e));
    cr_assert_eq(e.detail, 500);
    cr_assert(strstr(e.msg, "retries exhausted"), "%s", e.msg);
    cr_assert_eq(cf_client_request_count(c), 5);
    done(c);
}

/* A client whose own request budget is `requests` per `window_ms`; max_total_ms 0: the default. */
static CfClient *budget_client(unsigned requests, uint64_t window_ms, uint64_t max_total_ms)
{
    EDGE_SKIP_UNLESS_UP();
    g_token = secret_new(edge_env("CLOUDFLARE_API_TOKEN"));
    CfClientOptions o;
    cf_client_options_default(&o);
    o.rate_requests = requests;
    o.rate_window_ms = window_ms;
    if (max_total_ms)
        o.retry.max_total_ms = max_total_ms;
    Err e;
    CfClient *c = cf_client_new(edge_env("CLOUDFLARE_API_BASE_URL"), edge_env("CLOUDFLARE_ACCOUNT_ID"), g_token, &o, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

Test(cf_edge, the_client_budget_spaces_requests, .timeout = 60)
{
    CfClient *c = budget_client(2, 1000, 0);
    Err e;
    uint64_t t0 = edge_now_ms();
    for (int i = 0; i < 5; i++)
        cr_assert(cf_token_verify(c, &e), "%s", e.msg);
    uint64_t took = edge_now_ms() - t0;
    cr_assert_geq(took, 2000, "5 requests at 2/s need at least 2 s (took %llu)",
                  (unsigned long long)took);
    cr_assert_geq(cf_client_stats(c).waited_ms, 1900);
    done(c);
}

Test(cf_edge, the_budget_is_ample_until_half_of_the_window_is_spent, .timeout = 60)
{
    CfClient *c = budget_client(4, 60000, 0);
    CfClient *h = cf_client_for_target(c, "d1.app");
    Err e;
    cr_expect(cf_client_budget_ample(h), "nothing spent yet");
    cr_assert(cf_token_verify(c, &e), "%s", e.msg);
    cr_expect(cf_client_budget_ample(h), "1 of 4 spent");
    cr_assert(cf_token_verify(h, &e), "%s", e.msg);
    cr_expect_not(cf_client_budget_ample(h), "2 of 4 spent: a handle sees the client's budget");
    cr_expect_not(cf_client_budget_ample(c));
    done(c);
}

/* What an observer of the client saw: one line per attempt, "target outcome attempt throttled". */
typedef struct Seen {
    char lines[16][96];
    size_t n;
} Seen;

static void record_attempt(void *user, const char *target, const char *outcome, double seconds, unsigned attempt,
                           bool throttled)
{
    Seen *seen = user;
    cr_assert_geq(seconds, 0);
    if (seen->n < 16)
        snprintf(seen->lines[seen->n++], 96, "%s %s %u%s", target ? target : "-", outcome ? outcome : "none",
                 attempt, throttled ? " throttled" : "");
}

Test(cf_edge, each_attempt_is_reported_under_its_targets_label, .timeout = 60)
{
    CfClient *c = edge_client();
    Seen seen = {.n = 0};
    cf_client_observe(c, record_attempt, &seen);
    CfClient *d1 = cf_client_for_target(c, "d1.app");
    CfClient *q = cf_client_for_target(c, "queues.changes");
    cr_assert_eq(cf_client_for_target(c, "d1.app"), d1, "one handle per label");
    cr_assert_eq(cf_client_for_target(q, "d1.app"), d1, "a handle's handle is the client's");
    edge_add_fault("[{\"path\":\"/d1/database/" D1_OBSERVED_DB "/\",\"status\":429,\"retry_after\":0,\"count\":1},"
                   "{\"path\":\"/d1/database/" D1_OBSERVED_DB "/\",\"status\":500,\"count\":1}]");
    CfD1Stmt s = {"SELECT 1 AS one", NULL, 0};
    CfD1Result r;
    Err e;
    cr_assert(cf_d1_batch(d1, D1_OBSERVED_DB, &s, 1, &r, &e), "%s", e.msg);
    cf_d1_result_free(&r);
    CfD1Stmt bad = {"SELEC nonsense", NULL, 0};
    cr_assert_not(cf_d1_batch(d1, D1_OBSERVED_DB, &bad, 1, &r, &e), "a 400 is not retried");
    CfQueueMsg m = {"{\"n\":1}", 7, CF_QUEUE_JSON, -1};
    cr_assert(cf_queue_send(q, QUEUE, &m, &e), "%s", e.msg);
    cr_assert(cf_token_verify(c, &e), "%s", e.msg);
    cr_assert_eq(seen.n, 6, "six attempts, got %zu", seen.n);
    cr_assert_str_eq(seen.lines[0], "d1.app retryable 1 throttled");
    cr_assert_str_eq(seen.lines[1], "d1.app retryable 2");
    cr_assert_str_eq(seen.lines[2], "d1.app ok 3");
    cr_assert_str_eq(seen.lines[3], "d1.app fatal 1");
    cr_assert_str_eq(seen.lines[4], "queues.changes ok 1");
    cr_assert_str_eq(seen.lines[5], "- ok 1", "the client itself reports no label");
    CfClientStats ds = cf_client_stats(d1), cs = cf_client_stats(c);
    cr_assert_eq(ds.requests, 4);
    cr_assert_eq(ds.retries, 2);
    cr_assert_eq(ds.throttled, 1);
    cr_assert_eq(cf_client_stats(q).requests, 1);
    cr_assert_eq(cs.requests, 6, "the client counts its handles' requests too");
    cf_client_free(d1); /* a handle: nothing happens, the client frees it */
    cf_client_observe(c, NULL, NULL);
    cr_assert(cf_token_verify(c, &e), "%s", e.msg);
    cr_assert_eq(seen.n, 6, "no observer, no report");
    done(c);
}

Test(cf_edge, a_call_that_runs_out_of_budget_is_reported_as_throttled, .timeout = 60)
{
    CfClient *c = budget_client(1, 60000, 200);
    Err e;
    Seen seen = {.n = 0};
    cf_client_observe(c, record_attempt, &seen);
    CfClient *kv = cf_client_for_target(c, "kv.cache");
    cr_assert(cf_token_verify(kv, &e), "%s", e.msg);
    cr_assert_not(cf_token_verify(kv, &e), "the budget of 1 request a minute is used up");
    cr_assert_eq(e.detail, 429, "%s", e.msg);
    cr_assert_eq(seen.n, 2);
    cr_assert_str_eq(seen.lines[0], "kv.cache ok 1");
    cr_assert_str_eq(seen.lines[1], "kv.cache none 1 throttled", "no request went out");
    done(c);
}
