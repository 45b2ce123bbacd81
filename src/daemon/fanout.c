/*
 * daemon/fanout.c - see fanout.h.
 *
 * Each target has a Slot: what it has accepted (committed, maybe not yet durable),
 * whether it skips the transaction being delivered, and its lagging state. A
 * transaction reaches the targets with its first change that is not wal2edge's own
 * (a transaction holding only a heartbeat or a sync point reaches none); a target
 * whose call fails with a retryable error is rolled back and skipped until its
 * retry, the others go on; the durable checkpoints, read back after each flush, are
 * recorded in the state store for `status`.
 *
 * With two targets or more that allow it (Target.threadable), each of those applies
 * on a thread of its own (daemon/handoff): the calls of a transaction are queued to
 * it with one shared copy of each change, and the run thread decodes on. A worker's
 * failure is taken on the run thread (settle) exactly as a failed call there would
 * be: before a flush, a fence, a non-transactional message or a retry, at each
 * commit once the worker says it failed, and whenever the loop asks for a target.
 * A target with calls still queued counts as pending and not current, so nothing is
 * confirmed past what its flush (after the drain) made durable.
 */
#include "daemon/fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "daemon/backoff.h"
#include "daemon/handoff.h"
#include "daemon/resync_hold.h"
#include "daemon/signals.h"
#include "pg/conn.h"

typedef struct Slot {
    Target *target;
    Handoff *worker;               /* the target's own thread, or NULL: called on the run thread */
    TargetCheckpoint accepted;     /* last transaction committed to it (maybe not yet durable) */
    bool skip_current;             /* the current transaction is at or below accepted */
    int64_t durable_commit_time;
    int64_t pending_commit_time;
    bool pending_is_fence;         /* the checkpoint waiting for a flush is a fence (no transaction) */
    /* A target whose apply or flush fails with a retryable error falls behind on its own:
     * it gets nothing more (its checkpoint, and so the slot's confirmed position, stay put)
     * until a retry succeeds; then a new session from its checkpoint brings it what it missed. */
    bool lagging;
    bool missed;                   /* transactions went by while it was lagging (until a new session
                                      from its checkpoint starts, nothing past it may be confirmed) */
    bool catching_up;              /* retried and fed again, but its checkpoint has not moved yet:
                                      still reported lagging */
    Backoff retry;                 /* reset when its checkpoint moves */
    int64_t next_retry_ms;         /* monotonic */
    int64_t lagging_since_us;      /* wall clock, 0 when current */
    char last_error[ERR_MSG_MAX];
} Slot;

struct Fanout {
    Slot *slots;
    const char **names;
    size_t count;
    Store *store;
    Metrics *metrics;
    LogCtx own_log;
    const LogCtx *log;
    bool txn_open;                 /* a transaction is being delivered and not yet committed */
    bool txn_begun;                /* and it has reached the targets (see sink_begin) */
    int64_t pending_since_ms;      /* when unflushed work appeared, 0 if none */
    uint64_t transactions;
    HandoffRels *rels;             /* the relations of the changes queued to workers */
    ResyncHold hold;               /* between a resync chunk's watermarks: no flush (daemon/resync_hold) */
};

