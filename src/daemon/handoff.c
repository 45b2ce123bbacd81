/*
 * daemon/handoff.c - see handoff.h.
 *
 * Each worker has a ring of calls under one mutex with two condition variables:
 * `work` wakes the worker, `done` wakes the run thread waiting for room or for
 * the queue to drain. Both sides move calls HANDOFF_BATCH at a time (the run
 * thread stages them first), so the two rarely meet on the lock; neither signals
 * unless the other is asleep, and the run thread wakes a sleeping worker only
 * once HANDOFF_WAKE_AT calls are queued (or it waits for it), so a fast worker
 * does not sleep and wake per change.
 * A change is copied once into one allocation (tuples, their bytes, the message)
 * with an atomic count of the workers still holding it; its relation is a
 * copy per relation version (compared by content: the assembler's relcache
 * frees a replaced Rel at once), counted the same way.
 * A target's resync request (Target.resync, the run thread's resyncer) goes
 * through a hook of the worker's: it hands the request to the run thread and
 * waits for its answer, which the run thread gives wherever it meets the worker
 * (waiting for room or a drain, or handoff_serve at each commit).
 */
#include "daemon/handoff.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define HANDOFF_WAKE_AT 256   /* calls queued before a sleeping worker is woken */
#define HANDOFF_BATCH 64      /* calls moved under the lock at once, either side */

/* ---- relation copies ---- */

typedef struct RelCopy {
    atomic_uint refs;
    Rel rel;
} RelCopy;

struct HandoffRels {
    RelCopy **by_rel;          /* the latest copy per relation OID */
    size_t count, cap;
};

static void rel_release(RelCopy *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint16_t i = 0; i < r->rel.ncols; i++)
        free(r->rel.cols[i].name);
    free(r->rel.cols);
    free(r->rel.nspname);
    free(r->rel.relname);
    free(r->rel.qualname);
    free(r);
}

static bool rel_same(const Rel *a, const Rel *b)
{
    if (a->oid != b->oid || a->replident != b->replident || a->ncols != b->ncols || strcmp(a->nspname, b->nspname) ||
        strcmp(a->relname, b->relname) || strcmp(a->qualname, b->qualname))
        return false;
    for (uint16_t i = 0; i < a->ncols; i++)
        if (a->cols[i].type_oid != b->cols[i].type_oid || a->cols[i].typmod != b->cols[i].typmod ||
            a->cols[i].key != b->cols[i].key || strcmp(a->cols[i].name, b->cols[i].name))
            return false;
    return true;
}

static RelCopy *rel_copy(const Rel *src)
{
    RelCopy *r = xcalloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    r->rel = *src;
    r->rel.nspname = xstrdup(src->nspname);
    r->rel.relname = xstrdup(src->relname);
    r->rel.qualname = xstrdup(src->qualname);
    r->rel.cols = xcalloc(src->ncols ? src->ncols : 1, sizeof *r->rel.cols);
    for (uint16_t i = 0; i < src->ncols; i++) {
        r->rel.cols[i] = src->cols[i];
        r->rel.cols[i].name = xstrdup(src->cols[i].name);
    }
    return r;
}

HandoffRels *handoff_rels_new(void) { return xcalloc(1, sizeof(HandoffRels)); }

void handoff_rels_free(HandoffRels *rels)
{
    if (!rels)
        return;
    for (size_t i = 0; i < rels->count; i++)
        rel_release(rels->by_rel[i]);
    free(rels->by_rel);
    free(rels);
}

