/* Unit tests for targets/kv. Through its embedded store (a real SQLite file, no network): keys from
 * templates, the key index deleting a row's stale keys without REPLICA IDENTITY FULL, deletes by
 * key, the checkpoint committed with the data and read back on reopen, rollback leaving nothing,
 * the fence. Through a fake HTTP seam (KvHttp) for a REST namespace: the bulk PUT and DELETE
 * requests a transaction produces at flush (none before), the stale key's DELETE when a key's
 * inputs change, coalescing, keys the API did not take retried, a failed request keeping the
 * checkpoint and everything for the next flush, the checkpoint in the index file. */
#define _XOPEN_SOURCE 700
#include "../d1/d1_test_util.h"

#include <ftw.h>
#include <unistd.h>

#include "core/mem.h"
#include "state/sqlite.h"
#include "targets/kv.h"

#define NCOLS 7 /* id, email, name, password_hash, avatar, score, tags (total is generated) */

static const char kv_mapping[] =
    "{ \"table\": \"public.users\",\n"
    "  \"kv\": [ { \"namespace\": \"cache\", \"key\": \"user:{id}\", \"value\": \"row\" },\n"
    "           { \"namespace\": \"cache\", \"key\": \"email:{email}\", \"value\": \"{id}\" } ] }";

static char dir[256];
static Config *cfg;
static MappingSet *maps;
static Rel *rel;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/w2e-kv-XXXXXX", base && base[0] ? base : ".");
    cr_assert_not_null(mkdtemp(dir));
    char state[300];
    snprintf(state, sizeof state, "%s/state", dir);
    cfg = test_config(state);
    const char *texts[] = {kv_mapping};
    maps = test_maps(cfg, texts, 1);
    rel = test_rel(&test_tables[0]);
}