Fanout *fanout_new(Target **targets, size_t count, const LogCtx *log)
{
    Fanout *f = xcalloc(1, sizeof *f);
    f->slots = xcalloc(count ? count : 1, sizeof *f->slots);
    f->names = xcalloc(count ? count : 1, sizeof *f->names);
    f->count = count;
    f->own_log.component = "run";
    f->log = log ? log : &f->own_log;
    for (size_t i = 0; i < count; i++) {
        f->slots[i].target = targets[i];
        f->slots[i].accepted = target_durable(targets[i]);
        f->names[i] = targets[i]->name;
        backoff_init(&f->slots[i].retry, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    }
    /* one target alone gains nothing from a thread: the copies would cost more than the overlap */
    size_t threadable = 0;
    for (size_t i = 0; i < count; i++)
        threadable += targets[i]->threadable;
    for (size_t i = 0; threadable >= 2 && i < count; i++) {
        Err err;
        Slot *s = &f->slots[i];
        if (!s->target->threadable)
            continue;
        s->worker = handoff_start(s->target, s->accepted, &err);
        if (!s->worker)
            log_warn(f->log, "%s: %s; it applies on the run thread", s->target->name, err.msg);
        else if (!f->rels)
            f->rels = handoff_rels_new();
    }
    return f;
}

void fanout_attach(Fanout *f, Store *store, Metrics *metrics)
{
    f->store = store;
    f->metrics = metrics;
}

void fanout_free(Fanout *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        handoff_stop(f->slots[i].worker);
    handoff_rels_free(f->rels);
    for (size_t i = 0; i < f->count; i++)
        f->slots[i].target->ops->free(f->slots[i].target);
    free(f->slots);
    free(f->names);
    resync_hold_clear(&f->hold);
    free(f);
}

size_t fanout_count(const Fanout *f) { return f->count; }

/* Whoever calls into a target itself waits until its worker has applied what was queued. */
Target *fanout_target(const Fanout *f, size_t i)
{
    if (f->slots[i].worker)
        handoff_drain(f->slots[i].worker);
    return f->slots[i].target;
}
const char *const *fanout_names(const Fanout *f) { return f->names; }
uint64_t fanout_transactions(const Fanout *f) { return f->transactions; }
int64_t fanout_pending_since_ms(const Fanout *f) { return f->pending_since_ms; }

/* ---- a target that keeps failing falls behind on its own ---- */

static bool save_health(Fanout *f, const Slot *s, Err *err)
{
    StoreTargetHealth h = {
        .lagging = s->lagging || s->catching_up,
        .retries = s->retry.attempts,
        .since_us = s->lagging || s->catching_up ? s->lagging_since_us : 0,
        .next_retry_us = s->lagging ? clock_wall_us() + (s->next_retry_ms - clock_mono_ms()) * 1000 : 0,
        .updated_at_us = clock_wall_us(),
    };
    snprintf(h.target, sizeof h.target, "%s", s->target->name);
    snprintf(h.last_error, sizeof h.last_error, "%s", s->last_error);
    return store_save_target_health(f->store, &h, err);
}

bool fanout_reset_health(Fanout *f, Err *err)
{
    for (size_t i = 0; i < f->count; i++)
        if (!save_health(f, &f->slots[i], err))
            return false;
    return true;
}

/*
 * A target failed (err, already naming it). Retryable: it falls behind alone: the open
 * transaction is rolled back in it, it is skipped from now on and retried with backoff,
 * while the others go on. Returns false (the run stops) for a permanent error.
 */
static bool fall_behind(Fanout *f, Slot *s, bool in_txn, Err *err)
{
    if (!err_retryable(err))
        return false;
    if (in_txn) {
        s->target->ops->rollback(s->target);
        s->skip_current = true;
        s->missed = true;
    }
    if (!s->lagging && !s->catching_up)
        s->lagging_since_us = clock_wall_us();
    s->lagging = true;
    s->catching_up = false;
    int64_t delay = backoff_next(&s->retry, (uint32_t)clock_wall_us());
    s->next_retry_ms = clock_mono_ms() + delay;
    snprintf(s->last_error, sizeof s->last_error, "%s", err->msg);
    metrics_target_failing(f->metrics, s->target->name, err);
    log_warn(f->log, "%s; this target falls behind alone (the others go on), retry %u in %lld ms", err->msg,
             s->retry.attempts, (long long)delay);
    Err store_err;
    if (!save_health(f, s, &store_err))
        log_warn(f->log, "recording the health of %s: %s", s->target->name, store_err.msg);
    return true;
}

/* A target's call failed: name it, then fall behind (retryable) or stop. */
static bool target_failed(Fanout *f, Slot *s, bool in_txn, Err *err)
{
    err_prefix_name(err, s->target->name);
    return fall_behind(f, s, in_txn, err);
}

/*
 * Wait for s's worker to apply what was queued, then take its failure as the run thread
 * would have met it: the target had begun the transaction that failed, the last one it
 * committed is what it has accepted. false: a permanent error (err says which).
 */
static bool settle(Fanout *f, Slot *s, Err *err)
{
    if (!s->worker)
        return true;
    handoff_drain(s->worker);
    TargetCheckpoint applied;
    int64_t applied_time;
    if (!handoff_take_failure(s->worker, err, &applied, &applied_time))
        return true;
    s->accepted = applied;
    s->pending_commit_time = applied_time;
    return target_failed(f, s, true, err);
}

static bool settle_all(Fanout *f, Err *err)
{
    for (size_t i = 0; i < f->count; i++)
        if (!settle(f, &f->slots[i], err))
            return false;
    return true;
}

/* Queued work not applied yet, or a failure not taken yet. */
static bool worker_busy(const Slot *s)
{
    return s->worker && (handoff_failed(s->worker) || !handoff_idle(s->worker));
}

bool fanout_any_lagging(const Fanout *f)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->slots[i].lagging)
            return true;
    return false;
}

/* ---- the sink the assembler delivers to ---- */