/* The copy of src, one reference taken for the caller. */
static RelCopy *rel_get(HandoffRels *rels, const Rel *src)
{
    RelCopy *r = NULL;
    size_t i = 0;
    for (; i < rels->count; i++)
        if (rels->by_rel[i]->rel.oid == src->oid) {
            r = rels->by_rel[i];
            break;
        }
    if (!r || !rel_same(&r->rel, src)) {
        RelCopy *fresh = rel_copy(src);
        if (r) {
            rel_release(r);
            rels->by_rel[i] = fresh;
        } else {
            if (rels->count == rels->cap) {
                rels->cap = rels->cap ? 2 * rels->cap : 16;
                rels->by_rel = xrealloc(rels->by_rel, rels->cap * sizeof *rels->by_rel);
            }
            rels->by_rel[rels->count++] = fresh;
        }
        r = fresh;
    }
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

/* ---- change copies ---- */

struct HandoffChange {
    atomic_uint refs;
    size_t bytes;              /* what it weighs in a queue */
    Change c;
    RelCopy *rel;
    RelCopy **trels;           /* truncate_count of them */
    PgoTuple nt, ot;
    /* then: the tuples' columns, the truncated relations' pointers, the bytes */
};

static size_t tuple_bytes(const PgoTuple *t)
{
    size_t n = 0;
    for (uint16_t i = 0; t && i < t->ncols; i++)
        n += t->cols[i].data ? t->cols[i].len : 0;
    return n;
}

static char *copy_tuple(PgoTuple *to, const PgoTuple *from, PgoCol *cols, char *data)
{
    to->ncols = from->ncols;
    to->cols = cols;
    for (uint16_t i = 0; i < from->ncols; i++) {
        cols[i] = from->cols[i];
        if (from->cols[i].data) {
            memcpy(data, from->cols[i].data, from->cols[i].len);
            cols[i].data = (const uint8_t *)data;
            data += from->cols[i].len;
        }
    }
    return data;
}

HandoffChange *handoff_change_copy(HandoffRels *rels, const Change *c)
{
    size_t ncols = (c->new_tuple ? c->new_tuple->ncols : 0) + (c->old_tuple ? c->old_tuple->ncols : 0);
    size_t data = tuple_bytes(c->new_tuple) + tuple_bytes(c->old_tuple) + c->message_prefix.len + 1 + c->message_len;
    size_t size = sizeof(HandoffChange) + ncols * sizeof(PgoCol) +
                  c->truncate_count * (sizeof(RelCopy *) + sizeof(const Rel *)) + data;
    HandoffChange *h = xmalloc(size);
    memset(h, 0, sizeof *h);
    atomic_init(&h->refs, 1);
    h->bytes = size;
    h->c = *c;
    PgoCol *cols = (PgoCol *)(h + 1);
    h->trels = (RelCopy **)(cols + ncols);
    const Rel **tptrs = (const Rel **)(h->trels + c->truncate_count);
    char *p = (char *)(tptrs + c->truncate_count);
    if (c->new_tuple) {
        p = copy_tuple(&h->nt, c->new_tuple, cols, p);
        cols += c->new_tuple->ncols;
        h->c.new_tuple = &h->nt;
    }
    if (c->old_tuple) {
        p = copy_tuple(&h->ot, c->old_tuple, cols, p);
        h->c.old_tuple = &h->ot;
    }
    if (c->rel) {
        h->rel = rel_get(rels, c->rel);
        h->c.rel = &h->rel->rel;
    }
    for (uint32_t i = 0; i < c->truncate_count; i++) {
        h->trels[i] = rel_get(rels, c->truncate_rels[i]);
        tptrs[i] = &h->trels[i]->rel;
    }
    h->c.truncate_rels = c->truncate_count ? tptrs : NULL;
    if (c->message_prefix.p) {
        memcpy(p, c->message_prefix.p, c->message_prefix.len);
        p[c->message_prefix.len] = '\0';
        h->c.message_prefix.p = p;
        p += c->message_prefix.len + 1;
    }
    if (c->message_content) {
        memcpy(p, c->message_content, c->message_len);
        h->c.message_content = (const uint8_t *)p;
    }
    return h;
}

void handoff_change_release(HandoffChange *h)
{
    if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    rel_release(h->rel);
    for (uint32_t i = 0; i < h->c.truncate_count; i++)
        rel_release(h->trels[i]);
    free(h);
}

/* ---- the worker ---- */

typedef enum { CALL_BEGIN, CALL_CHANGE, CALL_COMMIT, CALL_ROLLBACK } CallKind;

typedef struct Call {
    CallKind kind;
    TxnInfo txn;               /* its gid owned */
    HandoffChange *change;
} Call;

struct Handoff {
    Target *target;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    Call ring[HANDOFF_MAX_CALLS];
    size_t head, queued;       /* calls in the ring */
    Call staged[HANDOFF_BATCH]; /* the run thread's alone: calls not in the ring yet */
    size_t staged_count, staged_bytes;
    size_t bytes;              /* their change copies' weight */
    bool running;              /* the worker is applying a call it took */
    bool worker_asleep, caller_waits, stop;
    atomic_bool failed;
    /* a resync request waiting for the run thread (under mu, but `asking`) */
    ResyncHook hook;           /* the target's resync while the worker applies */
    const ResyncHook *real;    /* the loop's */
    atomic_bool asking;
    bool answered, answer_ok;
    const char *ask_target, *ask_table, *ask_why;
    Lsn ask_cause;
    Err answer_err;
    /* the worker's alone while it runs; read by the caller after a drain */
    Err err;
    TargetCheckpoint applied;
    int64_t applied_time_us;
};

static void publish(Handoff *h, bool wake);

static void call_free(Call *c)
{
    free((char *)c->txn.gid);
    handoff_change_release(c->change);
}

static void apply(Handoff *h, Call *c)
{
    Target *t = h->target;
    if (atomic_load_explicit(&h->failed, memory_order_relaxed))
        return; /* skipped until the failure is taken */
    bool ok = true;
    switch (c->kind) {
    case CALL_BEGIN:
        ok = t->ops->begin(t, &c->txn, &h->err);
        break;
    case CALL_CHANGE:
        ok = t->ops->change(t, &c->txn, &c->change->c, &h->err);
        break;
    case CALL_COMMIT:
        ok = t->ops->commit(t, &c->txn, &h->err);
        if (ok) {
            h->applied = (TargetCheckpoint){.commit_lsn = c->txn.commit_lsn, .end_lsn = c->txn.end_lsn};
            h->applied_time_us = c->txn.commit_time_us;
        }
        break;
    case CALL_ROLLBACK:
        t->ops->rollback(t);
        break;
    }
    if (!ok)
        atomic_store_explicit(&h->failed, true, memory_order_release);
}

/* The worker's side of a resync request: hand it to the run thread, wait for its answer. */
static bool ask_run_thread(void *ctx, const char *target, const char *table, const char *why, Lsn cause, Err *err)
{
    Handoff *h = ctx;
    pthread_mutex_lock(&h->mu);
    h->ask_target = target;
    h->ask_table = table;
    h->ask_why = why;
    h->ask_cause = cause;
    h->answered = false;
    atomic_store_explicit(&h->asking, true, memory_order_release);
    if (h->caller_waits)
        pthread_cond_signal(&h->done);
    while (!h->answered && !h->stop)
        pthread_cond_wait(&h->work, &h->mu);
    bool ok = h->answered && h->answer_ok;
    if (!h->answered)
        err_set(err, ERR_INTERRUPTED, "%s: stopped while asking for a resync of %s", h->target->name, table);
    else if (!ok)
        *err = h->answer_err;
    pthread_mutex_unlock(&h->mu);
    return ok;
}

/* The run thread's side, mu held: answer a waiting request (the lock let go meanwhile). */
static void serve_locked(Handoff *h)
{
    if (!atomic_load_explicit(&h->asking, memory_order_acquire))
        return;
    atomic_store_explicit(&h->asking, false, memory_order_relaxed);
    const char *target = h->ask_target, *table = h->ask_table, *why = h->ask_why;
    Lsn cause = h->ask_cause;
    pthread_mutex_unlock(&h->mu);
    Err err = {0};
    bool ok = h->real->request(h->real->ctx, target, table, why, cause, &err);
    pthread_mutex_lock(&h->mu);
    h->answer_ok = ok;
    h->answer_err = err;
    h->answered = true;
    pthread_cond_signal(&h->work);
}

void handoff_serve(Handoff *h)
{
    if (!atomic_load_explicit(&h->asking, memory_order_acquire))
        return;
    pthread_mutex_lock(&h->mu);
    serve_locked(h);
    pthread_mutex_unlock(&h->mu);
}

static void *worker_main(void *arg)
{
    Handoff *h = arg;
    /* signals are for the run thread (it checks its stop flag between frames) */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->queued && !h->stop) {
            h->worker_asleep = true;
            pthread_cond_wait(&h->work, &h->mu);
            h->worker_asleep = false;
        }
        if (h->stop) { /* what is left would never be flushed: dropped */
            for (; h->queued; h->queued--, h->head = (h->head + 1) % HANDOFF_MAX_CALLS)
                call_free(&h->ring[h->head]);
            break;
        }
        Call batch[HANDOFF_BATCH];
        size_t n = 0, weight = 0;
        for (; n < HANDOFF_BATCH && h->queued; n++) {
            batch[n] = h->ring[h->head];
            weight += batch[n].change ? batch[n].change->bytes : 0;
            h->head = (h->head + 1) % HANDOFF_MAX_CALLS;
            h->queued--;
        }
        h->running = true;
        pthread_mutex_unlock(&h->mu);
        /* the loop sets the target's hook (once, before any call); its requests come through here */
        Target *t = h->target;
        if (t->resync && t->resync != &h->hook) {
            h->real = t->resync;
            t->resync = &h->hook;
        }
        for (size_t i = 0; i < n; i++) {
            apply(h, &batch[i]);
            call_free(&batch[i]);
        }
        pthread_mutex_lock(&h->mu);
        h->running = false;
        h->bytes -= weight;
        /* the caller waits for room (wake it at half) or for the drain */
        if (h->caller_waits && (h->queued <= HANDOFF_MAX_CALLS / 2 || h->bytes <= HANDOFF_MAX_BYTES / 2))
            pthread_cond_signal(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

Handoff *handoff_start(Target *t, TargetCheckpoint applied, Err *err)
{
    Handoff *h = xcalloc(1, sizeof *h);
    h->target = t;
    h->applied = applied;
    h->hook = (ResyncHook){ask_run_thread, h};
    atomic_init(&h->failed, false);
    atomic_init(&h->asking, false);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->done, NULL);
    int rc = pthread_create(&h->thread, NULL, worker_main, h);
    if (rc != 0) {
        pthread_cond_destroy(&h->work);
        pthread_cond_destroy(&h->done);
        pthread_mutex_destroy(&h->mu);
        free(h);
        errno = rc;
        err_sys(err, ERR_INTERNAL, "starting the thread of %s", t->name);
        return NULL;
    }
    return h;
}

void handoff_stop(Handoff *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->staged_count; i++)
        call_free(&h->staged[i]);
    h->staged_count = 0;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->work);
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Move the staged calls into the ring, waiting for room; wake the worker when enough are
 * queued or `wake`. */
