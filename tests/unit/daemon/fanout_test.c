/*
 * Unit tests for daemon/fanout: the sink between the assembler and the targets,
 * driven through the same AsmSink calls the assembler makes, with fake targets that
 * record every call and fail on demand, and a real state store in a temp directory.
 * Scripted sequences: fan-out and durability, the skip after a restart, a target
 * failing with a retryable error (falls behind alone, retried, resynced) or a
 * permanent one (the feed stops), a rollback mid-transaction, a transaction that
 * holds only wal2edge's own heartbeat, the fence. Then the same with targets that
 * apply on threads of their own (daemon/handoff): the calls reach them in order on
 * another thread, with copies of the changes, and a failure there is taken as if
 * the run thread had met it.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "daemon/fanout.h"
#include "pg/conn.h"
#include "../state/store_test_util.h"

/* ---- a fake target: a call log, a pending checkpoint, failures on demand ---- */

typedef enum { FAIL_NONE, FAIL_BEGIN, FAIL_CHANGE, FAIL_COMMIT, FAIL_FLUSH } FailAt;

typedef struct Fake {
    Target base;
    char log[1024];                /* "B150 c C150 F R ..." */
    TargetCheckpoint pending;      /* committed, not flushed */
    bool has_pending;
    bool with_fence;
    FailAt fail_at;
    ErrCode fail_code;
    bool *freed;
    bool off_thread;               /* a call came on a thread other than the test's */
} Fake;

static pthread_t test_thread;

/* One call into the log: its letter, and the LSN it was given (0: none). */
static void note(Fake *f, const char *call, unsigned long long lsn)
{
    size_t n = strlen(f->log);
    if (lsn)
        snprintf(f->log + n, sizeof f->log - n, "%s%llu ", call, lsn);
    else
        snprintf(f->log + n, sizeof f->log - n, "%s ", call);
}

static bool failing(Fake *f, FailAt at, Err *err)
{
    if (f->fail_at != at)
        return false;
    err_set(err, f->fail_code, "injected failure");
    return true;
}

static bool fake_begin(Target *t, const TxnInfo *txn, Err *err)
{
    Fake *f = (Fake *)t;
    note(f, "B", (unsigned long long)txn->commit_lsn);
    return !failing(f, FAIL_BEGIN, err);
}

static bool fake_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    (void)txn;
    Fake *f = (Fake *)t;
    if (!pthread_equal(pthread_self(), test_thread))
        f->off_thread = true;
    note(f, c->op == CHANGE_MESSAGE ? "m" : "c", 0);
    /* a message asks for a resync, as a target does for a chunk it had to leave out */
    if (c->op == CHANGE_MESSAGE && t->resync) {
        Err e;
        note(f, t->resync->request(t->resync->ctx, t->name, "public.t", "left out", c->message_lsn, &e) ? "asked" : "refused", 0);
    }
    /* a row's first column and its table, as the target sees them */
    if (c->rel && c->new_tuple && c->new_tuple->ncols) {
        size_t n = strlen(f->log);
        snprintf(f->log + n, sizeof f->log - n, "%s.%s=%.*s ", c->rel->qualname, c->rel->cols[0].name,
                 (int)c->new_tuple->cols[0].len, (const char *)c->new_tuple->cols[0].data);
    }
    return !failing(f, FAIL_CHANGE, err);
}

static bool fake_commit(Target *t, const TxnInfo *txn, Err *err)
{
    Fake *f = (Fake *)t;
    note(f, "C", (unsigned long long)txn->commit_lsn);
    if (failing(f, FAIL_COMMIT, err))
        return false;
    f->pending = (TargetCheckpoint){txn->commit_lsn, txn->end_lsn};
    f->has_pending = true;
    return true;
}

static void fake_rollback(Target *t) { note((Fake *)t, "R", 0); }

static bool fake_flush(Target *t, Err *err)
{
    Fake *f = (Fake *)t;
    note(f, "F", 0);
    if (failing(f, FAIL_FLUSH, err))
        return false;
    if (f->has_pending)
        t->durable = f->pending;
    f->has_pending = false;
    return true;
}

