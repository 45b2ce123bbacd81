/*
 * daemon/run.c - see run.h.
 *
 * Durability rule (pgoutput.md 5.12): a transaction reaches the targets in
 * commit order; each target makes it durable together with its checkpoint at
 * flush(); the flush LSN sent to Postgres is the smallest end_lsn that every
 * target has made durable. Between transactions with nothing unflushed, the
 * keepalive's walEnd is confirmed too: every transaction committed before it
 * has already arrived and been applied.
 */
#include "daemon/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/backoff.h"
#include "daemon/signals.h"
#include "daemon/walguard.h"
#include "metrics/metrics.h"
#include "pg/conn.h"
#include "pg/source.h"
#include "pg/stream.h"
#include "pg/walproto.h"
#include "pipeline/assembler.h"
#include "pipeline/deadletter.h"
#include "pipeline/gap.h"
#include "state/lock.h"
#include "state/store.h"

#define RUN_MAX_RECORDED 256          /* checkpoint rows read for the gap check */

typedef struct Slot {
    Target *target;
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

/* One frame read ahead of processing, kept in arrival order. */
typedef struct Run {
    const Config *cfg;
    RunOptions opts;
    Slot *slots;
    const char **target_names;     /* slots[i].target->name, for the state store and metrics */
    size_t slot_count;
    Store *store;
    SourceWatch *watch;            /* the mapped tables are still the ones the targets hold */
    Assembler *asm_;
    PgStream *stream;
    LogCtx log;
    Lsn received;                  /* highest LSN seen on the wire (the 'write' position) */
    Lsn keepalive_end;             /* walEnd of the latest keepalive */
    Lsn confirmed;                 /* highest flush LSN reported */
    Lsn through_recorded;          /* highest idle position recorded as every target's "through" */
    Lsn catch_up_target;           /* exit-when-caught-up: WAL end when we started */
    int64_t last_status_ms;
    int64_t last_flush_ms;
    int64_t first_pending_ms;      /* when unflushed work appeared, 0 if none */
    bool caught_up;
    bool txn_open;                 /* a transaction is being delivered and not yet committed */
    bool txn_begun;                /* and it has reached the targets (see sink_begin) */
    uint32_t txn_xid;              /* and its xid */
    bool long_replay_logged;
    uint64_t transactions;
    Metrics *metrics;              /* NULL without metrics.listen */
    int64_t last_metrics_ms;
    WalGuard *guard;               /* slot figures, the WAL guard, heartbeats */
    int64_t last_data_ms;          /* when WAL data last arrived (the stream is quiet since) */
    /* status updates during a long replay (see pump) */
    bool pump_failed;
    Err pump_err;
} Run;

/* ---- a target that keeps failing falls behind on its own ---- */

static bool save_health(Run *r, const Slot *s, Err *err)
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
    return store_save_target_health(r->store, &h, err);
}

/*
 * A target failed (err, already naming it). Retryable: it falls behind alone: the open
 * transaction is rolled back in it, it is skipped from now on and retried with backoff,
 * while the others go on. Returns false (the run stops) for a permanent error.
 */
static bool fall_behind(Run *r, Slot *s, bool in_txn, Err *err)
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
    metrics_target_failing(r->metrics, s->target->name, err);
    log_warn(&r->log, "%s; this target falls behind alone (the others go on), retry %u in %lld ms", err->msg,
             s->retry.attempts, (long long)delay);
    Err store_err;
    if (!save_health(r, s, &store_err))
        log_warn(&r->log, "recording the health of %s: %s", s->target->name, store_err.msg);
    return true;
}

static bool any_lagging(const Run *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (r->slots[i].lagging)
            return true;
    return false;
}

/* ---- the sink the assembler delivers to: fan out to every target ---- */

static bool sink_wants(void *ctx, Lsn commit_lsn)
{
    Run *r = ctx;
    for (size_t i = 0; i < r->slot_count; i++)
        if (!r->slots[i].lagging && commit_lsn > r->slots[i].accepted.commit_lsn)
            return true;
    return false;
}

/*
 * A transaction reaches the targets with its first change that is not wal2edge's own:
 * one that holds only a heartbeat or a sync-point message is not delivered at all (no
 * empty transaction in the change log every heartbeat); the slot still passes it, as an
 * idle advance.
 */
static bool sink_begin(void *ctx, const TxnInfo *txn, Err *err)
{
    (void)err;
    Run *r = ctx;
    r->txn_open = true;
    r->txn_begun = false;
    r->txn_xid = txn->xid;
    r->long_replay_logged = false;
    return true;
}

