/* Unit tests for targets/queue: the mapping's queue options (and their errors), the
 * embedded spool (one event per line, event_count on the last, checkpoint sidecar, cut
 * back on open, rollback), and the REST path with a fake sender (batches within 100
 * messages / 256,000 bytes, durable only after the push, retryable failure keeps the
 * events, refusal stops the target, bounded buffer, ops/exclude/route filters, oversize
 * refused or claim-checked). */
#include "../d1/d1_test_util.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf/payload.h"
#include "config/jsonc.h"
#include "core/mem.h"
#include "pipeline/deadletter.h"
#include "targets/queue.h"

#define NCOLS 7
#define MAX_REQ 256

typedef struct Fake {
    size_t sizes[MAX_REQ];      /* messages per request */
    size_t bytes[MAX_REQ];      /* bytes per request (bodies + 100 each) */
    size_t nreq;
    size_t events;
    int fail_next;
    ErrCode fail_code;
    char *last_body;
    char *claim_key;
    size_t claim_len;
} Fake;

static Fake fk;
static Config *cfg;
static Rel *rel;
static char dir[] = "/tmp/w2e-queue-test-XXXXXX";
static JsoncNode *node;
static Mapping mapping;
static MappingSet maps;

static const char *env_fn(const char *name, void *user)
{
    (void)user;
    return strcmp(name, "DATABASE_URL") == 0 ? "postgresql://u@127.0.0.1/shop" : NULL;
}

static void setup(void)
{
    memset(&fk, 0, sizeof fk);
    cr_assert_not_null(mkdtemp(dir));
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    fprintf(f, "{ \"source\": { \"dsn\": \"${DATABASE_URL}\", \"slot\": \"s1\" }, \"state_dir\": \"%s\",\n"
               "  \"queues\": { \"changes\": {}, \"eu\": {} }, \"r2\": { \"lake\": {} } }\n", dir);
    fclose(f);
    Err err;
    cfg = config_parse(text, n, "wal2edge.jsonc", env_fn, NULL, &err);
    free(text);
    cr_assert_not_null(cfg, "%s", err.msg);
    rel = test_rel(&test_tables[0]);
}

static void teardown(void)
{
    free(fk.last_body);
    free(fk.claim_key);
    jsonc_free(node);
    node = NULL;
    test_rel_free(rel);
    config_free(cfg);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    FILE *p = popen(cmd, "r");
    pclose(p);
    free(cmd);
    memcpy(dir, "/tmp/w2e-queue-test-XXXXXX", sizeof dir);
}

TestSuite(queue, .init = setup, .fini = teardown);

/* A mapping of public.users whose "queue" section is `queue_json`. */
static void set_mapping(const char *queue_json)
{
    Err err;
    jsonc_free(node);
    node = jsonc_parse(queue_json, strlen(queue_json), "m.jsonc", &err);
    cr_assert_not_null(node, "%s", err.msg);
    memset(&mapping, 0, sizeof mapping);
    mapping.file = (char *)"m.jsonc";
    mapping.source = (char *)"public.users";
    mapping.queue_node = node;
    maps.items = &mapping;
    maps.count = 1;
}

static bool fake_send(void *user, const CfQueueMsg *msgs, size_t n, Err *err)
{
    (void)user;
    if (fk.fail_next > 0) {
        fk.fail_next--;
        return err_set(err, fk.fail_code, "queues batch: http 503 after 5 attempts");
    }
    cr_assert_lt(fk.nreq, MAX_REQ);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sz;
        Err e;
        cr_assert(cf_queue_msg_size(&msgs[i], &sz, &e), "%s", e.msg);
        bytes += sz;
    }
    cr_assert_leq(n, 100);
    cr_assert_leq(bytes, 256000);
    fk.sizes[fk.nreq] = n;
    fk.bytes[fk.nreq++] = bytes;
    fk.events += n;
    free(fk.last_body);
    fk.last_body = strndup(msgs[n - 1].body, msgs[n - 1].body_len);
    return true;
}

static bool fake_claim(void *user, const char *bucket, const char *key, const void *data, size_t len, Err *err)
{
    (void)user;
    (void)err;
    (void)data;
    cr_assert_str_eq(bucket, "lake");
    free(fk.claim_key);
    fk.claim_key = strdup(key);
    fk.claim_len = len;
    return true;
}