static bool fake_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    (void)at_us;
    (void)err;
    Fake *f = (Fake *)t;
    note(f, "N", (unsigned long long)at->end_lsn);
    f->pending = *at;
    f->has_pending = true;
    return true;
}

static bool fake_has_pending(const Target *t) { return ((const Fake *)t)->has_pending; }

static void fake_free(Target *t)
{
    Fake *f = (Fake *)t;
    if (f->freed)
        *f->freed = true;
    free(t->name);
    free(f);
}

static const TargetOps fake_ops = {"fake", fake_begin, fake_change, fake_commit, fake_rollback, NULL,
                                   fake_flush, NULL, fake_has_pending, fake_free, NULL};
static const TargetOps fake_fence_ops = {"fake", fake_begin, fake_change, fake_commit, fake_rollback, NULL,
                                         fake_flush, fake_fence, fake_has_pending, fake_free, NULL};

static Fake *fake_new(const char *name, Lsn durable_commit, bool fence)
{
    Fake *f = xcalloc(1, sizeof *f);
    f->base.ops = fence ? &fake_fence_ops : &fake_ops;
    f->base.name = xstrdup(name);
    f->base.durable = (TargetCheckpoint){durable_commit, durable_commit ? durable_commit + 8 : 0};
    return f;
}

/* ---- the fixture: a state directory, two fakes, the fan-out and its sink ---- */

static char dir[256];
static Store *store;
static Fanout *fan;
static AsmSink sink;
static Fake *a, *b;

static void setup_threads(Lsn a_at, Lsn b_at, bool fence, bool threads)
{
    test_thread = pthread_self();
    store_dir_make(dir, sizeof dir, "fanout");
    Err err;
    store = store_open(dir, &err);
    cr_assert_not_null(store, "%s", err.msg);
    a = fake_new("d1.app", a_at, fence);
    b = fake_new("queues.changes", b_at, fence);
    a->base.threadable = b->base.threadable = threads;
    Target *targets[] = {&a->base, &b->base};
    fan = fanout_new(targets, 2, NULL);
    fanout_attach(fan, store, NULL);
    sink = fanout_sink(fan);
}

static void setup_with(Lsn a_at, Lsn b_at, bool fence) { setup_threads(a_at, b_at, fence, false); }
static void setup(void) { setup_with(0, 0, false); }
static void setup_threaded(void) { setup_threads(0, 0, false, true); }

static void teardown(void)
{
    fanout_free(fan);
    store_close(store);
    store_dir_remove(dir);
}

static TxnInfo txn_at(Lsn commit) { return (TxnInfo){.xid = 7, .commit_lsn = commit, .end_lsn = commit + 8}; }

static const Change row_change = {.op = CHANGE_INSERT};

/* One transaction of `changes` row changes through the sink, as the assembler delivers it. */
static bool deliver(Lsn commit, int changes, Err *err)
{
    TxnInfo txn = txn_at(commit);
    if (!sink.wants(sink.ctx, commit))
        return true; /* the assembler does not even begin it */
    if (!sink.begin(sink.ctx, &txn, err))
        return false;
    for (int i = 0; i < changes; i++)
        if (!sink.change(sink.ctx, &txn, &row_change, err))
            return false;
    return sink.commit(sink.ctx, &txn, err);
}

static StoreCheckpoint recorded(const char *target) { return store_row_of(store, target); }

TestSuite(fanout, .init = setup, .fini = teardown);
/* targets that start from checkpoints of their own: each test sets them up */
TestSuite(fanout_restarted, .fini = teardown);
/* both fakes applied on threads of their own */
TestSuite(fanout_threads, .init = setup_threaded, .fini = teardown);