static bool begin_targets(Run *r, const TxnInfo *txn, Err *err)
{
    r->txn_begun = true;
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        bool applied = target_covers(&s->accepted, txn->commit_lsn);
        s->skip_current = s->lagging || applied;
        if (s->lagging && !applied)
            s->missed = true;
        if (!s->skip_current && !s->target->ops->begin(s->target, txn, err)) {
            err_prefix_name(err, s->target->name);
            if (!fall_behind(r, s, true, err))
                return false;
        }
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
static bool is_internal_message(Run *r, const Change *c)
{
    if (message_has_prefix(c, PGCONN_HEARTBEAT_PREFIX)) {
        metrics_heartbeat(r->metrics, (double)clock_wall_us() / 1e6);
        return true;
    }
    return message_has_prefix(c, PGCONN_SYNC_MESSAGE_PREFIX);
}

static void count_change(Run *r, const Change *c)
{
    static const char *const ops[] = {"insert", "update", "delete", "truncate"};
    if (c->op == CHANGE_TRUNCATE)
        for (uint32_t k = 0; k < c->truncate_count; k++)
            metrics_change(r->metrics, c->truncate_rels[k]->qualname, ops[CHANGE_TRUNCATE]);
    else if (c->op != CHANGE_MESSAGE && c->rel)
        metrics_change(r->metrics, c->rel->qualname, ops[c->op]);
}

static bool sink_change(void *ctx, const TxnInfo *txn, const Change *c, Err *err)
{
    Run *r = ctx;
    if (is_internal_message(r, c))
        return true;
    if (!r->txn_begun && !begin_targets(r, txn, err))
        return false;
    count_change(r, c);
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        if (!s->skip_current && !s->target->ops->change(s->target, txn, c, err)) {
            err_prefix_name(err, s->target->name);
            if (!fall_behind(r, s, true, err))
                return false;
        }
    }
    return true;
}

static bool sink_commit(void *ctx, const TxnInfo *txn, Err *err)
{
    Run *r = ctx;
    if (!r->txn_begun) { /* only wal2edge's own messages: nothing for the targets */
        r->txn_open = false;
        return true;
    }
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        if (s->skip_current)
            continue;
        if (!s->target->ops->commit(s->target, txn, err)) {
            err_prefix_name(err, s->target->name);
            if (!fall_behind(r, s, true, err))
                return false;
            continue;
        }
        s->accepted.commit_lsn = txn->commit_lsn;
        s->accepted.end_lsn = txn->end_lsn;
        s->pending_commit_time = txn->commit_time_us;
        s->pending_is_fence = false;
    }
    r->txn_open = false;
    r->txn_begun = false;
    r->transactions++;
    metrics_transaction(r->metrics);
    if (!r->first_pending_ms)
        r->first_pending_ms = clock_mono_ms();
    return true;
}

static void sink_rollback(void *ctx)
{
    Run *r = ctx;
    r->txn_open = false;
    if (!r->txn_begun)
        return;
    r->txn_begun = false;
    for (size_t i = 0; i < r->slot_count; i++)
        if (!r->slots[i].skip_current)
            r->slots[i].target->ops->rollback(r->slots[i].target);
}

static bool sink_message(void *ctx, const Change *c, Err *err)
{
    Run *r = ctx;
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        Target *t = s->target;
        if (s->lagging) {
            s->missed = true;
            continue;
        }
        if (t->ops->message && !t->ops->message(t, c, err)) {
            err_prefix_name(err, t->name);
            if (!fall_behind(r, s, false, err))
                return false;
            s->missed = true;
        }
    }
    if (!r->first_pending_ms)
        r->first_pending_ms = clock_mono_ms();
    return true;
}

/* A stop abandons a long replay (rolled back in every target; the server sends it again),
 * so SIGTERM is answered in moments whatever the transaction's size. */
static bool sink_stop(void *ctx)
{
    (void)ctx;
    return signals_stop_requested() > 0;
}

/* ---- durability ---- */

/* Unflushed work in a target that is not lagging (a lagging one waits for its retry). */
static bool any_pending(const Run *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (!r->slots[i].lagging && r->slots[i].target->ops->has_pending(r->slots[i].target))
            return true;
    return false;
}

/* Flush one target and record its checkpoint when it moved; *failed: the target's own flush
 * failed (err names it), as opposed to the state store. */
static bool flush_one(Run *r, Slot *s, bool *failed, Err *err)
{
    Target *t = s->target;
    TargetCheckpoint before = target_durable(t);
    *failed = false;
    int64_t started_us = clock_wall_us();
    bool flushed = t->ops->flush(t, err);
    metrics_target_flush(r->metrics, t->name, flushed ? "ok" : err_retryable(err) ? "retryable" : "fatal",
                           (double)(clock_wall_us() - started_us) / 1e6);
    if (!flushed) {
        err_prefix_name(err, t->name);
        *failed = true;
        return false;
    }
    if (target_durable(t).commit_lsn != before.commit_lsn) {
        s->durable_commit_time = s->pending_commit_time;
        if (!s->pending_is_fence)
            metrics_target_durable(r->metrics, t->name, s->durable_commit_time);
        unsigned attempts = s->retry.attempts;
        backoff_reset(&s->retry); /* progress: a later failure starts the backoff over */
        if (s->catching_up) {
            s->catching_up = false;
            log_info(&r->log, "%s is current again after %u failed attempts: its checkpoint moves", t->name,
                     attempts);
            if (!save_health(r, s, err))
                return false;
        }
        TargetCheckpoint durable = target_durable(t);
        if (!store_save_checkpoint(r->store, t->name, &durable, s->durable_commit_time, clock_wall_us(), err))
            return false;
    }
    return true;
}