static bool sink_wants(void *ctx, Lsn commit_lsn)
{
    Fanout *f = ctx;
    for (size_t i = 0; i < f->count; i++)
        if (!f->slots[i].lagging && !target_covers(&f->slots[i].accepted, commit_lsn))
            return true;
    return false;
}

/* The targets begin with the transaction's first change that is not wal2edge's own. */
static bool sink_begin(void *ctx, const TxnInfo *txn, Err *err)
{
    (void)err;
    Fanout *f = ctx;
    if (txn->staged)
        log_debug(f->log, "replaying staged transaction %u into the targets", txn->xid);
    f->txn_open = true;
    f->txn_begun = false;
    return true;
}

static bool begin_targets(Fanout *f, const TxnInfo *txn, Err *err)
{
    f->txn_begun = true;
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        bool applied = target_covers(&s->accepted, txn->commit_lsn);
        s->skip_current = s->lagging || applied;
        if (s->lagging && !applied)
            s->missed = true;
        if (s->skip_current)
            continue;
        if (s->worker)
            handoff_begin(s->worker, txn);
        else if (!s->target->ops->begin(s->target, txn, err) && !target_failed(f, s, true, err))
            return false;
    }
    return true;
}

static bool message_has_prefix(const Change *c, const char *prefix)
{
    size_t n = strlen(prefix);
    return c->op == CHANGE_MESSAGE && c->message_prefix.len == n && memcmp(c->message_prefix.p, prefix, n) == 0;
}

/* wal2edge's own sync-point and heartbeat messages are not user data; a heartbeat that
 * comes back proves the whole path alive. */
static bool is_internal_message(Fanout *f, const Change *c)
{
    if (message_has_prefix(c, PGCONN_HEARTBEAT_PREFIX)) {
        metrics_heartbeat(f->metrics, (double)clock_wall_us() / 1e6);
        return true;
    }
    return message_has_prefix(c, PGCONN_SYNC_MESSAGE_PREFIX);
}

static void count_change(Fanout *f, const Change *c)
{
    static const char *const ops[] = {"insert", "update", "delete", "truncate"};
    if (c->op == CHANGE_TRUNCATE)
        for (uint32_t k = 0; k < c->truncate_count; k++)
            metrics_change(f->metrics, c->truncate_rels[k]->qualname, ops[CHANGE_TRUNCATE]);
    else if (c->op != CHANGE_MESSAGE && c->rel)
        metrics_change(f->metrics, c->rel->qualname, ops[c->op]);
}

static bool sink_change(void *ctx, const TxnInfo *txn, const Change *c, Err *err)
{
    Fanout *f = ctx;
    if (is_internal_message(f, c))
        return true;
    resync_hold_change(&f->hold, c, clock_mono_ms());
    if (!f->txn_begun && !begin_targets(f, txn, err))
        return false;
    count_change(f, c);
    HandoffChange *copy = NULL; /* made once for every worker that takes the change */
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        if (s->skip_current)
            continue;
        if (s->worker) {
            if (!copy)
                copy = handoff_change_copy(f->rels, c);
            handoff_change(s->worker, txn, copy);
        } else if (!s->target->ops->change(s->target, txn, c, err) && !target_failed(f, s, true, err)) {
            handoff_change_release(copy);
            return false;
        }
    }
    handoff_change_release(copy);
    return true;
}

static void work_pending(Fanout *f)
{
    if (!f->pending_since_ms)
        f->pending_since_ms = clock_mono_ms();
}

static bool sink_commit(void *ctx, const TxnInfo *txn, Err *err)
{
    Fanout *f = ctx;
    if (!f->txn_begun) { /* only wal2edge's own messages: nothing for the targets */
        f->txn_open = false;
        return true;
    }
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        if (s->skip_current)
            continue;
        if (s->worker) {
            /* accepted as queued; a failure found later puts back what the worker committed */
            handoff_commit(s->worker, txn);
        } else if (!s->target->ops->commit(s->target, txn, err)) {
            if (!target_failed(f, s, true, err))
                return false;
            continue;
        }
        s->accepted.commit_lsn = txn->commit_lsn;
        s->accepted.end_lsn = txn->end_lsn;
        s->pending_commit_time = txn->commit_time_us;
        s->pending_is_fence = false;
    }
    f->txn_open = false;
    f->txn_begun = false;
    f->transactions++;
    metrics_transaction(f->metrics);
    work_pending(f);
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        if (!s->worker)
            continue;
        handoff_serve(s->worker);
        if (handoff_failed(s->worker) && !settle(f, s, err))
            return false;
    }
    /* a resync chunk's window is whole: make it durable before the next one opens */
    return !resync_hold_commit(&f->hold) || fanout_flush(f, err);
}

