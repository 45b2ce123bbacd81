/* Unit tests for targets/d1_embedded: synthetic transactions into a SQLite file, checkpoint, replay skip. */
#define _XOPEN_SOURCE 700
#include "d1_test_util.h"

#include <ftw.h>
#include <unistd.h>

#include "state/sqlite.h"
#include "targets/d1_embedded.h"

typedef struct Fx {
    char dir[256];
    Config *cfg;
    MappingSet *maps;
    Rel *rel;
} Fx;

static Fx fx;

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
    snprintf(fx.dir, sizeof fx.dir, "%s/w2e-d1emb-XXXXXX", base && base[0] ? base : ".");
    cr_assert_not_null(mkdtemp(fx.dir));
    char state[300];
    snprintf(state, sizeof state, "%s/state", fx.dir);
    fx.cfg = test_config(state);
    const char *texts[] = {users_mapping};
    fx.maps = test_maps(fx.cfg, texts, 1);
    fx.rel = test_rel(&test_tables[0]);
}

static void teardown(void)
{
    test_rel_free(fx.rel);
    mapping_set_free(fx.maps);
    config_free(fx.cfg);
    nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    log_redact_clear();
}

TestSuite(d1_embedded, .init = setup, .fini = teardown);

#define NCOLS 7

static Target *open_target(void)
{
    Err err;
    const ConfigTarget *ct = config_target(fx.cfg, TARGET_D1, "app");
    cr_assert_not_null(ct);
    Target *t = d1_embedded_target_new(ct, fx.maps, &test_cat, "slot1", &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void change(Target *t, const TxnInfo *txn, ChangeOp op, const char *const *newv,
                   const char *const *oldv)
{
    TestChangeBuf buf;
    Change c = test_change(&buf, fx.rel, op, newv, oldv, 'K', NCOLS);
    Err err;
    cr_assert(t->ops->change(t, txn, &c, &err), "%s", err.msg);
}

/* "id|email|full_name|avatar-hex|score|tags" rows, ordered by id. */
static char *dump(void)
{
    Err err;
    const ConfigTarget *ct = config_target(fx.cfg, TARGET_D1, "app");
    Sqlite *db = sqlite_open(ct->embedded_path, false, &err);
    cr_assert_not_null(db, "%s", err.msg);
    SqliteStmt *st = sqlite_prepare(db, "SELECT id, typeof(id), email, full_name, hex(avatar), "
                                        "score, tags FROM users ORDER BY id", &err);
    cr_assert_not_null(st, "%s", err.msg);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    while (sqlite_step(st, &err) == 1) {
        for (int c = 0; c < 7; c++) {
            const char *v = sqlite_column_text(st, c, NULL);
            fprintf(f, "%s%s", c ? "|" : "", v ? v : "NULL");
        }
        fprintf(f, "\n");
    }
    fclose(f);
    sqlite_finalize(st);
    sqlite_close(db);
    return out;
}

Test(d1_embedded, applies_transactions_with_checkpoint)
{
    Target *t = open_target();
    cr_expect_eq(t->durable.commit_lsn, 0);
    cr_expect_str_eq(t->name, "d1.app");
    TxnInfo a = {.xid = 700, .commit_lsn = 0x1000, .end_lsn = 0x1010, .commit_time_us = 1793613600000000};
    Err err;
    cr_assert(t->ops->begin(t, &a, &err), "%s", err.msg);
    const char *r1[NCOLS] = {"9007199254740993", "ada@example.com", "Ada", "h", "\\x00ff", "NaN", "{x}"};
    const char *r2[NCOLS] = {"2", "grace@example.com", "Grace", "h", NULL, "0.25", "{}"};
    change(t, &a, CHANGE_INSERT, r1, NULL);
    change(t, &a, CHANGE_INSERT, r2, NULL);
    cr_assert(t->ops->commit(t, &a, &err), "%s", err.msg);
    cr_expect(t->ops->has_pending(t));
    TxnInfo b = {.xid = 701, .commit_lsn = 0x2000, .end_lsn = 0x2010, .commit_time_us = 1793613601000000};
    cr_assert(t->ops->begin(t, &b, &err));
    const char *upd[NCOLS] = {"2", "g@example.com", TOAST, "h", TOAST, "1.5", TOAST};
    change(t, &b, CHANGE_UPDATE, upd, NULL);
    cr_assert(t->ops->commit(t, &b, &err));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_not(t->ops->has_pending(t));
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    cr_expect_eq(t->durable.end_lsn, 0x2010);
    char *rows = dump();
    cr_expect_str_eq(rows, "2|integer|g@example.com|Grace||1.5|[]\n"
                           "9007199254740993|integer|ada@example.com|Ada|00FF|NaN|[\"x\"]\n");
    free(rows);
    t->ops->free(t);

    /* reopen: the checkpoint is durable; replayed transactions are skipped */
    t = open_target();
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    cr_assert(t->ops->begin(t, &b, &err));
    const char *bad[NCOLS] = {"2", "replayed@example.com", "X", "h", NULL, NULL, NULL};
    change(t, &b, CHANGE_INSERT, bad, NULL);
    cr_assert(t->ops->commit(t, &b, &err));
    cr_expect_not(t->ops->has_pending(t));
    TxnInfo c = {.xid = 702, .commit_lsn = 0x3000, .end_lsn = 0x3010, .commit_time_us = 1793613602000000};
    cr_assert(t->ops->begin(t, &c, &err));
    const char *key[NCOLS] = {"9007199254740993", NULL, NULL, NULL, NULL, NULL, NULL};
    change(t, &c, CHANGE_DELETE, NULL, key);
    cr_assert(t->ops->commit(t, &c, &err));
    cr_assert(t->ops->flush(t, &err));
    rows = dump();
    cr_expect_str_eq(rows, "2|integer|g@example.com|Grace||1.5|[]\n");
    free(rows);

    /* truncate */
    TxnInfo d = {.xid = 703, .commit_lsn = 0x4000, .end_lsn = 0x4010};
    cr_assert(t->ops->begin(t, &d, &err));
    const Rel *rels[] = {fx.rel};
    Change tc = {.op = CHANGE_TRUNCATE, .truncate_count = 1, .truncate_rels = rels};
    cr_assert(t->ops->change(t, &d, &tc, &err), "%s", err.msg);
    cr_assert(t->ops->commit(t, &d, &err));
    cr_assert(t->ops->flush(t, &err));
    rows = dump();
    cr_expect_str_eq(rows, "");
    free(rows);
    t->ops->free(t);
}

Test(d1_embedded, failed_change_rolls_back_unflushed_work)
{
    Target *t = open_target();
    Err err;
    TxnInfo a = {.xid = 1, .commit_lsn = 0x1000, .end_lsn = 0x1010};
    cr_assert(t->ops->begin(t, &a, &err));
    const char *r1[NCOLS] = {"1", "a@example.com", "A", "h", NULL, NULL, NULL};
    change(t, &a, CHANGE_INSERT, r1, NULL);
    cr_assert(t->ops->commit(t, &a, &err));
    TxnInfo b = {.xid = 2, .commit_lsn = 0x2000, .end_lsn = 0x2010};
    cr_assert(t->ops->begin(t, &b, &err));
    /* a unique violation on email */
    const char *dup[NCOLS] = {"2", "a@example.com", "B", "h", NULL, NULL, NULL};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, dup, NCOLS);
    Change c = {.op = CHANGE_INSERT, .rel = fx.rel, .new_tuple = &nt};
    cr_assert_not(t->ops->change(t, &b, &c, &err));
    cr_expect_eq(err.code, ERR_STORE);
    cr_expect_eq(t->durable.commit_lsn, 0);
    cr_assert_not(t->ops->begin(t, &b, &err));
    t->ops->free(t);
    t = open_target();
    cr_expect_eq(t->durable.commit_lsn, 0);
    char *rows = dump();
    cr_expect_str_eq(rows, "");
    free(rows);
    t->ops->free(t);
}

Test(d1_embedded, mapping_problems_are_config_errors)
{
    const char *texts[] = {"{\"table\": \"public.nokey\", \"d1\": {\"database\": \"app\"}}"};
    MappingSet *maps = test_maps(fx.cfg, texts, 1);
    Err err;
    const ConfigTarget *ct = config_target(fx.cfg, TARGET_D1, "app");
    cr_expect_null(d1_embedded_target_new(ct, maps, &test_cat, "slot1", &err));
    cr_expect_eq(err.code, ERR_CONFIG);
    cr_expect(strstr(err.msg, "public.nokey has no primary key") != NULL, "%s", err.msg);
    mapping_set_free(maps);
}

/* One text value of the checkpoint row of slot1. */
static char *state_value(const char *col)
{
    Err err;
    Sqlite *db = sqlite_open(config_target(fx.cfg, TARGET_D1, "app")->embedded_path, false, &err);
    cr_assert_not_null(db, "%s", err.msg);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT \"%s\" FROM _wal2edge_state WHERE slot = 'slot1'", col);
    SqliteStmt *st = sqlite_prepare(db, sql, &err);
    cr_assert_not_null(st, "%s", err.msg);
    char *out = sqlite_step(st, &err) == 1 ? strdup(sqlite_column_text(st, 0, NULL)) : NULL;
    sqlite_finalize(st);
    sqlite_close(db);
    return out;
}

