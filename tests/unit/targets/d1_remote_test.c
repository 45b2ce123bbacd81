/* Unit tests for targets/d1_remote with a fake D1 batch sender: grouping, the checkpoint in
 * the same request, splitting by the caps, keeping the batch on retryable failures, narrowing
 * a refused batch to one transaction, rollback, and reading the checkpoint on open. */
#include "../d1/d1_test_util.h"

#include <time.h>
#include <unistd.h>

#include "pipeline/deadletter.h"
#include "targets/d1_remote.h"

#define NCOLS 7
#define MAX_REQ 64

typedef struct Fake {
    char *reqs[MAX_REQ];        /* each request: one line per statement, "SQL-head | params" */
    size_t nreq;
    int fail_next;              /* fail this many next requests with fail_code */
    ErrCode fail_code;
    const char *refuse_param;   /* refuse (ERR_CF_API) every request with this parameter value */
    const char *ck_commit, *ck_end;   /* the checkpoint row the open request returns */
    bool no_position;                 /* the checkpoint table predates its position column */
} Fake;

static Fake fk;
static Config *cfg;
static MappingSet *maps;
static Rel *rel;

static void setup(void)
{
    memset(&fk, 0, sizeof fk);
    cfg = test_config("state-unused");
    const char *texts[] = {users_mapping};
    maps = test_maps(cfg, texts, 1);
    rel = test_rel(&test_tables[0]);
}

static void teardown(void)
{
    for (size_t i = 0; i < fk.nreq; i++)
        free(fk.reqs[i]);
    test_rel_free(rel);
    mapping_set_free(maps);
    config_free(cfg);
    log_redact_clear();
}

TestSuite(d1_remote, .init = setup, .fini = teardown);

static bool fake_send(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err)
{
    (void)user;
    for (size_t i = 0; fk.refuse_param && i < n; i++)
        for (size_t k = 0; k < stmts[i].param_count; k++)
            if (stmts[i].params[k] && strcmp(stmts[i].params[k], fk.refuse_param) == 0)
                return err_set(err, ERR_CF_API,
                               "d1 query: [7500] UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT (http 400)");
    if (n && strstr(stmts[n - 1].sql, "wal2edge probe")) /* a probe: D1 applies nothing of it */
        return err_set(err, ERR_CF_API, "d1 query: [7500] malformed JSON (http 400)");
    if (fk.fail_next > 0) {
        fk.fail_next--;
        return err_set(err, fk.fail_code, "d1 query: http 503 after 5 attempts");
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.40s |", stmts[i].sql);
        for (size_t k = 0; k < stmts[i].param_count; k++)
            fprintf(f, " %s", stmts[i].params[k] ? stmts[i].params[k] : "NULL");
        fprintf(f, "\n");
    }
    fclose(f);
    cr_assert_lt(fk.nreq, MAX_REQ);
    fk.reqs[fk.nreq++] = text;
    out->count = n;
    out->stmts = calloc(n, sizeof *out->stmts);
    out->root = json_array();
    json_t *rows = json_array();
    if (fk.ck_commit)
        json_array_append_new(rows, json_pack("{s:s,s:s}", "commit_lsn", fk.ck_commit, "end_lsn", fk.ck_end));
    json_array_append_new(out->root, rows);
    json_t *missing = json_array(), *none = json_array();
    if (fk.no_position)
        json_array_append_new(missing, json_pack("{s:i}", "missing", 1));
    json_array_append_new(out->root, missing);
    json_array_append_new(out->root, none);
    for (size_t i = 0; i < n; i++) {
        out->stmts[i].success = true;
        size_t which = strstr(stmts[i].sql, "pragma_table_info") ? 1
                       : strncmp(stmts[i].sql, "SELECT", 6) == 0 ? 0
                                                                  : 2;
        out->stmts[i].rows = json_array_get(out->root, which);
    }
    return true;
}