static Target *open_queue(const char *name, bool remote, size_t max_events)
{
    static char qid[] = "0123456789abcdef0123456789abcdef";
    ConfigTarget ct = *config_target(cfg, TARGET_QUEUE, name);
    if (remote)
        ct.remote_id = qid;
    QueueOptions o = {.send = fake_send, .claim_put = fake_claim, .max_buffer_events = max_events};
    Err err;
    Target *t = queue_target_new(cfg, &ct, &maps, &test_cat, NULL, &o, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void row(Target *t, const TxnInfo *x, ChangeOp op, uint32_t index, const char *id, const char *name)
{
    const char *v[NCOLS] = {id, "e@example.com", name, "h", NULL, "1.5", "{}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    Change c = {.op = op, .index = index, .rel = rel, .new_tuple = op == CHANGE_DELETE ? NULL : &nt,
                .old_tuple = op == CHANGE_DELETE ? &nt : NULL, .old_kind = op == CHANGE_DELETE ? 'O' : 0};
    Err err;
    cr_assert(t->ops->change(t, x, &c, &err), "%s", err.msg);
}

static TxnInfo txn_at(Lsn lsn)
{
    return (TxnInfo){.xid = (uint32_t)lsn, .commit_lsn = lsn, .end_lsn = lsn + 8, .commit_time_us = 1793613600000000};
}

static void txn(Target *t, Lsn lsn, int rows, const char *name)
{
    TxnInfo x = txn_at(lsn);
    Err err;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    for (int i = 0; i < rows; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d", i + 1);
        row(t, &x, CHANGE_INSERT, (uint32_t)i, id, name);
    }
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(f);
    fclose(m);
    return text;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(queue, options_parse_and_errors)
{
    set_mapping("{\"queue\": \"changes\", \"ops\": [\"c\", \"delete\"], \"exclude\": [\"password_hash\"],\n"
                " \"route\": {\"column\": \"name\", \"queues\": {\"EU\": \"eu\"}},\n"
                " \"oversize\": \"claim_check\", \"claim_check\": {\"bucket\": \"lake\"}}");
    QueueMapOptions o;
    Err err;
    cr_assert(queue_map_options_parse(&mapping, cfg, &o, &err), "%s", err.msg);
    cr_assert_eq(o.ops, QUEUE_OP_C | QUEUE_OP_D);
    cr_assert_eq(o.exclude_count, 1);
    cr_assert_str_eq(o.route_column, "name");
    cr_assert(o.claim_check);
    cr_assert_str_eq(o.claim_prefix, QUEUE_CLAIM_PREFIX);
    cr_assert(queue_map_options_uses(&o, "eu"));
    cr_assert(queue_map_options_uses(&o, "changes"));
    queue_map_options_clear(&o);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"queue\": \"nope\"}", "m.jsonc:1:11: queue.queue: no queues target \"nope\""},
        {"{\"queue\": \"changes\",\n \"ops\": [\"x\"]}", "m.jsonc:2:10: queue.ops: unknown operation"},
        {"{\"queue\": \"changes\", \"oversize\": \"drop\"}", "m.jsonc:1:34: queue.oversize: expected"},
        {"{\"queue\": \"changes\", \"oversize\": \"claim_check\"}", "needs \"claim_check\""},
        {"{\"queue\": \"changes\", \"claim_check\": {\"bucket\": \"pail\"}}", "no r2 target \"pail\""},
        {"{\"queue\": \"changes\", \"colour\": 1}", "m.jsonc:1:22: queue: unknown key \"colour\""},
        {"{\"queue\": \"changes\", \"route\": {\"column\": \"name\"}}", "queue.route: needs"},
        {"{\"ops\": [\"c\"]}", "missing \"queue\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_mapping(bad[i].text);
        cr_assert_not(queue_map_options_parse(&mapping, cfg, &o, &err), "%s", bad[i].text);
        cr_assert_eq(err.code, ERR_CONFIG);
        cr_assert(strstr(err.msg, bad[i].msg), "%s: got \"%s\"", bad[i].text, err.msg);
    }
}

Test(queue, spool_events_checkpoint_and_reopen)
{
    set_mapping("{\"queue\": \"changes\"}");
    Target *t = open_queue("changes", false, 0);
    cr_assert_eq(t->durable.commit_lsn, 0);
    txn(t, 0x100, 3, "A");
    cr_assert(t->ops->has_pending(t));
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x100);
    cr_assert_eq(t->durable.end_lsn, 0x108);
    /* a transaction written but not flushed, then a crash */
    txn(t, 0x200, 2, "B");
    char *path = xasprintf("%s/queues/changes.ndjson", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"torn", f);
    fclose(f);
    t->ops->free(t);

    char *text = slurp(path);
    cr_assert_eq(count_lines(text), 5, "%s", text);
    free(text);
    t = open_queue("changes", false, 0);
    cr_assert_eq(t->durable.commit_lsn, 0x100);
    text = slurp(path);
    cr_assert_eq(count_lines(text), 3, "cut back to the checkpoint: %s", text);
    /* the last event of the transaction carries event_count */
    const char *last = strrchr(text, '{');
    cr_assert(strstr(last, "\"event_count\":3}}"), "%s", text);
    free(text);
    /* replayed transaction: skipped when at or below the checkpoint */
    txn(t, 0x100, 3, "A");
    txn(t, 0x200, 2, "B");
    /* rollback of an interrupted transaction cuts its lines */
    TxnInfo x = txn_at(0x300);
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    row(t, &x, CHANGE_INSERT, 0, "9", "C");
    row(t, &x, CHANGE_INSERT, 1, "10", "C");
    t->ops->rollback(t);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x200);
    t->ops->free(t);
    text = slurp(path);
    cr_assert_eq(count_lines(text), 5, "%s", text);
    cr_assert_null(strstr(text, "\"C\""));
    free(text);
    free(path);
}

