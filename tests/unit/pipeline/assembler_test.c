/*
 * Unit tests for pipeline/assembler (and pipeline/spool through it): real
 * PostgreSQL 15 captures (tests/fixtures/pgoutput) fed message by message,
 * with a recording sink in place of the targets.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "pg/decode_render.h"
#include "pipeline/assembler.h"

typedef struct Delivered {
    uint32_t xid;
    Lsn commit_lsn;
    Lsn end_lsn;
    char gid[64];
    bool staged;               /* TxnInfo.staged at begin */
    int changes;
    int inserts, updates, deletes, truncates, messages;
    int rows_with_value;       /* new tuples whose 2nd column starts with `needle` */
    bool committed;
} Delivered;

typedef struct Recorder {
    Delivered txns[64];
    int count;
    int rollbacks;
    int standalone_messages;
    Lsn skip_up_to;            /* wants() answers false at or below this */
    const char *needle;
    int stop_after;            /* stop() answers true from its stop_after-th call on (0: never) */
    int stop_calls;
} Recorder;

static bool rec_stop(void *ctx)
{
    Recorder *r = ctx;
    return r->stop_after > 0 && ++r->stop_calls >= r->stop_after;
}

static bool rec_wants(void *ctx, Lsn commit_lsn) { return commit_lsn > ((Recorder *)ctx)->skip_up_to; }

static bool rec_begin(void *ctx, const TxnInfo *txn, Err *err)
{
    (void)err;
    Recorder *r = ctx;
    cr_assert_lt(r->count, 64);
    Delivered *d = &r->txns[r->count++];
    memset(d, 0, sizeof *d);
    d->xid = txn->xid;
    d->commit_lsn = txn->commit_lsn;
    d->staged = txn->staged;
    if (txn->gid)
        snprintf(d->gid, sizeof d->gid, "%s", txn->gid);
    return true;
}

static bool rec_change(void *ctx, const TxnInfo *txn, const Change *c, Err *err)
{
    (void)err;
    Recorder *r = ctx;
    Delivered *d = &r->txns[r->count - 1];
    cr_assert_eq(txn->xid, d->xid);
    cr_assert_eq(c->index, (uint32_t)d->changes, "changes are numbered in order");
    d->changes++;
    switch (c->op) {
    case CHANGE_INSERT: d->inserts++; break;
    case CHANGE_UPDATE: d->updates++; break;
    case CHANGE_DELETE: d->deletes++; break;
    case CHANGE_TRUNCATE: d->truncates++; break;
    case CHANGE_MESSAGE: d->messages++; break;
    }
    if (c->rel) {
        cr_assert_not_null(c->rel->qualname);
        if (c->new_tuple)
            cr_assert_eq(c->new_tuple->ncols, c->rel->ncols);
    }
    if (r->needle && c->new_tuple && c->new_tuple->ncols > 1 && c->new_tuple->cols[1].kind == 't' &&
        c->new_tuple->cols[1].len >= strlen(r->needle) &&
        memcmp(c->new_tuple->cols[1].data, r->needle, strlen(r->needle)) == 0)
        d->rows_with_value++;
    return true;
}

static bool rec_commit(void *ctx, const TxnInfo *txn, Err *err)
{
    (void)err;
    Recorder *r = ctx;
    Delivered *d = &r->txns[r->count - 1];
    cr_assert_eq(txn->xid, d->xid);
    d->commit_lsn = txn->commit_lsn;
    d->end_lsn = txn->end_lsn;
    d->committed = true;
    return true;
}

static void rec_rollback(void *ctx)
{
    Recorder *r = ctx;
    r->rollbacks++;
    r->count--;
}

static bool rec_message(void *ctx, const Change *c, Err *err)
{
    (void)err;
    cr_assert_eq(c->op, CHANGE_MESSAGE);
    ((Recorder *)ctx)->standalone_messages++;
    return true;
}

static char spool_dir[256];