static bool flush_targets(Run *r, Err *err)
{
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        bool failed;
        if (s->lagging || !s->target->ops->has_pending(s->target) || flush_one(r, s, &failed, err))
            continue;
        if (!failed || !fall_behind(r, s, false, err))
            return false;
    }
    r->last_flush_ms = clock_mono_ms();
    /* work a target keeps back (it could not or chose not to flush yet) waits a full interval again */
    r->first_pending_ms = any_pending(r) ? r->last_flush_ms : 0;
    return true;
}

/*
 * Retry the lagging targets that are due: flush what they still hold. One that takes it is
 * current again; if transactions went by meanwhile, *resync asks for a new session from the
 * slowest checkpoint (the server sends them again; the others skip what they already have).
 */
static bool retry_lagging(Run *r, bool *resync, Err *err)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        if (!s->lagging || now < s->next_retry_ms)
            continue;
        bool failed;
        unsigned attempts = s->retry.attempts; /* a flush that moves the checkpoint resets them */
        metrics_target_retry(r->metrics, s->target->name);
        if (s->target->ops->has_pending(s->target) && !flush_one(r, s, &failed, err)) {
            if (!failed || !fall_behind(r, s, false, err))
                return false;
            continue;
        }
        s->lagging = false;
        s->catching_up = s->missed;
        metrics_target_failing(r->metrics, s->target->name, NULL);
        if (s->missed)
            *resync = true;
        log_info(&r->log, "%s takes writes again after %u failed attempts; %s", s->target->name, attempts,
                 s->missed ? "resuming from its checkpoint to bring it what it missed" : "it missed nothing");
        if (!save_health(r, s, err))
            return false;
    }
    return true;
}

/* Milliseconds until the next lagging target's retry, or `cap` when sooner or none. */
static int64_t lag_wait_ms(const Run *r, int64_t now, int64_t cap)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (r->slots[i].lagging && r->slots[i].next_retry_ms - now < cap)
            cap = r->slots[i].next_retry_ms - now;
    return cap;
}

/* The LSN every target has made durable; when idle, also the server's position. */
/* The server's position when the stream is idle between transactions and every target is
 * current (every transaction committed before it has arrived and is durable everywhere); else 0. */
static Lsn idle_position(const Run *r)
{
    for (size_t i = 0; i < r->slot_count; i++) {
        const Slot *s = &r->slots[i];
        if (s->lagging || s->missed || target_durable(s->target).commit_lsn != s->accepted.commit_lsn ||
            s->target->ops->has_pending(s->target))
            return 0;
    }
    /* not in the middle of a replay either: a stop may still abandon the transaction */
    if (r->txn_open || pgstream_has_queued(r->stream) || !assembler_idle(r->asm_))
        return 0;
    return r->keepalive_end;
}

static Lsn confirmable(const Run *r)
{
    Lsn durable = UINT64_MAX;
    for (size_t i = 0; i < r->slot_count; i++)
        if (target_durable(r->slots[i].target).end_lsn < durable)
            durable = target_durable(r->slots[i].target).end_lsn;
    if (durable == UINT64_MAX)
        durable = 0;
    Lsn idle = idle_position(r);
    Lsn lsn = idle > durable ? idle : durable;
    return lsn > r->confirmed ? lsn : r->confirmed;
}

/*
 * The fence: while the stream is idle, each target that can moves its checkpoint to the
 * server's position although no change of its came (the embedded D1 within the flush
 * interval, a REST target at most every run.fence_interval_ms), so a client that committed
 * anything, even to an unmapped table, can wait for the checkpoint to pass its commit.
 */
static bool fence_targets(Run *r, Err *err)
{
    Lsn position = idle_position(r);
    TargetCheckpoint at = target_fence_checkpoint(position);
    for (size_t i = 0; position && i < r->slot_count; i++) {
        Slot *s = &r->slots[i];
        Target *t = s->target;
        if (!t->ops->fence || position <= s->accepted.end_lsn)
            continue;
        int64_t at_us = clock_wall_us();
        if (!t->ops->fence(t, &at, at_us, err)) {
            err_prefix_name(err, t->name);
            if (!fall_behind(r, s, false, err))
                return false;
            continue;
        }
        s->accepted = at;
        s->pending_is_fence = true;
        s->pending_commit_time = at_us; /* current as of now: what lag_seconds measures from */
    }
    /* work that becomes due later (a REST target's fence) is flushed on the usual timer */
    if (!r->first_pending_ms && any_pending(r))
        r->first_pending_ms = clock_mono_ms();
    return true;
}