Test(fanout, every_target_gets_the_transaction_and_flush_makes_it_durable)
{
    Err err;
    cr_assert(fanout_reset_health(fan, &err), "%s", err.msg);
    cr_assert(deliver(100, 2, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B100 c c C100 ");
    cr_assert_str_eq(b->log, "B100 c c C100 ");
    cr_assert_eq(fanout_transactions(fan), 1);
    cr_assert(fanout_any_pending(fan));
    cr_assert_neq(fanout_pending_since_ms(fan), 0);
    cr_assert_not(fanout_all_current(fan), "accepted but not durable yet");
    cr_assert_eq(fanout_durable_end(fan), 0, "nothing is confirmed before a flush");

    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_eq(fanout_durable_end(fan), 108);
    cr_assert(fanout_all_current(fan));
    cr_assert_eq(fanout_pending_since_ms(fan), 0);
    cr_assert_eq(recorded("d1.app").checkpoint.commit_lsn, 100, "the state store records the checkpoint");
    cr_assert_eq(recorded("queues.changes").checkpoint.end_lsn, 108);
}

Test(fanout_restarted, a_transaction_at_or_below_a_targets_checkpoint_is_skipped_for_it)
{
    setup_with(200, 100, false); /* a restart: d1.app is ahead of queues.changes */
    Err err;
    cr_assert_not(sink.wants(sink.ctx, 100), "every target has 100");
    cr_assert(sink.wants(sink.ctx, 150));
    cr_assert(deliver(150, 1, &err), "%s", err.msg);
    cr_assert(deliver(200, 1, &err), "%s", err.msg);
    cr_assert(deliver(250, 1, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B250 c C250 ", "d1.app skips what it has");
    cr_assert_str_eq(b->log, "B150 c C150 B200 c C200 B250 c C250 ");
    cr_assert_eq(fanout_start_position(fan), 108, "a new session starts at the slowest checkpoint");
}

Test(fanout, a_target_failing_with_a_retryable_error_falls_behind_alone)
{
    Err err;
    b->fail_at = FAIL_CHANGE;
    b->fail_code = ERR_HTTP;
    cr_assert(deliver(100, 2, &err), "a retryable failure does not stop the feed: %s", err.msg);
    cr_assert_str_eq(b->log, "B100 c R ", "rolled back in the failing target");
    cr_assert_str_eq(a->log, "B100 c c C100 ", "the other goes on");
    cr_assert(fanout_any_lagging(fan));
    cr_assert(deliver(200, 1, &err), "%s", err.msg);
    cr_assert_str_eq(b->log, "B100 c R ", "a lagging target gets nothing more");
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_eq(target_durable(&a->base).commit_lsn, 200);
    cr_assert_eq(fanout_durable_end(fan), 0, "the flush LSN waits at the lagging target");
    cr_assert_not(fanout_all_current(fan));

    StoreTargetHealth h[4];
    size_t n = 0;
    cr_assert(store_list_target_health(store, h, 4, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(h[0].target, "queues.changes");
    cr_assert(h[0].lagging);
    cr_assert(strstr(h[0].last_error, "queues.changes") && strstr(h[0].last_error, "injected failure"),
              "the error names the target: %s", h[0].last_error);

    /* not due yet: the first retry waits at least 375 ms (500 ms -25 % jitter) */
    int64_t wait = fanout_retry_wait_ms(fan, clock_mono_ms(), 100000);
    cr_assert(wait > 0 && wait <= 625, "wait %lld", (long long)wait);
    bool resync = false;
    cr_assert(fanout_retry_lagging(fan, &resync, &err), "%s", err.msg);
    cr_assert(fanout_any_lagging(fan), "retried only when due");
    nanosleep(&(struct timespec){.tv_nsec = (long)(wait + 20) * 1000 * 1000}, NULL);
    b->fail_at = FAIL_NONE;
    cr_assert(fanout_retry_lagging(fan, &resync, &err), "%s", err.msg);
    cr_assert_not(fanout_any_lagging(fan));
    cr_assert(resync, "it missed transactions: a new session from its checkpoint must bring them");
    cr_assert_eq(fanout_start_position(fan), 0);

    /* the new session: the server sends 100 and 200 again; only the one that missed them takes them */
    fanout_forget_missed(fan);
    a->log[0] = b->log[0] = '\0';
    cr_assert(deliver(100, 1, &err) && deliver(200, 1, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "");
    cr_assert_str_eq(b->log, "B100 c C100 B200 c C200 ");
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_eq(fanout_durable_end(fan), 208);
    cr_assert(fanout_all_current(fan));
    cr_assert(store_list_target_health(store, h, 4, &n, &err), "%s", err.msg);
    cr_assert_not(h[0].lagging, "current again once its checkpoint moved");
}

Test(fanout, a_permanent_error_stops_the_feed_naming_the_target)
{
    Err err;
    b->fail_at = FAIL_COMMIT;
    b->fail_code = ERR_CF_API;
    cr_assert_not(deliver(100, 1, &err));
    cr_assert_eq(err.code, ERR_CF_API);
    cr_assert(strstr(err.msg, "queues.changes"), "%s", err.msg);
    cr_assert_not(fanout_any_lagging(fan), "a permanent error is not retried");
    /* the session ends: the assembler's reset rolls the half-delivered transaction back */
    sink.rollback(sink.ctx);
    cr_assert_str_eq(a->log, "B100 c C100 R ");
}

Test(fanout, a_flush_failing_with_a_retryable_error_makes_that_target_lag)
{
    Err err;
    cr_assert(deliver(100, 1, &err), "%s", err.msg);
    a->fail_at = FAIL_FLUSH;
    a->fail_code = ERR_TIMEOUT;
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert(fanout_any_lagging(fan));
    cr_assert_eq(target_durable(&b->base).commit_lsn, 100);
    cr_assert_eq(target_durable(&a->base).commit_lsn, 0);
    cr_assert_eq(fanout_durable_end(fan), 0);
}

Test(fanout, a_rollback_mid_transaction_reaches_every_target_that_began_it)
{
    Err err;
    TxnInfo txn = txn_at(100);
    cr_assert(sink.begin(sink.ctx, &txn, &err) && sink.change(sink.ctx, &txn, &row_change, &err), "%s", err.msg);
    cr_assert_not(fanout_all_current(fan), "a transaction is half-delivered");
    sink.rollback(sink.ctx);
    cr_assert_str_eq(a->log, "B100 c R ");
    cr_assert_str_eq(b->log, "B100 c R ");
    cr_assert_not(fanout_any_pending(fan));
    cr_assert(fanout_all_current(fan));
    cr_assert(sink.wants(sink.ctx, 100), "the server sends it again in full");
    cr_assert(deliver(100, 1, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B100 c R B100 c C100 ");
}

Test(fanout, a_transaction_holding_only_a_heartbeat_reaches_no_target)
{
    Err err;
    Change hb = {.op = CHANGE_MESSAGE, .message_transactional = true};
    hb.message_prefix = (PgoStr){PGCONN_HEARTBEAT_PREFIX, strlen(PGCONN_HEARTBEAT_PREFIX)};
    TxnInfo txn = txn_at(100);
    cr_assert(sink.begin(sink.ctx, &txn, &err) && sink.change(sink.ctx, &txn, &hb, &err) &&
              sink.commit(sink.ctx, &txn, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "");
    cr_assert_str_eq(b->log, "");
    cr_assert_eq(fanout_transactions(fan), 0);
    cr_assert(fanout_all_current(fan), "an idle advance");

    Change user = hb;
    user.message_prefix = (PgoStr){"app.audit", 9};
    txn = txn_at(200);
    cr_assert(sink.begin(sink.ctx, &txn, &err) && sink.change(sink.ctx, &txn, &hb, &err) &&
              sink.change(sink.ctx, &txn, &user, &err) && sink.commit(sink.ctx, &txn, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B200 m C200 ", "a user's message is delivered, the heartbeat is not");
}

Test(fanout_restarted, the_fence_moves_a_current_targets_checkpoint_to_the_idle_position)
{
    setup_with(100, 100, true);
    Err err;
    cr_assert(fanout_fence(fan, 0, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "", "no idle position: no fence");
    cr_assert(fanout_fence(fan, 500, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "N500 ");
    cr_assert(fanout_any_pending(fan));
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_eq(target_durable(&a->base).end_lsn, 500);
    cr_assert_eq(target_durable(&a->base).commit_lsn, 499, "a commit record starting at the fence is still to come");
    cr_assert(sink.wants(sink.ctx, 500));
    cr_assert_not(sink.wants(sink.ctx, 499));
    cr_assert(fanout_fence(fan, 500, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "N500 F ", "not fenced again at the same position");
}

Test(fanout, free_releases_every_target)
{
    bool freed_a = false, freed_b = false;
    a->freed = &freed_a;
    b->freed = &freed_b;
    fanout_free(fan);
    fan = NULL;
    cr_assert(freed_a && freed_b);
}

/* ---- targets on threads of their own ---- */

Test(fanout_threads, each_target_gets_every_call_in_order_on_its_own_thread_with_copies_of_the_changes)
{
    Err err;
    char colname[] = "aid", nsp[] = "public", relname[] = "accounts", qualname[] = "public.accounts";
    RelCol cols[] = {{.name = colname, .type_oid = 20, .typmod = -1, .key = true}};
    Rel rel = {.oid = 16384, .nspname = nsp, .relname = relname, .qualname = qualname, .ncols = 1, .cols = cols};
    char value[8];
    PgoCol col = {.kind = 't', .len = 2, .data = (const uint8_t *)value};
    PgoTuple tup = {.ncols = 1, .cols = &col};
    Change row = {.op = CHANGE_INSERT, .rel = &rel, .new_tuple = &tup};
    for (Lsn at = 100; at <= 300; at += 100) {
        TxnInfo txn = txn_at(at);
        cr_assert(sink.wants(sink.ctx, at) && sink.begin(sink.ctx, &txn, &err), "%s", err.msg);
        for (int i = 0; i < 2; i++) {
            snprintf(value, sizeof value, "%d%d", (int)(at / 100), i);
            cr_assert(sink.change(sink.ctx, &txn, &row, &err), "%s", err.msg);
            /* the assembler's buffers are reused at once: the queued copy must not change */
            memcpy(value, "xx", 2);
        }
        cr_assert(sink.commit(sink.ctx, &txn, &err), "%s", err.msg);
    }
    /* the relcache frees a replaced relation at once: the queued copies keep their own */
    memcpy(qualname, "public.XXXXXXXX", sizeof qualname);
    memcpy(colname, "zzz", sizeof colname);
    cr_assert(fanout_any_pending(fan), "queued work is pending");
    cr_assert_not(fanout_all_current(fan), "nothing is current while calls are queued");
    cr_assert_eq(fanout_durable_end(fan), 0);
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    const char *want = "B100 c public.accounts.aid=10 c public.accounts.aid=11 C100 "
                       "B200 c public.accounts.aid=20 c public.accounts.aid=21 C200 "
                       "B300 c public.accounts.aid=30 c public.accounts.aid=31 C300 F ";
    cr_assert_str_eq(a->log, want);
    cr_assert_str_eq(b->log, want);
    cr_assert(a->off_thread && b->off_thread, "applied on threads of their own");
    cr_assert_eq(fanout_durable_end(fan), 308);
    cr_assert(fanout_all_current(fan));
}

Test(fanout_threads, a_retryable_failure_on_a_targets_thread_makes_it_fall_behind_from_what_it_committed)
{
    Err err;
    cr_assert(deliver(100, 1, &err), "%s", err.msg);
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    b->fail_at = FAIL_CHANGE;
    b->fail_code = ERR_HTTP;
    /* found on b's thread: the run thread goes on until it takes the failure */
    cr_assert(deliver(200, 1, &err) && deliver(300, 1, &err), "%s", err.msg);
    cr_assert(fanout_flush(fan, &err), "a retryable failure does not stop the feed: %s", err.msg);
    cr_assert(fanout_any_lagging(fan));
    cr_assert_str_eq(b->log, "B100 c C100 F B200 c R ", "calls after the failure skipped; rolled back once");
    cr_assert_str_eq(a->log, "B100 c C100 F B200 c C200 B300 c C300 F ", "the other goes on");
    cr_assert_eq(target_durable(&b->base).commit_lsn, 100);
    cr_assert_eq(fanout_durable_end(fan), 108, "the flush LSN waits at the failed target's checkpoint");
    cr_assert_not(fanout_all_current(fan));

    StoreTargetHealth h[4];
    size_t n = 0;
    cr_assert(store_list_target_health(store, h, 4, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert(strstr(h[0].last_error, "queues.changes") && strstr(h[0].last_error, "injected failure"),
              "the error names the target: %s", h[0].last_error);

    /* retried once due; then a new session from b's checkpoint brings it 200 and 300 again */
    b->fail_at = FAIL_NONE;
    bool resync = false;
    int64_t wait = fanout_retry_wait_ms(fan, clock_mono_ms(), 100000);
    nanosleep(&(struct timespec){.tv_nsec = (long)(wait + 20) * 1000 * 1000}, NULL);
    cr_assert(fanout_retry_lagging(fan, &resync, &err), "%s", err.msg);
    cr_assert(resync);
    cr_assert_eq(fanout_start_position(fan), 108);
    fanout_forget_missed(fan);
    a->log[0] = b->log[0] = '\0';
    cr_assert(deliver(200, 1, &err) && deliver(300, 1, &err) && fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "", "it has them");
    cr_assert_str_eq(b->log, "B200 c C200 B300 c C300 F ", "accepted went back to the last commit it applied");
    cr_assert_eq(fanout_durable_end(fan), 308);
    cr_assert(fanout_all_current(fan));
}

Test(fanout_threads, a_permanent_failure_on_a_targets_thread_stops_the_feed_naming_the_target)
{
    Err err;
    b->fail_at = FAIL_COMMIT;
    b->fail_code = ERR_CF_API;
    bool delivered = deliver(100, 1, &err);
    cr_assert(!delivered || !fanout_flush(fan, &err), "the next flush at the latest stops");
    cr_assert_eq(err.code, ERR_CF_API);
    cr_assert(strstr(err.msg, "queues.changes"), "%s", err.msg);
    cr_assert_not(fanout_any_lagging(fan), "a permanent error is not retried");
    cr_assert_eq(fanout_durable_end(fan), 0);
}

Test(fanout_threads, a_rollback_mid_transaction_reaches_each_targets_thread)
{
    Err err;
    TxnInfo txn = txn_at(100);
    cr_assert(sink.begin(sink.ctx, &txn, &err) && sink.change(sink.ctx, &txn, &row_change, &err), "%s", err.msg);
    sink.rollback(sink.ctx);
    cr_assert(deliver(100, 1, &err) && fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B100 c R B100 c C100 F ");
    cr_assert_str_eq(b->log, "B100 c R B100 c C100 F ");
    cr_assert(fanout_all_current(fan));
}

static int asked;
static bool asked_off_thread;
static Lsn asked_cause;

static bool resync_request(void *ctx, const char *target, const char *table, const char *why, Lsn cause, Err *err)
{
    (void)ctx;
    (void)why;
    (void)target;
    asked++;
    asked_cause = cause;
    if (!pthread_equal(pthread_self(), test_thread))
        asked_off_thread = true;
    return strcmp(table, "public.t") == 0 || err_set(err, ERR_INTERNAL, "no such table");
}

Test(fanout_threads, a_targets_resync_request_is_answered_on_the_run_thread)
{
    Err err;
    ResyncHook hook = {resync_request, NULL};
    a->base.resync = b->base.resync = &hook;
    Change m = {.op = CHANGE_MESSAGE, .message_transactional = true, .message_prefix = {"wal2edge.resync", 15},
                .message_lsn = 150};
    for (Lsn at = 100; at <= 200; at += 100) {
        TxnInfo txn = txn_at(at);
        cr_assert(sink.begin(sink.ctx, &txn, &err) && sink.change(sink.ctx, &txn, &m, &err) &&
                  sink.commit(sink.ctx, &txn, &err), "%s", err.msg);
    }
    cr_assert(fanout_flush(fan, &err), "%s", err.msg);
    cr_assert_str_eq(a->log, "B100 m asked C100 B200 m asked C200 F ");
    cr_assert_str_eq(b->log, "B100 m asked C100 B200 m asked C200 F ");
    cr_assert(a->off_thread && b->off_thread);
    cr_assert_eq(asked, 4);
    cr_assert_eq(asked_cause, 150, "the change's LSN reaches the resyncer");
    cr_assert_not(asked_off_thread, "the resyncer is the run thread's");
}