Test(queue, rest_batches_within_limits_durable_after_push)
{
    set_mapping("{\"queue\": \"changes\"}");
    Target *t = open_queue("changes", true, 0);
    txn(t, 0x100, 250, "A");
    cr_assert_eq(fk.nreq, 0, "nothing pushed before flush");
    cr_assert(t->ops->has_pending(t));
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, 3);
    cr_assert_eq(fk.sizes[0], 100);
    cr_assert_eq(fk.sizes[2], 50);
    cr_assert_eq(t->durable.commit_lsn, 0x100);
    cr_assert(strstr(fk.last_body, "\"event_count\":250"), "%s", fk.last_body);
    cr_assert(strstr(fk.last_body, "\"id\":\"0/100:249\""), "%s", fk.last_body);
    cr_assert_not(t->ops->has_pending(t));

    /* big rows: the byte limit splits the batch */
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    txn(t, 0x200, 30, big);
    size_t before = fk.nreq;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_gt(fk.nreq - before, 2);
    for (size_t i = before; i < fk.nreq; i++)
        cr_assert_leq(fk.bytes[i], 256000);

    /* a retryable failure keeps everything; durable does not move */
    txn(t, 0x300, 5, "C");
    fk.fail_next = 1;
    fk.fail_code = ERR_HTTP;
    cr_assert_not(t->ops->flush(t, &err));
    cr_assert(err_retryable(&err));
    cr_assert_eq(t->durable.commit_lsn, 0x200);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x300);

    /* a transaction without events for this queue still moves the checkpoint */
    TxnInfo x = txn_at(0x400);
    cr_assert(t->ops->begin(t, &x, &err) && t->ops->commit(t, &x, &err), "%s", err.msg);
    cr_assert(t->ops->has_pending(t));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x400);

    /* a refusal stops the target with the queue and the LSN */
    txn(t, 0x500, 1, "D");
    fk.fail_next = 1;
    fk.fail_code = ERR_CF_API;
    cr_assert_not(t->ops->flush(t, &err));
    cr_assert_eq(err.code, ERR_CF_API);
    cr_assert(strstr(err.msg, "queue \"changes\"") && strstr(err.msg, "0/500"), "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x400);
    cr_assert_not(t->ops->begin(t, &x, &err));
    t->ops->free(t);
}

Test(queue, rest_bounded_buffer_pushes_full_batches)
{
    set_mapping("{\"queue\": \"changes\"}");
    Target *t = open_queue("changes", true, 300);
    TxnInfo x = txn_at(0x100);
    Err err;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    for (uint32_t i = 0; i < 1000; i++)
        row(t, &x, CHANGE_INSERT, i, "1", "A");
    cr_assert_gt(fk.nreq, 5, "pushed while the transaction is open");
    for (size_t i = 0; i < fk.nreq; i++)
        cr_assert_eq(fk.sizes[i], 100);
    cr_assert_eq(t->durable.commit_lsn, 0, "not durable before commit");
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.events, 1000);
    cr_assert_eq(t->durable.commit_lsn, 0x100);
    QueueStats st = queue_target_stats(t);
    cr_assert_eq(st.events, 1000);
    cr_assert_eq(st.requests, 10);
    t->ops->free(t);
}