/*
 * Before the slot confirms a position past some target's checkpoint (an idle
 * advance: every target is current), record that every target is complete
 * through it. Otherwise a later start could not tell this advance from a gap
 * (pipeline/gap).
 */
static bool record_through(Run *r, Lsn flush, Err *err)
{
    if (flush <= r->through_recorded)
        return true;
    bool past_a_checkpoint = false;
    for (size_t i = 0; i < r->slot_count; i++)
        if (flush > target_durable(r->slots[i].target).end_lsn)
            past_a_checkpoint = true;
    if (past_a_checkpoint && !store_save_through(r->store, r->target_names, r->slot_count, flush, err))
        return false;
    r->through_recorded = flush;
    return true;
}

static bool send_status(Run *r, bool reply_requested, Err *err)
{
    Lsn flush = confirmable(r);
    if (!record_through(r, flush, err))
        return false;
    Lsn write = r->received > flush ? r->received : flush;
    if (!pgstream_send_status(r->stream, write, flush, reply_requested, err))
        return false;
    if (flush != r->confirmed) {
        r->log.lsn = flush;
        r->log.has_lsn = true;
        log_debug(&r->log, "confirmed flush position");
    }
    r->confirmed = flush;
    r->last_status_ms = clock_mono_ms();
    return true;
}

/* The figures of the metrics endpoint (at most once a second). Lag in seconds: now - commit
 * time of the last transaction every target has, 0 once everything the server sent is durable. */
static void report_metrics(Run *r)
{
    int64_t now = clock_mono_ms();
    if (!r->metrics || now - r->last_metrics_ms < 1000)
        return;
    r->last_metrics_ms = now;
    Lsn end = r->received > r->keepalive_end ? r->received : r->keepalive_end;
    Lsn confirmed = confirmable(r);
    int64_t oldest = INT64_MAX;
    for (size_t i = 0; i < r->slot_count; i++) {
        const Slot *s = &r->slots[i];
        Lsn at = target_durable(s->target).end_lsn;
        bool current = !s->lagging && !s->missed && target_durable(s->target).commit_lsn == s->accepted.commit_lsn &&
                       !s->target->ops->has_pending(s->target);
        if (current && confirmed > at)
            at = confirmed; /* idle: it has everything up to the confirmed position */
        metrics_target_lag_bytes(r->metrics, s->target->name, end > at ? end - at : 0);
        if (s->durable_commit_time > 0 && s->durable_commit_time < oldest)
            oldest = s->durable_commit_time;
    }
    double lag = -1;
    if (end && confirmed >= end)
        lag = 0;
    else if (oldest != INT64_MAX)
        lag = (double)(clock_wall_us() - oldest) / 1e6;
    metrics_lag_seconds(r->metrics, lag);
    metrics_spool_bytes(r->metrics, assembler_spool_bytes(r->asm_));
}

/* ---- the session ---- */

/*
 * While a long staged transaction is replayed into the targets, keep status
 * updates on schedule (with what is already durable). The stream's reader
 * thread goes on receiving meanwhile, so the server streams the next
 * transactions while this one is applied.
 */
static void pump(void *ctx)
{
    Run *r = ctx;
    if (r->txn_open && !r->long_replay_logged) {
        r->long_replay_logged = true;
        log_debug(&r->log, "replaying staged transaction %u into the targets", r->txn_xid);
    }
    if (!r->stream || r->pump_failed)
        return;
    if (clock_mono_ms() - r->last_status_ms >= r->opts.status_interval_ms && !send_status(r, false, &r->pump_err))
        r->pump_failed = true;
}

static bool handle_frame(Run *r, const uint8_t *frame, size_t len, bool *reply_now, Err *err)
{
    WalMsg msg;
    if (!walproto_decode(frame, len, &msg, err))
        return false;
    if (msg.kind == WAL_MSG_KEEPALIVE) {
        if (msg.u.keepalive.wal_end > r->keepalive_end)
            r->keepalive_end = msg.u.keepalive.wal_end;
        if (msg.u.keepalive.wal_end > r->received)
            r->received = msg.u.keepalive.wal_end;
        *reply_now = *reply_now || msg.u.keepalive.reply_requested;
        return true;
    }
    if (msg.u.xlog.wal_start > r->received)
        r->received = msg.u.xlog.wal_start;
    r->last_data_ms = clock_mono_ms();
    if (!assembler_feed(r->asm_, msg.u.xlog.wal_start, msg.u.xlog.payload, msg.u.xlog.payload_len, err))
        return false;
    if (r->pump_failed) {
        *err = r->pump_err; /* the connection broke during a replay */
        return false;
    }
    return true;
}