static Target *open_target(size_t max_statements)
{
    static char db_id[] = "db-1";
    ConfigTarget ct = *config_target(cfg, TARGET_D1, "app");
    ct.remote_id = db_id;
    D1RemoteOptions o = {.max_statements = max_statements, .send = fake_send};
    Err err;
    Target *t = d1_remote_target_new(&ct, maps, &test_cat, "slot1", NULL, &o, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void insert(Target *t, const TxnInfo *txn, const char *id, const char *email)
{
    const char *v[NCOLS] = {id, email, "Name", "h", NULL, "1.5", "{}"};
    PgoCol nc[NCOLS];
    PgoTuple nt = test_tuple(nc, v, NCOLS);
    /* the id doubles as the change's index in its transaction (distinct per row) */
    Change c = {.op = CHANGE_INSERT, .index = (uint32_t)strtoul(id, NULL, 10), .rel = rel, .new_tuple = &nt};
    Err err;
    cr_assert(t->ops->change(t, txn, &c, &err), "%s", err.msg);
}

static void txn(Target *t, Lsn lsn, int rows, const char *email)
{
    TxnInfo x = {.xid = 1, .commit_lsn = lsn, .end_lsn = lsn + 8, .commit_time_us = 1793613600000000};
    Err err;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    for (int i = 0; i < rows; i++) {
        char id[32];
        snprintf(id, sizeof id, "%llu", (unsigned long long)(lsn + (Lsn)i));
        insert(t, &x, id, email);
    }
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
}

static size_t lines(const char *s, const char *prefix)
{
    size_t n = 0;
    for (const char *p = s; p && *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            n++;
        if (!strchr(p, '\n'))
            break;
    }
    return n;
}

Test(d1_remote, open_creates_schema_and_reads_checkpoint)
{
    fk.ck_commit = "0/2000";
    fk.ck_end = "0/2010";
    Target *t = open_target(0);
    cr_expect_str_eq(t->name, "d1.app");
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    cr_expect_eq(t->durable.end_lsn, 0x2010);
    cr_assert_eq(fk.nreq, 1);
    cr_expect(strstr(fk.reqs[0], "CREATE TABLE IF NOT EXISTS \"_wal2") != NULL, "%s", fk.reqs[0]);
    cr_expect(strstr(fk.reqs[0], "CREATE TABLE IF NOT EXISTS \"users") != NULL, "%s", fk.reqs[0]);
    /* a transaction at or before the checkpoint is skipped */
    txn(t, 0x2000, 1, "a@x");
    cr_expect_not(t->ops->has_pending(t));
    t->ops->free(t);
}

Test(d1_remote, open_upgrades_a_checkpoint_table_without_position)
{
    Target *t = open_target(0);
    cr_expect_eq(fk.nreq, 1, "a current table needs no upgrade request");
    t->ops->free(t);
    fk.no_position = true;
    t = open_target(0);
    cr_assert_eq(fk.nreq, 3);
    cr_expect(strstr(fk.reqs[2], "ALTER TABLE \"_wal2edge_state\" ADD COLU") != NULL, "%s", fk.reqs[2]);
    cr_expect(strstr(fk.reqs[2], "UPDATE \"_wal2edge_state\" SET \"positi") != NULL, "%s", fk.reqs[2]);
    t->ops->free(t);
}

Test(d1_remote, groups_transactions_with_checkpoint_last)
{
    Target *t = open_target(0);
    txn(t, 0x1000, 2, "a@x");
    txn(t, 0x2000, 1, "b@x");
    txn(t, 0x3000, 3, "c@x");
    cr_expect_eq(fk.nreq, 1, "nothing sent before flush");
    cr_expect(t->ops->has_pending(t));
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, 2, "one request for three transactions");
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"users\""), 6);
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"_wal2edge"), 1);
    const char *last = strstr(fk.reqs[1], "INSERT INTO \"_wal2edge");
    cr_expect(strstr(last, "slot1 0/3000 0/3008") != NULL, "%s", fk.reqs[1]);
    cr_expect(strchr(last, '\n')[1] == '\0', "the checkpoint is the last statement");
    cr_expect_eq(t->durable.commit_lsn, 0x3000);
    cr_expect_not(t->ops->has_pending(t));
    cr_expect_eq(d1_remote_stats(t).transactions, 3);
    cr_expect_eq(d1_remote_stats(t).statements, 6);
    t->ops->free(t);
}

Test(d1_remote, splits_a_large_transaction_checkpoint_in_last_piece)
{
    Target *t = open_target(5);
    txn(t, 0x1000, 12, "a@x");
    /* pieces of 4 statements (one slot kept for a checkpoint) went out during the transaction */
    cr_expect_eq(fk.nreq, 1 + 2);
    for (size_t i = 1; i < fk.nreq; i++)
        cr_expect_eq(lines(fk.reqs[i], "INSERT INTO \"_wal2edge"), 0, "no checkpoint in piece %zu", i);
    cr_expect_eq(t->durable.commit_lsn, 0);
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(fk.nreq, 4);
    cr_expect_eq(lines(fk.reqs[3], "INSERT INTO \"users\""), 4);
    cr_expect_eq(lines(fk.reqs[3], "INSERT INTO \"_wal2edge"), 1);
    cr_expect_eq(t->durable.commit_lsn, 0x1000);
    t->ops->free(t);
}