static void teardown(void)
{
    test_rel_free(rel);
    mapping_set_free(maps);
    config_free(cfg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    log_redact_clear();
}

TestSuite(kv, .init = setup, .fini = teardown);

static Target *open_target(void)
{
    Err err;
    const ConfigTarget *ct = config_target(cfg, TARGET_KV, "cache");
    cr_assert_not_null(ct);
    Target *t = kv_target_new(cfg, ct, maps, &test_cat, NULL, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void change(Target *t, const TxnInfo *txn, ChangeOp op, const char *const *newv, const char *const *oldv)
{
    TestChangeBuf buf;
    Change c = test_change(&buf, rel, op, newv, oldv, 'K', NCOLS);
    Err err;
    cr_assert(t->ops->change(t, txn, &c, &err), "%s", err.msg);
}

/* "a=b" + end for each row (a, b) of sql over the embedded namespace's file. */
static char *rows_of(const char *sql, const char *end)
{
    Err err;
    const ConfigTarget *ct = config_target(cfg, TARGET_KV, "cache");
    Sqlite *db = sqlite_open(ct->embedded_path, false, &err);
    cr_assert_not_null(db, "%s", err.msg);
    SqliteStmt *st = sqlite_prepare(db, sql, &err);
    cr_assert_not_null(st, "%s", err.msg);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    while (sqlite_step(st, &err) == 1)
        fprintf(f, "%s=%s%s", sqlite_column_text(st, 0, NULL), sqlite_column_text(st, 1, NULL), end);
    fclose(f);
    sqlite_finalize(st);
    sqlite_close(db);
    return out;
}

/* "key=value" lines of the embedded namespace, ordered by key. */
static char *dump(void) { return rows_of("SELECT key, CAST(value AS TEXT) FROM kv ORDER BY key", "\n"); }

/* The keys stored (dump) and the key index's rows, ordered by identity ("[\"1\"]=[\"user:1\"] "). */
static void expect_store(const char *keys, const char *index)
{
    char *got = dump(), *ix = rows_of("SELECT pk, keys FROM _wal2edge_kv_rows ORDER BY pk", " ");
    cr_expect_str_eq(got, keys);
    cr_expect_str_eq(ix, index);
    free(got);
    free(ix);
}

static void txn(Target *t, const TxnInfo *x, ChangeOp op, const char *const *newv, const char *const *oldv)
{
    Err err;
    cr_assert(t->ops->begin(t, x, &err), "%s", err.msg);
    change(t, x, op, newv, oldv);
    cr_assert(t->ops->commit(t, x, &err), "%s", err.msg);
}

Test(kv, keys_index_and_checkpoint)
{
    Target *t = open_target();
    cr_expect_str_eq(t->name, "kv.cache");
    cr_expect_eq(t->durable.commit_lsn, 0);
    const char *ada[NCOLS] = {"1", "ada@example.com", "Ada", "h", NULL, "1.5", "{}"};
    const char *grace[NCOLS] = {"2", "grace@example.com", "Grace", "h", NULL, "2", "{}"};
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    Err err;
    cr_assert(t->ops->begin(t, &a, &err), "%s", err.msg);
    change(t, &a, CHANGE_INSERT, ada, NULL);
    change(t, &a, CHANGE_INSERT, grace, NULL);
    cr_assert(t->ops->commit(t, &a, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0x1000);
    cr_expect_eq(t->durable.end_lsn, 0x1010);
    char *got = dump();
    cr_expect(strstr(got, "email:ada@example.com=1\n") != NULL, "%s", got);
    cr_expect(strstr(got, "email:grace@example.com=2\n") != NULL, "%s", got);
    cr_expect(strstr(got, "user:2={") != NULL && strstr(got, "\"email\":\"grace@example.com\"") != NULL, "%s", got);
    free(got);

    /* grace's email changes: an UPDATE carries no old tuple (REPLICA IDENTITY DEFAULT, key unchanged),
     * yet the stale key goes, found through the key index */
    const char *grace2[NCOLS] = {"2", "g@example.com", "Grace", "h", NULL, "2", "{}"};
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    txn(t, &b, CHANGE_UPDATE, grace2, NULL);
    /* ada goes: a DELETE carries only the key */
    const char *ada_key[NCOLS] = {"1", NULL, NULL, NULL, NULL, NULL, NULL};
    TxnInfo c = {.xid = 3, .commit_lsn = 0x3000, .end_lsn = 0x3010, .commit_time_us = 1793613602000000};
    txn(t, &c, CHANGE_DELETE, NULL, ada_key);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0x3000);
    got = dump();
    cr_expect_null(strstr(got, "grace@example.com=2"), "the stale key is deleted: %s", got);
    cr_expect(strstr(got, "email:g@example.com=2\n") != NULL, "%s", got);
    cr_expect_null(strstr(got, "user:1="), "%s", got);
    cr_expect_null(strstr(got, "email:ada@example.com"), "%s", got);
    free(got);

    /* a transaction begun and rolled back leaves nothing */
    const char *eve[NCOLS] = {"3", "eve@example.com", "Eve", "h", NULL, "3", "{}"};
    TxnInfo d = {.xid = 4, .commit_lsn = 0x4000, .end_lsn = 0x4010, .commit_time_us = 1793613603000000};
    cr_assert(t->ops->begin(t, &d, &err), "%s", err.msg);
    change(t, &d, CHANGE_INSERT, eve, NULL);
    t->ops->rollback(t);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    got = dump();
    cr_expect_null(strstr(got, "eve@"), "%s", got);
    free(got);
    t->ops->free(t);

    /* reopen: the checkpoint was committed with the data */
    t = open_target();
    cr_expect_eq(t->durable.commit_lsn, 0x3000);
    cr_expect_eq(t->durable.end_lsn, 0x3010);
    t->ops->free(t);
}

Test(kv, a_fence_moves_the_checkpoint_with_no_key_written)
{
    Target *t = open_target();
    const char *ada[NCOLS] = {"1", "ada@example.com", "Ada", "h", NULL, "1.5", "{}"};
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    txn(t, &a, CHANGE_INSERT, ada, NULL);
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *before = dump();
    TargetCheckpoint at = target_fence_checkpoint(0x9000);
    cr_assert(t->ops->fence(t, &at, 1793613601000000, &err), "%s", err.msg);
    cr_assert(t->ops->has_pending(t), "the fence waits for a flush");
    cr_assert_eq(target_durable(t).commit_lsn, 0x1000);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(target_durable(t).commit_lsn, 0x8fff);
    cr_assert_eq(target_durable(t).end_lsn, 0x9000);
    char *after = dump();
    cr_expect_str_eq(after, before, "no key changes");
    free(before);
    free(after);
    TargetCheckpoint older = target_fence_checkpoint(0x5000);
    cr_assert(t->ops->fence(t, &older, 0, &err), "%s", err.msg);
    cr_assert_not(t->ops->has_pending(t), "a fence never moves the checkpoint back");
    /* not in the middle of a transaction */
    TxnInfo b = {.xid = 2, .commit_lsn = 0xa000, .end_lsn = 0xa010, .commit_time_us = 1793613602000000};
    cr_assert(t->ops->begin(t, &b, &err), "%s", err.msg);
    TargetCheckpoint later = target_fence_checkpoint(0xb000);
    cr_assert(t->ops->fence(t, &later, 0, &err), "%s", err.msg);
    t->ops->rollback(t);
    t->ops->free(t);

    t = open_target();
    cr_expect_eq(target_durable(t).end_lsn, 0x9000, "the fence's checkpoint was committed");
    const char *eve[NCOLS] = {"3", "eve@example.com", "Eve", "h", NULL, "3", "{}"};
    TxnInfo early = {.xid = 3, .commit_lsn = 0x8fff, .end_lsn = 0x9000, .commit_time_us = 1793613600500000};
    txn(t, &early, CHANGE_INSERT, eve, NULL);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *got = dump();
    cr_expect_null(strstr(got, "eve@"), "a transaction before the fence's position counts as applied: %s", got);
    free(got);
    t->ops->free(t);
}

/* Keys from the identity alone (the fixed-key path): a one-row transaction's put and index row wait
 * for its commit, with no savepoint; a rollback before it, of one row or of more, leaves nothing. */
Test(kv, a_one_row_transaction_waits_for_its_commit_and_rolls_back_whole)
{
    static const char fixed[] = "{ \"table\": \"public.users\",\n"
                                "  \"kv\": [ { \"namespace\": \"cache\", \"key\": \"user:{id}\", \"value\": \"{id}\" } ] }";
    mapping_set_free(maps);
    const char *texts[] = {fixed};
    maps = test_maps(cfg, texts, 1);
    Target *t = open_target();
    Err err;
    const char *r1[NCOLS] = {"1", "a@example.com", "A", "h", NULL, "1", "{}"};
    const char *r2[NCOLS] = {"2", "b@example.com", "B", "h", NULL, "2", "{}"};
    const char *r3[NCOLS] = {"3", "c@example.com", "C", "h", NULL, "3", "{}"};
    const char *k2[NCOLS] = {"2", NULL, NULL, NULL, NULL, NULL, NULL};
    /* an insert and its update: one row */
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    cr_assert(t->ops->begin(t, &a, &err), "%s", err.msg);
    change(t, &a, CHANGE_INSERT, r1, NULL);
    change(t, &a, CHANGE_UPDATE, r1, NULL);
    cr_assert(t->ops->commit(t, &a, &err), "%s", err.msg);
    /* one row rolled back, then two */
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    cr_assert(t->ops->begin(t, &b, &err), "%s", err.msg);
    change(t, &b, CHANGE_INSERT, r2, NULL);
    t->ops->rollback(t);
    cr_assert(t->ops->begin(t, &b, &err), "%s", err.msg);
    change(t, &b, CHANGE_INSERT, r2, NULL);
    change(t, &b, CHANGE_INSERT, r3, NULL);
    t->ops->rollback(t);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    expect_store("user:1=1\n", "[\"1\"]=[\"user:1\"] ");
    /* the row rolled back is written again (nothing remembers it as kept); an insert and a delete of
     * one row in one transaction leave neither key nor index row */
    TxnInfo c = {.xid = 3, .commit_lsn = 0x3000, .end_lsn = 0x3010, .commit_time_us = 1793613602000000};
    txn(t, &c, CHANGE_INSERT, r2, NULL);
    TxnInfo d = {.xid = 4, .commit_lsn = 0x4000, .end_lsn = 0x4010, .commit_time_us = 1793613603000000};
    cr_assert(t->ops->begin(t, &d, &err), "%s", err.msg);
    change(t, &d, CHANGE_INSERT, r3, NULL);
    const char *k3[NCOLS] = {"3", NULL, NULL, NULL, NULL, NULL, NULL};
    change(t, &d, CHANGE_DELETE, NULL, k3);
    cr_assert(t->ops->commit(t, &d, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    expect_store("user:1=1\nuser:2=2\n", "[\"1\"]=[\"user:1\"] [\"2\"]=[\"user:2\"] ");
    /* a delete in its own transaction finds the key through the index */
    TxnInfo e = {.xid = 5, .commit_lsn = 0x5000, .end_lsn = 0x5010, .commit_time_us = 1793613604000000};
    txn(t, &e, CHANGE_DELETE, NULL, k2);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    t->ops->free(t);
    t = open_target();
    cr_expect_eq(t->durable.commit_lsn, 0x5000);
    t->ops->free(t);
    expect_store("user:1=1\n", "[\"1\"]=[\"user:1\"] ");
}

/* ---- REST, through a fake HTTP seam ---- */

typedef struct FakeKv {
    char log[8192];            /* "PUT key=value;...\nDEL key;...\n" per request, in order */
    int requests, sleeps;
    int fail_next;             /* the next request fails with ERR_HTTP (retryable) */
    char refuse_once[128];     /* a key the next request containing it reports as unsuccessful */
    char meta_of_user1[512];   /* the metadata last written with key user:1 */
    const char *listing[8][2]; /* what list_keys answers: {key, metadata} (one page) */
    int lists;
} FakeKv;

static FakeKv fake;

/* Append text (len bytes) to the request log. */
static void fake_log(const char *text, size_t len)
{
    size_t n = strlen(fake.log);
    cr_assert_lt(n + len, sizeof fake.log);
    memcpy(fake.log + n, text, len);
    fake.log[n + len] = '\0';
}

static bool fake_result(const char *const *keys, size_t n, CfKvBulkResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    fake.requests++;
    if (fake.fail_next) {
        fake.fail_next = 0;
        return err_set(err, ERR_HTTP, "HTTP 503 from the fake");
    }
    for (size_t i = 0; i < n; i++)
        if (fake.refuse_once[0] && strcmp(keys[i], fake.refuse_once) == 0) {
            out->unsuccessful_keys = xcalloc(1, sizeof *out->unsuccessful_keys);
            out->unsuccessful_keys[0] = xstrdup(keys[i]);
            out->unsuccessful_count = 1;
            fake.refuse_once[0] = '\0';
        }
    out->successful = n - out->unsuccessful_count;
    out->requests = 1;
    return true;
}

static bool fake_write(void *user, const char *ns, const CfKvPair *pairs, size_t n, CfKvBulkResult *out, Err *err)
{
    (void)user;
    cr_assert_str_eq(ns, "ns-0123");
    const char **keys = xcalloc(n + 1, sizeof *keys);
    fake_log("PUT", 3);
    for (size_t i = 0; i < n; i++) {
        keys[i] = pairs[i].key;
        if (strcmp(pairs[i].key, "user:1") == 0 && pairs[i].metadata_json)
            snprintf(fake.meta_of_user1, sizeof fake.meta_of_user1, "%s", pairs[i].metadata_json);
        fake_log(" ", 1);
        fake_log(pairs[i].key, strlen(pairs[i].key));
        fake_log("=", 1);
        fake_log(pairs[i].value, pairs[i].value_len);
    }
    fake_log("\n", 1);
    bool ok = fake_result(keys, n, out, err);
    free(keys);
    return ok;
}

static bool fake_delete(void *user, const char *ns, const char *const *keys, size_t n, CfKvBulkResult *out, Err *err)
{
    (void)user;
    cr_assert_str_eq(ns, "ns-0123");
    fake_log("DEL", 3);
    for (size_t i = 0; i < n; i++) {
        fake_log(" ", 1);
        fake_log(keys[i], strlen(keys[i]));
    }
    fake_log("\n", 1);
    return fake_result(keys, n, out, err);
}

static bool fake_list(void *user, const char *ns, const char *cursor, CfKvList *out, Err *err)
{
    (void)user;
    (void)err;
    cr_assert_str_eq(ns, "ns-0123");
    cr_assert_null(cursor, "one page");
    fake.lists++;
    memset(out, 0, sizeof *out);
    out->keys = xcalloc(8, sizeof *out->keys);
    for (size_t i = 0; i < 8 && fake.listing[i][0]; i++) {
        out->keys[i].name = xstrdup(fake.listing[i][0]);
        out->keys[i].metadata_json = fake.listing[i][1] ? xstrdup(fake.listing[i][1]) : NULL;
        out->count++;
    }
    return true;
}

static void fake_sleep(void *user, int64_t ms)
{
    (void)user;
    (void)ms;
    fake.sleeps++;
}

static Target *open_rest(void)
{
    ConfigTarget ct = *config_target(cfg, TARGET_KV, "cache");
    static char ns[] = "ns-0123";
    ct.remote_id = ns;
    KvHttp http = {.bulk_write = fake_write, .bulk_delete = fake_delete, .list_keys = fake_list,
                   .sleep_ms = fake_sleep};
    Err err;
    Target *t = kv_target_new_http(cfg, &ct, maps, &test_cat, &http, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

/* The requests made since the last call, and forget them. */
static char *requests(void)
{
    char *s = xstrdup(fake.log);
    fake.log[0] = '\0';
    return s;
}

Test(kv, rest_requests_of_a_transaction_stale_keys_and_the_checkpoint)
{
    memset(&fake, 0, sizeof fake);
    Target *t = open_rest();
    cr_expect_eq(target_durable(t).commit_lsn, 0);
    const char *ada[NCOLS] = {"1", "ada@example.com", "Ada", "h", NULL, "1.5", "{}"};
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    txn(t, &a, CHANGE_INSERT, ada, NULL);
    cr_assert_eq(fake.requests, 0, "nothing is sent before the flush");
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *got = requests();
    cr_expect_eq(fake.requests, 1, "one bulk write, no delete: %s", got);
    cr_expect(strncmp(got, "PUT email:ada@example.com=1 user:1={", 36) == 0, "keys in key order: %s", got);
    cr_expect(strstr(got, "\"email\":\"ada@example.com\"") != NULL, "%s", got);
    free(got);
    cr_expect_eq(target_durable(t).commit_lsn, 0x1000);
    KvStats st = kv_target_stats(t);
    cr_expect_eq(st.puts, 2);
    cr_expect_eq(st.requests, 2, "the listing at open (no checkpoint here) and one bulk write");

    /* ada's email changes (no old tuple): the new key is written, the stale one deleted */
    const char *ada2[NCOLS] = {"1", "a@example.com", "Ada", "h", NULL, "1.5", "{}"};
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    txn(t, &b, CHANGE_UPDATE, ada2, NULL);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    got = requests();
    cr_expect(strncmp(got, "PUT email:a@example.com=1 user:1={", 34) == 0, "%s", got);
    cr_expect(strstr(got, "\nDEL email:ada@example.com\n") != NULL, "the stale key goes: %s", got);
    free(got);
    cr_expect_eq(target_durable(t).commit_lsn, 0x2000);

    /* a delete carries only the key: both keys go, found through the index */
    const char *ada_key[NCOLS] = {"1", NULL, NULL, NULL, NULL, NULL, NULL};
    TxnInfo c = {.xid = 3, .commit_lsn = 0x3000, .end_lsn = 0x3010, .commit_time_us = 1793613602000000};
    txn(t, &c, CHANGE_DELETE, NULL, ada_key);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    got = requests();
    cr_expect_str_eq(got, "DEL email:a@example.com user:1\n");
    free(got);
    t->ops->free(t);

    /* the checkpoint is in the index file */
    t = open_rest();
    cr_expect_eq(target_durable(t).commit_lsn, 0x3000);
    cr_expect_eq(target_durable(t).end_lsn, 0x3010);
    t->ops->free(t);
}

Test(kv, rest_coalesces_retries_refused_keys_and_keeps_a_failed_window)
{
    memset(&fake, 0, sizeof fake);
    Target *t = open_rest();
    const char *v1[NCOLS] = {"2", "g@example.com", "Grace", "h", NULL, "1", "{}"};
    const char *v2[NCOLS] = {"2", "g@example.com", "Grace H", "h", NULL, "2", "{}"};
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    txn(t, &a, CHANGE_INSERT, v1, NULL);
    txn(t, &b, CHANGE_UPDATE, v2, NULL);
    /* the first request fails: nothing moves, everything is kept */
    fake.fail_next = 1;
    Err err;
    cr_assert_not(t->ops->flush(t, &err));
    cr_expect(err_retryable(&err), "%s", err.msg);
    cr_expect_eq(target_durable(t).commit_lsn, 0);
    cr_expect(t->ops->has_pending(t));
    free(requests());
    /* the next flush sends the window once per key, the newest value; a key the API did not
     * take is sent again after a pause */
    snprintf(fake.refuse_once, sizeof fake.refuse_once, "user:2");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *got = requests();
    cr_expect_null(strstr(got, "\"Grace\""), "the older value is coalesced away: %s", got);
    cr_expect(strstr(got, "\"Grace H\"") != NULL, "%s", got);
    cr_expect(strstr(got, "\nPUT user:2={") != NULL, "user:2 is sent again alone: %s", got);
    free(got);
    cr_expect_geq(fake.sleeps, 1, "a pause before the retry");
    KvStats st = kv_target_stats(t);
    cr_expect_eq(st.retried_keys, 1);
    cr_expect_eq(st.coalesced, 2, "two writes replaced within the window");
    cr_expect_eq(target_durable(t).commit_lsn, 0x2000);
    cr_expect_not(t->ops->has_pending(t));
    t->ops->free(t);
}

/* A lost state directory (a standby taking over): the index is rebuilt from the row each listed
 * key's metadata names, so a key whose inputs change is still deleted. */
Test(kv, rest_index_rebuilt_from_the_keys_metadata_deletes_a_stale_key)
{
    memset(&fake, 0, sizeof fake);
    Target *t = open_rest();
    cr_expect_eq(fake.lists, 1, "no checkpoint here: the namespace is listed");
    const char *ada[NCOLS] = {"1", "ada@example.com", "Ada", "h", NULL, "1.5", "{}"};
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    txn(t, &a, CHANGE_INSERT, ada, NULL);
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect(strstr(fake.meta_of_user1, ",\"wal2edge_row\":{\"table\":\"public.users\",\"pk\":[\"1\"]}") != NULL,
              "the row's identity in the metadata: %s", fake.meta_of_user1);
    t->ops->free(t);
    t = open_rest();
    cr_expect_eq(fake.lists, 1, "a checkpoint here: no listing");
    t->ops->free(t);

    /* the state directory is lost; KV has ada's two keys, a key of another table, one without a tag */
    char kvdir[300];
    snprintf(kvdir, sizeof kvdir, "%s/state/kv", dir);
    nftw(kvdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    const char *meta = fake.meta_of_user1;
    const char *other = "{\"wal2edge_row\":{\"table\":\"public.orders\",\"pk\":[\"1\"]}}";
    const char *listing[][2] = {{"email:ada@example.com", meta}, {"foreign", NULL}, {"order:1", other}, {"user:1", meta}};
    memcpy(fake.listing, listing, sizeof listing);
    free(requests());
    t = open_rest();
    cr_expect_eq(fake.lists, 2, "no checkpoint: the namespace is listed again");
    cr_expect_eq(kv_target_stats(t).requests, 1, "the listing counts as a request");
    const char *ada2[NCOLS] = {"1", "a@example.com", "Ada", "h", NULL, "1.5", "{}"};
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    txn(t, &b, CHANGE_UPDATE, ada2, NULL);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *got = requests();
    cr_expect(strstr(got, "\nDEL email:ada@example.com\n") != NULL, "the stale key goes: %s", got);
    cr_expect_null(strstr(got, "order:1"), "another table's key stays: %s", got);
    cr_expect_null(strstr(got, "foreign"), "a key without a tag stays: %s", got);
    free(got);
    t->ops->free(t);
}