/* Make sure the slot (and publication) exist and the server can decode; fill *two_phase. */
static bool prepare_source(Run *r, bool *two_phase, Lsn *slot_confirmed, Err *err)
{
    PgConn *conn = pgconn_open(r->cfg->source.dsn, err);
    if (!conn)
        return false;
    PgServerFacts facts;
    bool ok = pgconn_server_facts(conn, r->cfg->source.publication, r->cfg->source.slot, &facts, err);
    ok = ok && source_check_wal_level(&facts, err);
    /* as `slot create` would: the mapped tables, or all tables for a change-log-only run */
    bool created_publication = false;
    ok = ok && source_ensure_publication(conn, &facts, r->cfg->source.publication, r->opts.publication_tables,
                                         r->opts.publication_table_count, &created_publication, err);
    if (created_publication)
        log_info(&r->log, "created publication \"%s\" for %s", r->cfg->source.publication,
                 r->opts.publication_table_count ? "the mapped tables" : "all tables");
    if (ok && r->opts.exit_when_caught_up && !r->catch_up_target)
        ok = pgconn_sync_point(conn, &r->catch_up_target, err);
    if (ok && r->opts.exit_when_caught_up) {
        char text[LSN_STR_MAX];
        log_debug(&r->log, "catching up to %s", lsn_format(r->catch_up_target, text));
    }
    pgconn_close(conn);
    if (!ok)
        return false;
    if (facts.slot.exists) {
        if (strcmp(facts.slot.plugin, "pgoutput") != 0)
            return err_set(err, ERR_CHECK, "replication slot \"%s\" uses plugin %s, not pgoutput",
                           r->cfg->source.slot, facts.slot.plugin);
        if (strcmp(facts.slot.wal_status, "lost") == 0)
            return err_set(err, ERR_CHECK,
                           "replication slot \"%s\" is invalidated (wal_status lost: the server removed WAL it "
                           "still needed), so every target misses changes; way back: `wal2edge slot drop --force`, "
                           "`wal2edge slot create`, then rebuild what `wal2edge run` lists: D1 with `wal2edge "
                           "migrate`, KV with `wal2edge warm`, a queue by re-syncing its consumers then `wal2edge "
                           "run --accept-gap queues.NAME`, the change log with `--accept-gap changelog`",
                           r->cfg->source.slot);
        *two_phase = facts.slot.two_phase;
        if (!lsn_parse(facts.slot.confirmed_flush_lsn, slot_confirmed, err)) {
            err_prefix(err, "replication slot \"%s\": confirmed_flush_lsn", r->cfg->source.slot);
            return false;
        }
        return true;
    }
    PgSlotCreated created;
    if (!source_create_slot(r->stream, r->cfg->source.slot, 0, &created, two_phase, err))
        return false;
    r->log.lsn = created.consistent_point;
    r->log.has_lsn = true;
    log_info(&r->log, "created replication slot \"%s\"", r->cfg->source.slot);
    *slot_confirmed = created.consistent_point;
    return store_set_incarnation(r->store, created.consistent_point, err);
}

static bool accepts_gap(const Run *r, const char *target)
{
    for (size_t i = 0; i < r->opts.accept_gap_count; i++)
        if (strcmp(r->opts.accept_gap[i], target) == 0)
            return true;
    return false;
}

/*
 * The gap rule (pipeline/gap): a target behind the slot's confirmed position,
 * or recorded on an earlier incarnation of the slot, misses changes no restart
 * can bring back. Refuse to start, naming each such target and its way back,
 * unless the user accepted that target's gap (--accept-gap).
 */