Test(d1_embedded, checkpoint_position_compares_as_text)
{
    Target *t = open_target();
    Err err;
    /* end LSNs whose "X/X" text sorts wrong: 0/FFFFFFF0 then 1/10 */
    TxnInfo a = {.xid = 1, .commit_lsn = 0xFFFFFFE0, .end_lsn = 0xFFFFFFF0};
    TxnInfo b = {.xid = 2, .commit_lsn = UINT64_C(0x100000000), .end_lsn = UINT64_C(0x100000010)};
    const TxnInfo *txns[] = {&a, &b};
    const char *want[] = {"00000000FFFFFFF0", "0000000100000010"};
    for (int i = 0; i < 2; i++) {
        cr_assert(t->ops->begin(t, txns[i], &err), "%s", err.msg);
        const char *r[NCOLS] = {i ? "2" : "1", i ? "b@example.com" : "a@example.com", "A", "h", NULL, NULL, NULL};
        change(t, txns[i], CHANGE_INSERT, r, NULL);
        cr_assert(t->ops->commit(t, txns[i], &err));
        cr_assert(t->ops->flush(t, &err), "%s", err.msg);
        char *pos = state_value("position");
        cr_expect_str_eq(pos, want[i]);
        free(pos);
    }
    /* a fence moves it too, with no change of the database's tables */
    TargetCheckpoint at = target_fence_checkpoint(UINT64_C(0x100000400));
    cr_assert(t->ops->fence(t, &at, 1793613600000000, &err), "%s", err.msg);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    char *pos = state_value("position");
    cr_expect_str_eq(pos, "0000000100000400");
    free(pos);
    t->ops->free(t);
}

Test(d1_embedded, checkpoint_table_without_position_is_upgraded_on_open)
{
    Err err;
    const ConfigTarget *ct = config_target(fx.cfg, TARGET_D1, "app");
    Sqlite *db = sqlite_open(ct->embedded_path, true, &err);
    cr_assert_not_null(db, "%s", err.msg);
    /* the table as wal2edge made it before the position */
    cr_assert(sqlite_exec(db, "CREATE TABLE _wal2edge_state (slot TEXT NOT NULL PRIMARY KEY, commit_lsn TEXT "
                              "NOT NULL, end_lsn TEXT NOT NULL, updated_at TEXT NOT NULL);"
                              "INSERT INTO _wal2edge_state VALUES ('slot1', '16/B374D800', '16/B374D848', 'x');",
                          &err),
              "%s", err.msg);
    sqlite_close(db);
    for (int i = 0; i < 2; i++) { /* twice: the upgrade is idempotent */
        Target *t = open_target();
        cr_expect_eq(t->durable.end_lsn, UINT64_C(0x16B374D848));
        char *pos = state_value("position");
        cr_expect_str_eq(pos, "00000016B374D848");
        free(pos);
        t->ops->free(t);
    }
}