Test(queue, filters_ops_exclude_route)
{
    set_mapping("{\"queue\": \"changes\", \"ops\": [\"c\", \"d\"], \"exclude\": [\"email\"],\n"
                " \"route\": {\"column\": \"name\", \"queues\": {\"EU\": \"eu\"}}}");
    Target *t = open_queue("changes", true, 0);
    Target *eu = open_queue("eu", true, 0);
    Target *both[2] = {t, eu};
    TxnInfo x = txn_at(0x100);
    Err err;
    for (int k = 0; k < 2; k++) {
        Target *q = both[k];
        cr_assert(q->ops->begin(q, &x, &err), "%s", err.msg);
        row(q, &x, CHANGE_INSERT, 0, "1", "US");
        row(q, &x, CHANGE_UPDATE, 1, "1", "US");
        row(q, &x, CHANGE_INSERT, 2, "2", "EU");
        row(q, &x, CHANGE_DELETE, 3, "2", "EU");
        cr_assert(q->ops->commit(q, &x, &err), "%s", err.msg);
        cr_assert(q->ops->flush(q, &err), "%s", err.msg);
    }
    cr_assert_eq(fk.nreq, 2);
    cr_assert_eq(fk.sizes[0], 1, "changes: the US insert only");
    cr_assert_eq(fk.sizes[1], 2, "eu: insert and delete");
    cr_assert(strstr(fk.last_body, "\"op\":\"d\""), "%s", fk.last_body);
    cr_assert(strstr(fk.last_body, "\"event_count\":2"), "%s", fk.last_body);
    cr_assert(strstr(fk.last_body, "\"total_order\":2"), "%s", fk.last_body);
    cr_assert_null(strstr(fk.last_body, "e@example.com"), "excluded: %s", fk.last_body);
    t->ops->free(t);
    eu->ops->free(eu);
}

