/* Unit tests for targets/kv through its embedded store (a real SQLite file, no network): keys from
 * templates, the key index deleting a row's stale keys without REPLICA IDENTITY FULL, deletes by
 * key, the checkpoint committed with the data and read back on reopen, rollback leaving nothing. */
#define _XOPEN_SOURCE 700
#include "../d1/d1_test_util.h"

#include <ftw.h>
#include <unistd.h>

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
    snprintf(dir, sizeof dir, "%s/w2e-kvemb-XXXXXX", base && base[0] ? base : ".");
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

TestSuite(kv_embedded, .init = setup, .fini = teardown);

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

/* "key=value" lines of the embedded namespace, ordered by key. */
static char *dump(void)
{
    Err err;
    const ConfigTarget *ct = config_target(cfg, TARGET_KV, "cache");
    Sqlite *db = sqlite_open(ct->embedded_path, false, &err);
    cr_assert_not_null(db, "%s", err.msg);
    SqliteStmt *st = sqlite_prepare(db, "SELECT key, CAST(value AS TEXT) FROM kv ORDER BY key", &err);
    cr_assert_not_null(st, "%s", err.msg);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    while (sqlite_step(st, &err) == 1)
        fprintf(f, "%s=%s\n", sqlite_column_text(st, 0, NULL), sqlite_column_text(st, 1, NULL));
    fclose(f);
    sqlite_finalize(st);
    sqlite_close(db);
    return out;
}

static void txn(Target *t, const TxnInfo *x, ChangeOp op, const char *const *newv, const char *const *oldv)
{
    Err err;
    cr_assert(t->ops->begin(t, x, &err), "%s", err.msg);
    change(t, x, op, newv, oldv);
    cr_assert(t->ops->commit(t, x, &err), "%s", err.msg);
}

Test(kv_embedded, keys_index_and_checkpoint)
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

Test(kv_embedded, a_fence_moves_the_checkpoint_with_no_key_written)
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