static void make_spool_dir(void)
{
    snprintf(spool_dir, sizeof spool_dir, "%s/w2e-asm-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(spool_dir));
}

static int files_in_spool(void)
{
    DIR *d = opendir(spool_dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void remove_spool_dir(void)
{
    DIR *d = opendir(spool_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", spool_dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(spool_dir);
}

TestSuite(assembler, .init = make_spool_dir, .fini = remove_spool_dir);

static uint8_t *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pgoutput/%s", WAL2EDGE_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}

static Assembler *new_assembler(Recorder *r)
{
    AsmSink sink = {r, rec_wants, rec_begin, rec_change, rec_commit, rec_rollback, rec_message, rec_stop};
    Err err;
    Assembler *a = assembler_new(spool_dir, &sink, &err);
    cr_assert_not_null(a, "%s", err.msg);
    return a;
}

/*
 * Feed the capture's messages [first, last) (all when last < 0) to the assembler.
 * Returns the number of messages in the capture. With `failed`, a message the
 * assembler refuses ends the feed: *failed gets its index and *ferr the error.
 */
static int feed_until_error(Assembler *a, const uint8_t *data, size_t len, int first, int last, int *failed,
                            Err *ferr)
{
    CaptureSplitter s;
    PgoDecoder scratch;
    pgo_decoder_init(&scratch, PGO_ABORT_INFO_AUTO);
    capture_splitter_init(&s, data, len);
    int index = 0;
    for (;;) {
        size_t start = s.pos;
        PgoEvent ev;
        Err err;
        int rc = capture_next(&s, &scratch, &ev, &err);
        cr_assert_geq(rc, 0, "%s", err.msg);
        if (rc == 0)
            break;
        if (index >= first && (last < 0 || index < last)) {
            bool ok = assembler_feed(a, 0x1000 + start, data + start, ev.len, &err);
            if (!ok && failed) {
                *failed = index;
                *ferr = err;
                break;
            }
            cr_assert(ok, "message %d: %s", index, err.msg);
        }
        index++;
    }
    pgo_decoder_free(&scratch);
    return index;
}

static int feed(Assembler *a, const uint8_t *data, size_t len, int first, int last)
{
    return feed_until_error(a, data, len, first, last, NULL, NULL);
}

Test(assembler, streamed_transactions_with_savepoint_and_abort)
{
    size_t len;
    uint8_t *data = read_fixture("proto2_stream.bin", &len);
    Recorder r = {.needle = "ssss"};
    Assembler *a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert(assembler_idle(a));
    /* small before, the streamed one (at its Stream Commit), small after; the aborted one never */
    cr_assert_eq(r.count, 3);
    cr_assert_eq(r.txns[0].inserts, 1);
    Delivered *big = &r.txns[1];
    cr_assert(big->committed);
    cr_assert_eq(big->inserts, 700, "the savepoint's 500 rows are dropped: got %d", big->inserts);
    cr_assert_eq(big->rows_with_value, 0, "no row of the rolled-back savepoint");
    cr_assert_eq(big->updates, 3, "ids 0, 1 and 2");
    cr_assert_eq(big->deletes, 1);
    cr_assert_neq(big->end_lsn, 0);
    cr_assert_eq(r.txns[2].inserts, 1);
    const AsmStats *st = assembler_stats(a);
    cr_assert_eq(st->streamed, 1);
    cr_assert_eq(st->stream_aborts, 1);
    cr_assert_eq(st->subxact_aborts, 1);
    cr_assert_eq(files_in_spool(), 0, "spools removed after commit and abort");
    assembler_free(a);
    free(data);
}

Test(assembler, a_transaction_replayed_from_the_spool_says_so)
{
    size_t len;
    uint8_t *data = read_fixture("proto2_stream.bin", &len);
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert_eq(r.count, 3);
    cr_assert_not(r.txns[0].staged, "a plain transaction passes straight through");
    cr_assert(r.txns[1].staged, "the streamed one is replayed from its spool");
    cr_assert_not(r.txns[2].staged);
    assembler_free(a);
    free(data);

    data = read_fixture("proto3_twophase.bin", &len);
    r = (Recorder){0};
    a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert_eq(r.count, 2);
    cr_assert(r.txns[0].staged, "a prepared transaction is replayed at COMMIT PREPARED");
    cr_assert_not(r.txns[1].staged);
    assembler_free(a);
    free(data);
}

Test(assembler, two_phase_commit_and_rollback)
{
    size_t len;
    uint8_t *data = read_fixture("proto3_twophase.bin", &len);
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert_eq(r.count, 2, "gid_a at COMMIT PREPARED and the plain one; gid_b rolled back");
    cr_assert_str_eq(r.txns[0].gid, "gid_a");
    cr_assert_eq(r.txns[0].inserts, 1);
    cr_assert_str_eq(r.txns[1].gid, "");
    cr_assert_eq(assembler_stats(a)->prepared, 2);
    cr_assert_eq(assembler_stats(a)->rolled_back_prepared, 1);
    cr_assert_eq(files_in_spool(), 0);
    assembler_free(a);
    free(data);
}

Test(assembler, streamed_prepared_transaction)
{
    size_t len;
    uint8_t *data = read_fixture("proto3_twophase_stream.bin", &len);
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert_eq(r.count, 1);
    cr_assert_str_eq(r.txns[0].gid, "gid_big");
    cr_assert_eq(r.txns[0].inserts, 800);
    cr_assert_eq(files_in_spool(), 0);
    assembler_free(a);
    free(data);
}

/* A prepared transaction staged in one session is committed in the next one,
 * whose relation cache starts empty: the staged spool must replay on its own. */
Test(assembler, prepared_survives_a_restart)
{
    size_t len;
    uint8_t *data = read_fixture("proto3_twophase.bin", &len);
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    /* messages: R, b, I, P, K, ... : stop right after the first Prepare */
    int total = feed(a, data, len, 0, 4);
    cr_assert_gt(total, 5);
    cr_assert_eq(r.count, 0);
    cr_assert_eq(files_in_spool(), 1, "the prepared transaction is staged durably");
    assembler_free(a);

    Assembler *b = new_assembler(&r);
    Err err;
    cr_assert(assembler_reset(b, &err), "%s", err.msg);
    feed(b, data, len, 4, 5); /* only Commit Prepared 'gid_a' */
    cr_assert_eq(r.count, 1);
    cr_assert_str_eq(r.txns[0].gid, "gid_a");
    cr_assert_eq(r.txns[0].inserts, 1);
    cr_assert_eq(files_in_spool(), 0);
    assembler_free(b);
    free(data);
}

Test(assembler, plain_stream_and_skipping)
{
    size_t len;
    uint8_t *data = read_fixture("proto1_basic.bin", &len);
    Recorder all = {0};
    Assembler *a = new_assembler(&all);
    feed(a, data, len, 0, -1);
    cr_assert_gt(all.count, 3);
    int truncates = 0;
    for (int i = 0; i < all.count; i++) {
        cr_assert(all.txns[i].committed);
        truncates += all.txns[i].truncates;
        if (i)
            cr_assert_gt(all.txns[i].commit_lsn, all.txns[i - 1].commit_lsn, "commit order");
    }
    cr_assert_gt(truncates, 0);
    assembler_free(a);

    /* a target whose checkpoint covers the first half gets only the rest */
    Recorder half = {.skip_up_to = all.txns[all.count / 2].commit_lsn};
    Assembler *b = new_assembler(&half);
    feed(b, data, len, 0, -1);
    cr_assert_eq(half.count, all.count - all.count / 2 - 1);
    cr_assert_eq(half.txns[0].commit_lsn, all.txns[all.count / 2 + 1].commit_lsn);
    assembler_free(b);
    free(data);
}

Test(assembler, messages_and_reset_mid_transaction)
{
    size_t len;
    uint8_t *data = read_fixture("proto1_messages.bin", &len);
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    feed(a, data, len, 0, -1);
    cr_assert_gt(r.standalone_messages, 0);
    int in_txn = 0;
    for (int i = 0; i < r.count; i++)
        in_txn += r.txns[i].messages;
    cr_assert_gt(in_txn, 0);
    assembler_free(a);

    /* cut the stream inside the first transaction: reset rolls it back */
    Recorder cut = {0};
    Assembler *b = new_assembler(&cut);
    int total = feed(b, data, len, 0, 0);
    for (int n = 1; n < total && cut.count == 0; n++) {
        assembler_free(b);
        memset(&cut, 0, sizeof cut);
        b = new_assembler(&cut);
        feed(b, data, len, 0, n);
        if (!assembler_idle(b))
            break;
    }
    cr_assert_not(assembler_idle(b), "found a cut inside a transaction");
    int begun = cut.count;
    Err err;
    cr_assert(assembler_reset(b, &err), "%s", err.msg);
    cr_assert(assembler_idle(b));
    cr_assert_eq(cut.rollbacks, begun > 0 ? 1 : 0);
    assembler_free(b);
    free(data);
}

Test(assembler, change_for_an_unknown_relation_is_a_protocol_error)
{
    Recorder r = {0};
    Assembler *a = new_assembler(&r);
    /* Begin, then an Insert for relation 4242 that no Relation message described */
    const uint8_t begin[] = {'B', 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a};
    const uint8_t insert[] = {'I', 0, 0, 0x10, 0x92, 'N', 0, 1, 't', 0, 0, 0, 1, 'x'};
    Err err;
    cr_assert(assembler_feed(a, 0, begin, sizeof begin, &err), "%s", err.msg);
    cr_assert_not(assembler_feed(a, 0, insert, sizeof insert, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "relation oid 4242"), "%s", err.msg);
    assembler_free(a);
}

/* A stop asked for during the replay of a streamed transaction abandons it as a rollback;
 * the next session (the server sends it again) delivers it whole. */
Test(assembler, stop_during_replay_rolls_back)
{
    size_t len;
    uint8_t *data = read_fixture("proto2_stream.bin", &len);
    Recorder r = {.stop_after = 6}; /* ~1,210 records: 4 checks in the first pass, then the second */
    Assembler *a = new_assembler(&r);
    int failed = -1;
    Err err;
    feed_until_error(a, data, len, 0, -1, &failed, &err);
    cr_assert_geq(failed, 0, "the replay was interrupted");
    cr_assert_eq(err.code, ERR_INTERRUPTED, "%s", err.msg);
    cr_assert(strstr(err.msg, "interrupted"), "%s", err.msg);
    cr_assert_eq(r.rollbacks, 1, "the begun transaction is rolled back");
    cr_assert_eq(r.count, 1, "only the small transaction before it was delivered");
    cr_assert_eq(assembler_stats(a)->streamed, 0);
    cr_assert_eq(files_in_spool(), 0, "the interrupted stream's spool is gone (the server resends it)");

    /* a stop while the first pass scans the spool: nothing begun, nothing to roll back */
    Recorder early = {.stop_after = 1};
    Assembler *b = new_assembler(&early);
    failed = -1;
    feed_until_error(b, data, len, 0, -1, &failed, &err);
    cr_assert_eq(err.code, ERR_INTERRUPTED);
    cr_assert_eq(early.rollbacks, 0);
    cr_assert_eq(early.count, 1);
    assembler_free(b);

    /* the next session: everything again from the start, delivered once */
    r.stop_after = 0;
    cr_assert(assembler_reset(a, &err), "%s", err.msg);
    Recorder again = {0};
    Assembler *c = new_assembler(&again);
    feed(c, data, len, 0, -1);
    cr_assert_eq(again.count, 3);
    cr_assert_eq(again.txns[1].inserts, 700);
    cr_assert_eq(again.rollbacks, 0);
    assembler_free(c);
    assembler_free(a);
    free(data);
}