static bool check_gaps(Run *r, Lsn slot_confirmed, Err *err)
{
    StoreCheckpoint *rows = xcalloc(RUN_MAX_RECORDED, sizeof *rows);
    size_t count = 0;
    bool ok = store_list_checkpoints(r->store, rows, RUN_MAX_RECORDED, &count, err);
    if (count > RUN_MAX_RECORDED)
        count = RUN_MAX_RECORDED;
    Buf names;
    buf_init(&names, ERR_MSG_MAX);
    size_t gaps = 0;
    for (size_t i = 0; ok && i < r->slot_count; i++) {
        Target *t = r->slots[i].target;
        GapInput in = {.target = t->name, .own = target_durable(t)};
        for (size_t k = 0; k < count; k++)
            if (strcmp(rows[k].target, t->name) == 0) {
                in.recorded = true;
                in.rec_commit_lsn = rows[k].checkpoint.commit_lsn;
                in.rec_through_known = rows[k].through_known;
                in.rec_through = rows[k].through;
                in.rec_incarnation = rows[k].incarnation;
            }
        GapVerdict v = gap_judge(&in, slot_confirmed, store_incarnation(r->store));
        char pos[LSN_STR_MAX], conf[LSN_STR_MAX];
        lsn_format(v.position, pos);
        lsn_format(slot_confirmed, conf);
        if (v.kind == GAP_UNVERIFIED)
            log_warn(&r->log, "%s: its checkpoint %s was recorded by an older wal2edge; whether the slot (at %s) "
                     "skipped changes for it cannot be checked this time", t->name, pos, conf);
        if (!gap_is_gap(v.kind)) {
            /* a checkpoint the target reached without this state directory (migrate, warm) is
             * recorded now, so the idle positions recorded from here on speak for it */
            if (in.own.commit_lsn && (!in.recorded || in.rec_commit_lsn != in.own.commit_lsn))
                ok = store_save_checkpoint(r->store, t->name, &in.own, 0, clock_wall_us(), err);
            continue;
        }
        if (accepts_gap(r, t->name)) {
            ok = store_accept_gap(r->store, t->name, slot_confirmed, err);
            log_warn(&r->log, "%s: gap accepted (--accept-gap): the changes between %s and %s are not applied "
                     "to it", t->name, pos, conf);
            continue;
        }
        /* each target gets its own line with its way back; the error sums them up */
        Buf line;
        buf_init(&line, 4096);
        Err cut; /* a line or a list too long for its buffer is cut, never fatal */
        if (!gap_describe(t->name, &v, r->cfg->source.slot, slot_confirmed, &line, &cut))
            log_debug(&r->log, "%s", cut.msg);
        log_error(&r->log, "%s", line.data ? line.data : t->name);
        buf_free(&line);
        if (!buf_printf(&names, &cut, "%s%s", gaps ? ", " : "", t->name))
            log_debug(&r->log, "%s", cut.msg);
        gaps++;
    }
    free(rows);
    if (ok && gaps) {
        char conf[LSN_STR_MAX];
        ok = err_set(err, ERR_CHECK,
                     "%s cannot be brought up to date from replication slot \"%s\" (confirmed %s): the "
                     "changes they miss are no longer in the slot; each is named above with its way back "
                     "(the slot is kept)",
                     names.data, r->cfg->source.slot, lsn_format(slot_confirmed, conf));
    }
    buf_free(&names);
    return ok;
}

/* A session starting at start_position() brings every target that is not lagging what it missed. */
static void forget_missed(Run *r)
{
    for (size_t i = 0; i < r->slot_count; i++)
        if (!r->slots[i].lagging)
            r->slots[i].missed = false;
}

static Lsn start_position(const Run *r)
{
    Lsn start = UINT64_MAX;
    for (size_t i = 0; i < r->slot_count; i++)
        if (target_durable(r->slots[i].target).end_lsn < start)
            start = target_durable(r->slots[i].target).end_lsn;
    return start == UINT64_MAX ? 0 : start;
}