Test(d1_remote, a_full_request_sends_the_committed_transactions_without_the_open_ones_start)
{
    Target *t = open_target(5);
    txn(t, 0x1000, 3, "a@x"); /* 3 statements committed, one slot kept for the checkpoint */
    cr_expect_eq(fk.nreq, 1, "the open's SELECT only: nothing sent yet");
    txn(t, 0x2000, 2, "b@x"); /* its first statement does not fit beside the first transaction */
    cr_assert_eq(fk.nreq, 2, "one request went when the buffer was full");
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"users\""), 3, "the first transaction's rows: %s", fk.reqs[1]);
    cr_expect(strstr(fk.reqs[1], "b@x") == NULL, "no statement of the open transaction: %s", fk.reqs[1]);
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"_wal2edge"), 1, "with its checkpoint");
    cr_expect_eq(t->durable.commit_lsn, 0x1000);
    Err err;
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(lines(fk.reqs[2], "INSERT INTO \"users\""), 2, "the second transaction whole: %s", fk.reqs[2]);
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    t->ops->free(t);
}

Test(d1_remote, retryable_failure_keeps_the_batch)
{
    Target *t = open_target(0);
    txn(t, 0x1000, 2, "a@x");
    fk.fail_next = 1;
    fk.fail_code = ERR_HTTP;
    Err err;
    cr_expect_not(t->ops->flush(t, &err));
    cr_expect(err_retryable(&err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0);
    cr_expect(t->ops->has_pending(t));
    txn(t, 0x2000, 1, "b@x");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, 2);
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"users\""), 3, "%s", fk.reqs[1]);
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    cr_expect_eq(d1_remote_stats(t).failed_requests, 1);
    t->ops->free(t);
}

Test(d1_remote, refused_batch_is_narrowed_to_one_transaction)
{
    Target *t = open_target(0);
    txn(t, 0x1000, 1, "a@x");
    txn(t, 0x2000, 1, "bad@x");
    txn(t, 0x3000, 1, "c@x");
    fk.refuse_param = "bad@x";
    Err err;
    cr_expect_not(t->ops->flush(t, &err));
    cr_expect_eq(err.code, ERR_CF_API);
    cr_expect_not(err_retryable(&err));
    cr_expect(strstr(err.msg, "d1.app: refused a change of public.users, key {\"id\":\"8192\"}, transaction at commit "
                              "LSN 0/2000 (xid 1): d1 query: [7500] UNIQUE constraint failed") != NULL,
              "%s", err.msg);
    cr_expect(strstr(err.msg, "Set \"on_error\": \"skip\" in the \"d1\" section of") != NULL, "%s", err.msg);
    /* the transaction before it was applied on its own, with its checkpoint */
    cr_expect_eq(t->durable.commit_lsn, 0x1000);
    cr_expect_not(t->ops->has_pending(t));
    /* the target refuses further work */
    TxnInfo x = {.commit_lsn = 0x4000, .end_lsn = 0x4008};
    cr_expect_not(t->ops->begin(t, &x, &err));
    cr_expect_not(t->ops->flush(t, &err));
    t->ops->free(t);
}

Test(d1_remote, refused_row_is_skipped_and_the_rest_commits_with_the_checkpoint)
{
    maps->items[0].d1.on_error = MAP_ON_ERROR_SKIP;
    char dir[] = "/tmp/w2e_d1dl_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    DeadLetter *dl = deadletter_new(dir);
    Target *t = open_target(0);
    t->deadletter = dl;
    txn(t, 0x1000, 1, "a@x");
    /* one transaction of five rows, the fourth refused by D1 */
    TxnInfo x = {.xid = 7, .commit_lsn = 0x2000, .end_lsn = 0x2008, .commit_time_us = 1793613600000000};
    Err err;
    cr_assert(t->ops->begin(t, &x, &err), "%s", err.msg);
    insert(t, &x, "21", "b1@x");
    insert(t, &x, "22", "b2@x");
    insert(t, &x, "23", "b3@x");
    insert(t, &x, "24", "bad@x");
    insert(t, &x, "25", "b5@x");
    cr_assert(t->ops->commit(t, &x, &err), "%s", err.msg);
    txn(t, 0x3000, 1, "c@x");
    fk.refuse_param = "bad@x";
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0x3000);
    cr_expect_not(t->ops->has_pending(t));
    /* applied: 0x1000 alone, 0x2000 without the refused row and with its checkpoint (one request), 0x3000 */
    /* (the probes that found it fail, as D1 fails them, and apply nothing; reqs[0] opened the database) */
    cr_assert_eq(fk.nreq, 4);
    cr_expect_eq(lines(fk.reqs[2], "INSERT INTO \"users\""), 4, "%s", fk.reqs[2]);
    cr_expect(strstr(fk.reqs[2], "bad@x") == NULL, "%s", fk.reqs[2]);
    cr_expect(strstr(fk.reqs[2], "0/2000 0/2008") != NULL, "the checkpoint commits with the rows: %s", fk.reqs[2]);
    cr_expect_eq(deadletter_appended(dl), 1);
    t->ops->free(t);
    deadletter_free(dl);
    char path[64];
    snprintf(path, sizeof path, "%s/%s", dir, DEADLETTER_FILE);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[8192];
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    json_t *doc = json_loads(line, 0, NULL);
    cr_assert_not_null(doc, "%s", line);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "key"), "id")), "24");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "lsn")), "0/2000");
    cr_expect_eq(json_integer_value(json_object_get(doc, "xid")), 7);
    cr_expect(strstr(json_string_value(json_object_get(doc, "reason")), "UNIQUE constraint failed"));
    json_decref(doc);
    unlink(path);
    rmdir(dir);
}