static void publish(Handoff *h, bool wake)
{
    if (!h->staged_count && !wake)
        return;
    pthread_mutex_lock(&h->mu);
    while (h->queued + h->staged_count > HANDOFF_MAX_CALLS ||
           (h->queued && h->bytes + h->staged_bytes > HANDOFF_MAX_BYTES)) {
        if (atomic_load_explicit(&h->asking, memory_order_acquire)) {
            serve_locked(h);
            continue;
        }
        h->caller_waits = true;
        pthread_cond_signal(&h->work);
        pthread_cond_wait(&h->done, &h->mu);
        h->caller_waits = false;
    }
    for (size_t i = 0; i < h->staged_count; i++)
        h->ring[(h->head + h->queued + i) % HANDOFF_MAX_CALLS] = h->staged[i];
    h->queued += h->staged_count;
    h->bytes += h->staged_bytes;
    h->staged_count = h->staged_bytes = 0;
    if (h->worker_asleep && h->queued && (wake || h->queued >= HANDOFF_WAKE_AT))
        pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->mu);
}

static void push(Handoff *h, CallKind kind, const TxnInfo *txn, HandoffChange *c)
{
    Call call = {.kind = kind, .change = c};
    if (txn) {
        call.txn = *txn;
        call.txn.gid = txn->gid ? xstrdup(txn->gid) : NULL;
    }
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    /* a change past the byte bound goes alone, so the bound holds whatever the batch */
    if (h->staged_count && c && h->staged_bytes + c->bytes > HANDOFF_MAX_BYTES)
        publish(h, false);
    h->staged[h->staged_count++] = call;
    h->staged_bytes += c ? c->bytes : 0;
    if (h->staged_count == HANDOFF_BATCH)
        publish(h, false);
}