/* One replication session, until stop, catch-up or an error. */
static bool session(Run *r, bool *stop, Err *err)
{
    r->pump_failed = false;
    metrics_set_state(r->metrics, METRICS_CONNECTING, NULL);
    r->stream = pgstream_connect(r->cfg->source.dsn, err);
    if (!r->stream)
        return false;
    PgSystemInfo sys;
    bool two_phase = false;
    Lsn slot_confirmed = 0;
    if (!pgstream_identify(r->stream, &sys, err) ||
        !store_bind_source(r->store, sys.system_id, sys.dbname, r->cfg->source.slot, err) ||
        !prepare_source(r, &two_phase, &slot_confirmed, err) || !check_gaps(r, slot_confirmed, err) ||
        !source_watch_check(r->watch, err) ||
        !assembler_reset(r->asm_, err))
        return false;
    PgStreamOptions so = {
        .slot = r->cfg->source.slot,
        .publication = r->cfg->source.publication,
        .proto_version = 0,
        .streaming = true,
        .messages = true,
        .two_phase = two_phase,
    };
    Lsn start = start_position(r);
    if (!pgstream_start(r->stream, &so, start, err))
        return false;
    forget_missed(r);
    r->last_data_ms = clock_mono_ms();
    metrics_set_state(r->metrics, METRICS_STREAMING, NULL);
    /* 0: a target that keeps no checkpoint of its own (a REST queue) takes what the slot
     * confirmed, which the server resumes from; a made-up "0/0" would only mislead */
    r->log.lsn = start;
    r->log.has_lsn = start != 0;
    log_info(&r->log, "streaming from slot \"%s\"%s (protocol %d, system %s)", r->cfg->source.slot,
             start ? "" : " at its confirmed position", pgstream_max_proto_version(r->stream), sys.system_id);
    r->keepalive_end = 0;
    int64_t last_ping_ms = 0;
    for (;;) {
        if (signals_stop_requested()) {
            *stop = true;
            return true;
        }
        int64_t now = clock_mono_ms();
        int64_t wait = r->opts.status_interval_ms - (now - r->last_status_ms);
        if (r->first_pending_ms) {
            int64_t flush_wait = r->opts.flush_interval_ms - (now - r->first_pending_ms);
            if (flush_wait < wait)
                wait = flush_wait;
        }
        wait = lag_wait_ms(r, now, wait);
        if (wait > 1000)
            wait = 1000; /* the WAL guard's poll and heartbeats are due on their own clock */
        if (r->opts.exit_when_caught_up && wait > 50)
            wait = 50;
        if (wait < 0)
            wait = 0;
        const uint8_t *frame;
        size_t len;
        int rc = pgstream_next(r->stream, (int)wait, &frame, &len, err);
        if (rc < 0)
            return false;
        bool quiet = rc == 0; /* nothing arrived while we waited */
        bool reply_now = false;
        /* Drain what is already here before doing periodic work, a bounded batch at a time. */
        for (int batch = 0; rc == 1 && batch < 10000; batch++) {
            if (!handle_frame(r, frame, len, &reply_now, err))
                return false;
            rc = pgstream_next(r->stream, 0, &frame, &len, err);
            if (rc < 0)
                return false;
        }
        if (rc == 1 && !handle_frame(r, frame, len, &reply_now, err))
            return false;
        now = clock_mono_ms();
        /* Flush once the stream goes quiet, or at most every 5 flush intervals under a
         * continuous load: each flush is an fsync that stops reading for a moment. */
        int64_t flush_due = quiet ? r->opts.flush_interval_ms : 5 * (int64_t)r->opts.flush_interval_ms;
        if (r->first_pending_ms && now - r->first_pending_ms >= flush_due && !flush_targets(r, err))
            return false;
        if (any_lagging(r) && assembler_idle(r->asm_)) {
            bool resync = false;
            if (!retry_lagging(r, &resync, err))
                return false;
            if (resync)
                return true; /* *stop stays false: run_pipeline starts a new session */
        }
        if (!fence_targets(r, err))
            return false;
        report_metrics(r);
        walguard_tick(r->guard, r->last_data_ms);
        bool advanced = confirmable(r) > r->confirmed;
        if (reply_now || now - r->last_status_ms >= r->opts.status_interval_ms ||
            (advanced && now - r->last_status_ms >= 1000)) {
            if (!send_status(r, false, err))
                return false;
        }
        if (!source_watch_tick(r->watch, err))
            return false;
        if (r->opts.exit_when_caught_up) {
            /* the walsender's position passed the sync point: everything committed before it is here */
            if (assembler_idle(r->asm_) && !any_pending(r) && !any_lagging(r) &&
                r->keepalive_end >= r->catch_up_target) {
                char text[LSN_STR_MAX];
                log_debug(&r->log, "caught up: the server has sent everything up to %s",
                          lsn_format(r->keepalive_end, text));
                r->caught_up = true;
                *stop = true;
                return true;
            }
            /* A quiet stream between transactions: ask the server where it is. The ping
             * repeats the flush position already confirmed: moving it makes the walsender
             * do slot bookkeeping (and fsync the slot), which 20 times a second slows it. */
            if (quiet && assembler_idle(r->asm_) && now - last_ping_ms >= 50) {
                Lsn write = r->received > r->confirmed ? r->received : r->confirmed;
                if (!flush_targets(r, err) || !pgstream_send_status(r->stream, write, r->confirmed, true, err))
                    return false;
                last_ping_ms = now;
            }
        }
    }
}

static void close_session(Run *r, bool clean)
{
    if (!r->stream)
        return;
    if (clean) {
        Err err;
        if (!send_status(r, false, &err) || !pgstream_finish(r->stream, &err))
            log_warn(&r->log, "ending the replication stream: %s", err.msg);
    }
    pgstream_close(r->stream);
    r->stream = NULL;
}