static void sink_rollback(void *ctx)
{
    Fanout *f = ctx;
    f->txn_open = false;
    resync_hold_rollback(&f->hold);
    if (!f->txn_begun)
        return;
    f->txn_begun = false;
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        if (s->skip_current)
            continue;
        if (s->worker)
            handoff_rollback(s->worker);
        else
            s->target->ops->rollback(s->target);
    }
}

static bool sink_message(void *ctx, const Change *c, Err *err)
{
    Fanout *f = ctx;
    if (!settle_all(f, err))
        return false;
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        Target *t = s->target;
        if (s->lagging) {
            s->missed = true;
            continue;
        }
        if (t->ops->message && !t->ops->message(t, c, err)) {
            if (!target_failed(f, s, false, err))
                return false;
            s->missed = true;
        }
    }
    work_pending(f);
    return true;
}

/* A stop abandons a long replay (rolled back in every target; the server sends it again),
 * so SIGTERM is answered in moments whatever the transaction's size. */
static bool sink_stop(void *ctx)
{
    (void)ctx;
    return signals_stop_requested() > 0;
}

AsmSink fanout_sink(Fanout *f)
{
    return (AsmSink){f, sink_wants, sink_begin, sink_change, sink_commit, sink_rollback, sink_message, sink_stop};
}

/* ---- durability ---- */

bool fanout_any_pending(const Fanout *f)
{
    for (size_t i = 0; i < f->count; i++) {
        const Slot *s = &f->slots[i];
        if (!s->lagging && (worker_busy(s) || s->target->ops->has_pending(s->target)))
            return true;
    }
    return false;
}

/* Flush one target and record its checkpoint when it moved; *failed: the target's own flush
 * failed (err names it), as opposed to the state store. */
static bool flush_one(Fanout *f, Slot *s, bool *failed, Err *err)
{
    Target *t = s->target;
    TargetCheckpoint before = target_durable(t);
    *failed = false;
    int64_t started_us = clock_wall_us();
    bool flushed = t->ops->flush(t, err);
    metrics_target_flush(f->metrics, t->name, flushed ? "ok" : err_retryable(err) ? "retryable" : "fatal",
                         (double)(clock_wall_us() - started_us) / 1e6);
    if (!flushed) {
        err_prefix_name(err, t->name);
        *failed = true;
        return false;
    }
    TargetCheckpoint durable = target_durable(t);
    if (durable.commit_lsn == before.commit_lsn)
        return true;
    s->durable_commit_time = s->pending_commit_time;
    if (!s->pending_is_fence)
        metrics_target_durable(f->metrics, t->name, s->durable_commit_time);
    unsigned attempts = s->retry.attempts;
    backoff_reset(&s->retry); /* progress: a later failure starts the backoff over */
    if (s->catching_up) {
        s->catching_up = false;
        log_info(f->log, "%s is current again after %u failed attempts: its checkpoint moves", t->name, attempts);
        if (!save_health(f, s, err))
            return false;
    }
    return store_save_checkpoint(f->store, t->name, &durable, s->durable_commit_time, clock_wall_us(), err);
}

bool fanout_flush(Fanout *f, Err *err)
{
    if (!settle_all(f, err))
        return false;
    bool expired;
    if (resync_hold_active(&f->hold, clock_mono_ms(), &expired)) {
        if (f->pending_since_ms)
            f->pending_since_ms = clock_mono_ms(); /* again after an interval, or when the window closes */
        return true;
    }
    if (expired)
        log_warn(f->log, "a resync chunk's high watermark did not come within %d s of its low one (was the resync "
                         "stopped?): the targets flush again, and a restart before it comes leaves that chunk out "
                         "(run `wal2edge resync` again to copy it)",
                 RESYNC_HOLD_MAX_MS / 1000);
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        bool failed;
        if (s->lagging || !s->target->ops->has_pending(s->target) || flush_one(f, s, &failed, err))
            continue;
        if (!failed || !fall_behind(f, s, false, err))
            return false;
    }
    /* work a target keeps back (it could not or chose not to flush yet) waits a full interval again */
    f->pending_since_ms = fanout_any_pending(f) ? clock_mono_ms() : 0;
    return true;
}

Lsn fanout_durable_end(const Fanout *f)
{
    Lsn durable = UINT64_MAX;
    for (size_t i = 0; i < f->count; i++)
        if (target_durable(f->slots[i].target).end_lsn < durable)
            durable = target_durable(f->slots[i].target).end_lsn;
    return durable == UINT64_MAX ? 0 : durable;
}