Test(d1_remote, rollback_drops_the_open_transaction_only)
{
    Target *t = open_target(0);
    txn(t, 0x1000, 2, "a@x");
    TxnInfo x = {.commit_lsn = 0x2000, .end_lsn = 0x2008};
    Err err;
    cr_assert(t->ops->begin(t, &x, &err));
    insert(t, &x, "77", "open@x");
    t->ops->rollback(t);
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(lines(fk.reqs[1], "INSERT INTO \"users\""), 2);
    cr_expect(strstr(fk.reqs[1], "open@x") == NULL);
    cr_expect_eq(t->durable.commit_lsn, 0x1000);
    /* the same transaction, sent again in full, is applied */
    txn(t, 0x2000, 1, "again@x");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0x2000);
    t->ops->free(t);
}

Test(d1_remote, fences_move_the_checkpoint_alone_at_once_twice_after_rows_then_at_most_every_fence_interval)
{
    static char db_id[] = "db-1";
    ConfigTarget ct = *config_target(cfg, TARGET_D1, "app");
    ct.remote_id = db_id;
    D1RemoteOptions o = {.send = fake_send, .fence_interval_ms = 100};
    Err err;
    Target *t = d1_remote_target_new(&ct, maps, &test_cat, "slot1", NULL, &o, &err);
    cr_assert_not_null(t, "%s", err.msg);
    TargetCheckpoint fence = target_fence_checkpoint(0x3000);
    txn(t, 0x1000, 1, "a@x");
    cr_assert(t->ops->fence(t, &fence, 1793613600000000, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0, "a fence waits while statements are buffered");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_expect_eq(t->durable.commit_lsn, 0x1000, "the transaction's own checkpoint, not the fence's");
    size_t sent = fk.nreq;
    cr_assert(t->ops->fence(t, &fence, 1793613600000000, &err), "%s", err.msg);
    cr_expect(t->ops->has_pending(t), "right after rows went, one fence goes at once (a token past the commit)");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, sent + 1, "one request");
    cr_expect_eq(lines(fk.reqs[sent], "INSERT INTO \"users"), 0, "no row: %s", fk.reqs[sent]);
    cr_expect(strstr(fk.reqs[sent], "0/3000") != NULL, "the checkpoint at the fence: %s", fk.reqs[sent]);
    cr_expect_eq(t->durable.commit_lsn, 0x2fff, "a commit starting at the fence is still to come");
    cr_expect_eq(t->durable.end_lsn, 0x3000);
    /* a second may go at once too: the server may report a position between a commit and a token first */
    TargetCheckpoint second = target_fence_checkpoint(0x3800);
    cr_assert(t->ops->fence(t, &second, 1793613600000000, &err), "%s", err.msg);
    cr_expect(t->ops->has_pending(t), "a second fence right after rows goes at once too");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, sent + 2, "one more request");
    cr_expect(strstr(fk.reqs[sent + 1], "0/3800") != NULL, "the checkpoint at the second fence: %s", fk.reqs[sent + 1]);
    /* the next fence, with no rows in between, waits for the interval: idling costs no budget */
    TargetCheckpoint later = target_fence_checkpoint(0x4000);
    cr_assert(t->ops->fence(t, &later, 1793613601000000, &err), "%s", err.msg);
    cr_expect_not(t->ops->has_pending(t), "the fence interval has not passed since the last request");
    nanosleep(&(struct timespec){.tv_nsec = 120 * 1000 * 1000}, NULL);
    cr_expect(t->ops->has_pending(t));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(fk.nreq, sent + 3, "one more request");
    cr_expect(strstr(fk.reqs[sent + 2], "0/4000") != NULL, "the checkpoint at the later fence: %s", fk.reqs[sent + 2]);
    cr_expect_eq(t->durable.end_lsn, 0x4000);
    txn(t, 0x2000, 1, "b@x"); /* before the fence: already had */
    cr_expect_not(t->ops->has_pending(t));
    /* the server stopped reading at 0x4000: a commit record starting there is applied */
    txn(t, 0x4000, 1, "at-the-fence@x");
    cr_expect(t->ops->has_pending(t), "the transaction committed at the fence's position is not skipped");
    t->ops->free(t);
}