Test(queue, oversize_refused_or_claim_checked)
{
    char *big = malloc(130001);
    memset(big, 'y', 130000);
    big[130000] = '\0';
    set_mapping("{\"queue\": \"changes\"}");
    Target *t = open_queue("changes", true, 0);
    TxnInfo x = txn_at(0x100);
    Err err;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    const char *v[NCOLS] = {"1", "e@example.com", big, "h", NULL, "1.5", "{}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    Change big_row = {.op = CHANGE_INSERT, .index = 0, .rel = rel, .new_tuple = &nt};
    cr_assert_not(t->ops->change(t, &x, &big_row, &err), "refused before it is staged");
    cr_assert_eq(err.code, ERR_TOO_LARGE);
    cr_assert(strstr(err.msg, "0/100:0") && strstr(err.msg, "claim_check") && strstr(err.msg, "key {\"id\":\"1\"}") &&
                  strstr(err.msg, "\"on_error\": \"skip\" in the \"queue\" section"),
              "%s", err.msg);
    t->ops->free(t);


    set_mapping("{\"queue\": \"changes\", \"oversize\": \"claim_check\", \"claim_check\": {\"bucket\": \"lake\"}}");
    t = open_queue("changes", true, 0);
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    row(t, &x, CHANGE_INSERT, 0, "1", big);
    row(t, &x, CHANGE_INSERT, 1, "2", "small");
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_str_eq(fk.claim_key, "wal2edge-claims/changes/0-100-0.json");
    cr_assert_gt(fk.claim_len, 130000);
    cr_assert_eq(fk.events, 2);
    cr_assert_eq(queue_target_stats(t).claim_checks, 1);
    t->ops->free(t);

    /* "on_error": "skip": the event goes to the dead-letter file, the next one is published as the
     * transaction's only event (event_count 1, no gap in total_order) */
    DeadLetter *dl = deadletter_new(dir);
    set_mapping("{\"queue\": \"changes\", \"on_error\": \"skip\"}");
    mapping.queue_on_error = MAP_ON_ERROR_SKIP; /* what mapping/mapping reads from it */
    t = open_queue("changes", true, 0);
    t->deadletter = dl;
    size_t events_before = fk.events;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    cr_assert(t->ops->change(t, &x, &big_row, &err), "%s", err.msg);
    row(t, &x, CHANGE_INSERT, 1, "2", "small");
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.events, events_before + 1);
    cr_assert(strstr(fk.last_body, "\"total_order\":1,") && strstr(fk.last_body, "\"event_count\":1"), "%s",
              fk.last_body);
    cr_assert_eq(deadletter_appended(dl), 1);
    t->ops->free(t);
    deadletter_free(dl);
    DlCount counts[2];
    size_t n = 0;
    cr_assert(deadletter_count(dir, counts, 2, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(counts[0].target, "queues.changes");
    char path[64];
    snprintf(path, sizeof path, "%s/%s", dir, DEADLETTER_FILE);
    unlink(path);
    free(big);
}

Test(queue, claim_check_into_local_r2_directory)
{
    char *big = malloc(130001);
    memset(big, 'z', 130000);
    big[130000] = '\0';
    set_mapping("{\"queue\": \"changes\", \"oversize\": \"claim_check\", \"claim_check\": {\"bucket\": \"lake\", "
                "\"prefix\": \"big\"}}");
    ConfigTarget ct = *config_target(cfg, TARGET_QUEUE, "changes");
    Err err;
    Target *t = queue_target_new(cfg, &ct, &maps, &test_cat, NULL, NULL, &err);
    cr_assert_not_null(t, "%s", err.msg);
    TxnInfo x = txn_at(0x100);
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    row(t, &x, CHANGE_INSERT, 0, "1", big);
    cr_assert(t->ops->commit(t, &x, &err) && t->ops->flush(t, &err), "%s", err.msg);
    t->ops->free(t);
    char *obj = xasprintf("%s/r2/lake/big/changes/0-100-0.json", dir);
    char *spool = xasprintf("%s/queues/changes.ndjson", dir);
    char *stored = slurp(obj);
    cr_assert_gt(strlen(stored), 130000);
    cr_assert(strstr(stored, "\"event_count\":1}}"));
    char *line = slurp(spool);
    cr_assert_lt(strlen(line), 2000);
    cr_assert(strstr(line, "\"claim_check\""), "%s", line);
    cr_assert(strstr(line, "\"db\":\"shop\""), "%s", line);
    free(stored);
    free(line);
    free(obj);
    free(spool);
    free(big);
}

Test(queue, a_fence_moves_the_checkpoint_without_an_event)
{
    set_mapping("{\"queue\": \"changes\"}");
    Err err;
    /* the spool: the checkpoint file follows at the next flush, and a reopen starts there */
    Target *t = open_queue("changes", false, 0);
    txn(t, 0x100, 2, "A");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    TargetCheckpoint at = target_fence_checkpoint(0x900);
    cr_assert(t->ops->fence(t, &at, 1793613600000000, &err), "%s", err.msg);
    cr_assert(t->ops->has_pending(t), "the fence waits for a flush");
    cr_assert_eq(target_durable(t).commit_lsn, 0x100);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(target_durable(t).commit_lsn, 0x8ff);
    cr_assert_eq(target_durable(t).end_lsn, 0x900);
    TargetCheckpoint older = target_fence_checkpoint(0x800);
    cr_assert(t->ops->fence(t, &older, 0, &err), "%s", err.msg);
    cr_assert_not(t->ops->has_pending(t), "a fence never moves the checkpoint back");
    t->ops->free(t);
    char *path = xasprintf("%s/queues/changes.ndjson", dir);
    char *text = slurp(path);
    cr_assert_eq(count_lines(text), 2, "no event for the fence: %s", text);
    free(text);
    free(path);
    t = open_queue("changes", false, 0);
    cr_assert_eq(target_durable(t).end_lsn, 0x900);
    txn(t, 0x8ff, 1, "skipped"); /* committed before the fence's position: applied already */
    txn(t, 0x900, 1, "B");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    t->ops->free(t);
    path = xasprintf("%s/queues/changes.ndjson", dir);
    text = slurp(path);
    cr_assert_eq(count_lines(text), 3, "%s", text);
    cr_assert_null(strstr(text, "skipped"), "%s", text);
    free(text);
    free(path);

    /* REST: no request, the checkpoint moves at the next flush */
    t = open_queue("changes", true, 0);
    txn(t, 0x100, 1, "A");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    size_t requests = fk.nreq;
    cr_assert(t->ops->fence(t, &at, 1793613600000000, &err), "%s", err.msg);
    cr_assert(t->ops->has_pending(t));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, requests, "a fence sends nothing to the queue");
    cr_assert_eq(target_durable(t).end_lsn, 0x900);
    cr_assert_not(t->ops->has_pending(t));
    t->ops->free(t);
}