Lsn fanout_start_position(const Fanout *f) { return fanout_durable_end(f); }

static bool slot_current(const Slot *s)
{
    return !s->lagging && !s->missed && !worker_busy(s) &&
           target_durable(s->target).commit_lsn == s->accepted.commit_lsn && !s->target->ops->has_pending(s->target);
}

bool fanout_all_current(const Fanout *f)
{
    if (f->txn_open) /* a stop may still abandon the transaction being delivered */
        return false;
    for (size_t i = 0; i < f->count; i++)
        if (!slot_current(&f->slots[i]))
            return false;
    return true;
}

/*
 * The fence: while the stream is idle, each target that can moves its checkpoint to the
 * server's position although no change of its came (the embedded D1 within the flush
 * interval, a REST target at most every run.fence_interval_ms), so a client that committed
 * anything, even to an unmapped table, can wait for the checkpoint to pass its commit.
 */
bool fanout_fence(Fanout *f, Lsn position, Err *err)
{
    TargetCheckpoint at = target_fence_checkpoint(position);
    if (f->hold.run) /* between a resync chunk's watermarks: the checkpoint stays before the low one */
        return true;
    for (size_t i = 0; position && i < f->count; i++) {
        Slot *s = &f->slots[i];
        Target *t = s->target;
        if (!t->ops->fence || position <= s->accepted.end_lsn)
            continue;
        if (!settle(f, s, err))
            return false;
        if (s->lagging || position <= s->accepted.end_lsn)
            continue;
        int64_t at_us = clock_wall_us();
        if (!t->ops->fence(t, &at, at_us, err)) {
            if (!target_failed(f, s, false, err))
                return false;
            continue;
        }
        s->accepted = at;
        s->pending_is_fence = true;
        s->pending_commit_time = at_us; /* current as of now: what lag_seconds measures from */
        if (s->worker)
            handoff_set_applied(s->worker, at, at_us);
    }
    /* work that becomes due later (a REST target's fence) is flushed on the usual timer */
    if (fanout_any_pending(f))
        work_pending(f);
    return true;
}

/* ---- retries ---- */

int64_t fanout_retry_wait_ms(const Fanout *f, int64_t now_ms, int64_t cap)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->slots[i].lagging && f->slots[i].next_retry_ms - now_ms < cap)
            cap = f->slots[i].next_retry_ms - now_ms;
    return cap;
}

/*
 * Retry the lagging targets that are due: flush what they still hold. One that takes it is
 * current again; if transactions went by meanwhile, *resync asks for a new session from the
 * slowest checkpoint (the server sends them again; the others skip what they already have).
 */
bool fanout_retry_lagging(Fanout *f, bool *resync, Err *err)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < f->count; i++) {
        Slot *s = &f->slots[i];
        if (!s->lagging || now < s->next_retry_ms)
            continue;
        bool failed;
        if (!settle(f, s, err))
            return false;
        unsigned attempts = s->retry.attempts; /* a flush that moves the checkpoint resets them */
        metrics_target_retry(f->metrics, s->target->name);
        if (s->target->ops->has_pending(s->target) && !flush_one(f, s, &failed, err)) {
            if (!failed || !fall_behind(f, s, false, err))
                return false;
            continue;
        }
        s->lagging = false;
        s->catching_up = s->missed;
        metrics_target_failing(f->metrics, s->target->name, NULL);
        if (s->missed)
            *resync = true;
        log_info(f->log, "%s takes writes again after %u failed attempts; %s", s->target->name, attempts,
                 s->missed ? "resuming from its checkpoint to bring it what it missed" : "it missed nothing");
        if (!save_health(f, s, err))
            return false;
    }
    return true;
}

void fanout_forget_missed(Fanout *f)
{
    for (size_t i = 0; i < f->count; i++)
        if (!f->slots[i].lagging)
            f->slots[i].missed = false;
}

/* ---- figures ---- */

int64_t fanout_report(const Fanout *f, Lsn end, Lsn confirmed)
{
    int64_t oldest = INT64_MAX;
    for (size_t i = 0; i < f->count; i++) {
        const Slot *s = &f->slots[i];
        Lsn at = target_durable(s->target).end_lsn;
        if (slot_current(s) && confirmed > at)
            at = confirmed; /* idle: it has everything up to the confirmed position */
        metrics_target_lag_bytes(f->metrics, s->target->name, end > at ? end - at : 0);
        if (s->durable_commit_time > 0 && s->durable_commit_time < oldest)
            oldest = s->durable_commit_time;
    }
    return oldest;
}