bool run_pipeline(const Config *cfg, const RunOptions *opts, Target **targets, size_t count, Err *err)
{
    Run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.opts = *opts;
    if (r.opts.status_interval_ms <= 0)
        r.opts.status_interval_ms = CONFIG_DEFAULT_STATUS_INTERVAL_MS;
    if (r.opts.flush_interval_ms <= 0)
        r.opts.flush_interval_ms = CONFIG_DEFAULT_FLUSH_INTERVAL_MS;
    r.log.component = "run";
    r.log.slot = cfg->source.slot;
    r.slots = xcalloc(count ? count : 1, sizeof *r.slots);
    r.target_names = xcalloc(count ? count : 1, sizeof *r.target_names);
    r.slot_count = count;
    for (size_t i = 0; i < count; i++) {
        r.slots[i].target = targets[i];
        r.slots[i].accepted = target_durable(targets[i]);
        r.target_names[i] = targets[i]->name;
        backoff_init(&r.slots[i].retry, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    }
    int lock_fd = -1;
    bool ok = state_dir_lock(cfg->state_dir, "run", &lock_fd, err);
    if (ok)
        r.store = store_open(cfg->state_dir, err);
    ok = ok && r.store;
    if (ok) {
        ok = metrics_open(cfg, r.target_names, count, &r.metrics, err);
        if (ok && opts->on_metrics)
            opts->on_metrics(opts->on_metrics_user, r.metrics);
        for (size_t i = 0; r.metrics && i < count; i++)
            if (targets[i]->deadletter) /* one file for every target */
                deadletter_observe(targets[i]->deadletter, metrics_skipped, r.metrics);
        r.guard = walguard_new(cfg, r.metrics);
    }
    /* health is this run's: a target that was lagging when the last run stopped starts current */
    for (size_t i = 0; ok && i < count; i++)
        ok = save_health(&r, &r.slots[i], err);
    if (ok)
        r.watch = source_watch_new(cfg, r.store, opts->watch_tables, opts->watch_table_count, r.opts.status_interval_ms);
    if (ok) {
        char *spool_dir = xasprintf("%s/spool", cfg->state_dir);
        AsmSink sink = {&r, sink_wants, sink_begin, sink_change, sink_commit, sink_rollback, sink_message, pump,
                       sink_stop};
        r.asm_ = assembler_new(spool_dir, &sink, err);
        free(spool_dir);
        ok = r.asm_ != NULL;
    }
    signals_install();
    Backoff backoff;
    backoff_init(&backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    int reconnects = 0;
    bool stop = false;
    while (ok && !stop) {
        uint64_t before = r.transactions;
        bool session_ok = session(&r, &stop, err);
        if (session_ok) {
            close_session(&r, true);
            if (stop)
                break;
            continue; /* a lagging target is back: resume from its checkpoint at once */
        }
        close_session(&r, false);
        if (signals_stop_requested()) {
            if (err->code == ERR_INTERRUPTED)
                log_info(&r.log, "stopping: %s (the next run applies it again)", err->msg);
            break;
        }
        metrics_error(r.metrics, err->msg);
        if (!err_retryable(err) || (r.opts.max_reconnects && ++reconnects > r.opts.max_reconnects)) {
            metrics_set_state(r.metrics, METRICS_FATAL, err->msg);
            ok = false;
            break;
        }
        metrics_set_state(r.metrics, METRICS_CONNECTING, err->msg);
        if (r.transactions > before)
            backoff_reset(&backoff); /* the session made progress: start the backoff over */
        int64_t delay = backoff_next(&backoff, (uint32_t)clock_wall_us());
        log_warn(&r.log, "%s; reconnecting in %lld ms (attempt %u)", err->msg, (long long)delay,
                 backoff.attempts);
        signals_sleep_ms(delay);
    }
    if (ok)
        metrics_set_state(r.metrics, METRICS_STOPPING, NULL);
    /* Whatever happened, make durable what was committed (a half-received transaction
     * is rolled back first: the server sends it again); the next start resumes from it. */
    Err flush_err;
    if (r.asm_ && !assembler_reset(r.asm_, &flush_err))
        log_warn(&r.log, "cleaning up the spool: %s", flush_err.msg);
    if (r.store && !flush_targets(&r, &flush_err)) {
        if (ok) {
            *err = flush_err;
            ok = false;
        } else {
            log_error(&r.log, "flushing targets: %s", flush_err.msg);
        }
    }
    if (ok) {
        r.log.lsn = r.confirmed;
        r.log.has_lsn = r.confirmed != 0; /* nothing confirmed in this run */
        const AsmStats *st = r.asm_ ? assembler_stats(r.asm_) : NULL;
        struct rusage ru;
        long peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
        log_info(&r.log,
                 "stopped%s: %llu transactions, %llu changes, %llu streamed, %llu prepared, "
                 "%llu bytes spooled, %.2f s replaying them, peak RSS %ld KB",
                 r.caught_up ? " (caught up)" : "", (unsigned long long)r.transactions,
                 st ? (unsigned long long)st->changes : 0ULL, st ? (unsigned long long)st->streamed : 0ULL,
                 st ? (unsigned long long)st->prepared : 0ULL, st ? (unsigned long long)st->spooled_bytes : 0ULL,
                 st ? (double)st->replay_us / 1e6 : 0.0, peak_kb);
    }
    walguard_free(r.guard);
    for (size_t i = 0; r.metrics && i < count; i++)
        if (targets[i]->deadletter)
            deadletter_observe(targets[i]->deadletter, NULL, NULL);
    if (r.metrics && opts->on_metrics)
        opts->on_metrics(opts->on_metrics_user, NULL);
    metrics_stop(r.metrics);
    assembler_free(r.asm_);
    source_watch_free(r.watch);
    for (size_t i = 0; i < count; i++)
        targets[i]->ops->free(targets[i]);
    free(r.slots);
    free(r.target_names);
    store_close(r.store);
    state_dir_unlock(lock_fd);
    return ok;
}