void handoff_begin(Handoff *h, const TxnInfo *txn) { push(h, CALL_BEGIN, txn, NULL); }
void handoff_change(Handoff *h, const TxnInfo *txn, HandoffChange *c) { push(h, CALL_CHANGE, txn, c); }
void handoff_commit(Handoff *h, const TxnInfo *txn) { push(h, CALL_COMMIT, txn, NULL); }
void handoff_rollback(Handoff *h) { push(h, CALL_ROLLBACK, NULL, NULL); }

void handoff_drain(Handoff *h)
{
    publish(h, true);
    pthread_mutex_lock(&h->mu);
    while (h->queued || h->running) {
        if (atomic_load_explicit(&h->asking, memory_order_acquire)) {
            serve_locked(h);
            continue;
        }
        h->caller_waits = true;
        pthread_cond_signal(&h->work);
        pthread_cond_wait(&h->done, &h->mu);
        h->caller_waits = false;
    }
    pthread_mutex_unlock(&h->mu);
}

bool handoff_idle(Handoff *h)
{
    if (h->staged_count)
        return false;
    pthread_mutex_lock(&h->mu);
    bool idle = !h->queued && !h->running;
    pthread_mutex_unlock(&h->mu);
    return idle;
}

bool handoff_failed(const Handoff *h) { return atomic_load_explicit(&h->failed, memory_order_acquire); }

bool handoff_take_failure(Handoff *h, Err *err, TargetCheckpoint *applied, int64_t *applied_time_us)
{
    if (!handoff_failed(h))
        return false;
    *err = h->err;
    *applied = h->applied;
    *applied_time_us = h->applied_time_us;
    atomic_store_explicit(&h->failed, false, memory_order_release);
    return true;
}

void handoff_set_applied(Handoff *h, TargetCheckpoint applied, int64_t time_us)
{
    h->applied = applied;
    h->applied_time_us = time_us;
}
