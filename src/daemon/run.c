/*
 * daemon/run.c - see run.h.
 *
 * A thin loop: a session connects, checks the source and each target's gap, and
 * starts the stream at the slowest target's checkpoint; then it reads a batch of
 * frames (a keepalive moves the received position, an XLogData goes through the
 * assembler into the fan-out, daemon/fanout), and between batches flushes, retries
 * a lagging target, fences and sends the status.
 *
 * Durability rule (pgoutput.md 5.12): a transaction reaches the targets in
 * commit order; each target makes it durable together with its checkpoint at
 * flush(); the flush LSN sent to Postgres is the smallest end_lsn that every
 * target has made durable. Between transactions with nothing unflushed, the
 * keepalive's walEnd is confirmed too: every transaction committed before it
 * has already arrived and been applied.
 */
#include "daemon/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/backoff.h"
#include "daemon/fanout.h"
#include "daemon/groupckpt.h"
#include "daemon/lease.h"
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

typedef struct Run {
    const Config *cfg;
    RunOptions opts;
    Fanout *fanout;                /* the targets, behind the assembler's sink */
    GroupCkpt *group;              /* run --standby: the checkpoints the group shares; NULL otherwise */
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
    int64_t last_ping_ms;          /* exit-when-caught-up: the last status asking for a reply */
    bool caught_up;
    Metrics *metrics;              /* NULL without metrics.listen */
    int64_t last_metrics_ms;
    WalGuard *guard;               /* slot figures, the WAL guard, heartbeats */
    int64_t last_data_ms;          /* when WAL data last arrived (the stream is quiet since) */
    Resyncer *resyncer;            /* the re-copies beside the stream (daemon/resyncer) */
    unsigned long resyncs_seen;    /* exit-when-caught-up: re-copies ended before catch_up_target was taken */
    ResyncHook resync_hook;        /* every target's way to ask it for one */
    Lease lease;                   /* how long the walsender surely keeps the slot for this instance */
    int64_t heard_ms;              /* pgstream_heard_ms, kept when the stream closes */
    bool flushing;                 /* inside a flush: the lease's end is the writes' deadline */
    int64_t reload_since_ms;       /* SIGHUP with a good new config: ending at the next transaction's end */
    bool reloading;                /* the session ended for that */
} Run;

static bool request_resync(void *ctx, const char *target, const char *table, const char *why, Lsn cause, Err *err)
{
    return resyncer_request(ctx, table, target ? &target : NULL, target ? 1 : 0, why, cause, err);
}

/* ---- the lease (daemon/lease): no write to a target after the walsender may have let go ---- */

static int64_t heard(const Run *r)
{
    return r->stream && pgstream_heard_ms(r->stream) ? pgstream_heard_ms(r->stream) : r->heard_ms;
}

/* The writes' deadline (cf/client asks it before each request). */
static int64_t write_deadline(void *user)
{
    const Run *r = user;
    return r->flushing ? lease_deadline_ms(&r->lease, heard(r)) : INT64_MAX;
}

/* Flush every target, if the lease leaves room for it (else ERR_LEASE: the session ends). */
static bool lease_flush(Run *r, Err *err)
{
    if (!lease_check(&r->lease, heard(r), clock_mono_ms(), err))
        return false;
    r->flushing = true;
    bool ok = fanout_flush(r->fanout, err);
    r->flushing = false;
    return ok;
}

/* The server's position when the stream is idle between transactions and every target is
 * current (every transaction committed before it has arrived and is durable everywhere); else 0. */
static Lsn idle_position(const Run *r)
{
    /* not in the middle of a replay either: a stop may still abandon the transaction */
    if (!fanout_all_current(r->fanout) || pgstream_has_queued(r->stream) || !assembler_idle(r->asm_))
        return 0;
    return r->keepalive_end;
}

/* The LSN every target has made durable; when idle, also the server's position. */
static Lsn confirmable(const Run *r)
{
    Lsn durable = fanout_durable_end(r->fanout);
    Lsn idle = idle_position(r);
    Lsn lsn = idle > durable ? idle : durable;
    return lsn > r->confirmed ? lsn : r->confirmed;
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
    if (flush > fanout_durable_end(r->fanout) &&
        !store_save_through(r->store, fanout_names(r->fanout), fanout_count(r->fanout), flush, err))
        return false;
    r->through_recorded = flush;
    return true;
}

typedef enum StatusKind {
    STATUS_CONFIRM,                /* confirm what may be confirmed now */
    STATUS_PING,                   /* ask the server where it is; repeat what is confirmed */
} StatusKind;

/*
 * The one place the loop sends a standby status update. A ping (exit-when-caught-up,
 * every 50 ms on a quiet stream) repeats the position already confirmed: moving it makes
 * the walsender do slot bookkeeping (and fsync the slot), which that often slows it.
 * While the loop is busy (a long replay, a slow flush), the stream's reader thread
 * answers a keepalive that asks for a reply by repeating what was last sent here.
 */
static bool send_status(Run *r, StatusKind kind, Err *err)
{
    Lsn flush = kind == STATUS_PING ? r->confirmed : confirmable(r);
    if (!record_through(r, flush, err))
        return false;
    Lsn write = r->received > flush ? r->received : flush;
    /* the group knows each target's checkpoint before the slot may pass it */
    if (kind != STATUS_PING && r->group && !groupckpt_save(r->group, r->fanout, err))
        return false;
    if (!pgstream_send_status(r->stream, write, flush, kind == STATUS_PING, err))
        return false;
    int64_t now = clock_mono_ms();
    if (kind == STATUS_PING) {
        r->last_ping_ms = now;
        return true;
    }
    if (flush != r->confirmed) {
        r->log.lsn = flush;
        r->log.has_lsn = true;
        log_debug(&r->log, "confirmed flush position");
    }
    r->confirmed = flush;
    r->last_status_ms = now;
    return true;
}

/* The resyncer's jobs not done yet, for stats.json (`status`). */
static void report_resyncs(Run *r)
{
    ResyncerJobView *v = NULL;
    size_t n = r->resyncer ? resyncer_jobs(r->resyncer, &v) : 0;
    StatsResync out[STATS_MAX_RESYNCS];
    size_t k = 0;
    for (size_t i = 0; i < n && k < STATS_MAX_RESYNCS; i++) {
        if (v[i].state == RESYNCER_DONE)
            continue;
        StatsResync *s = &out[k++];
        memset(s, 0, sizeof *s);
        snprintf(s->table, sizeof s->table, "%s", v[i].table);
        snprintf(s->state, sizeof s->state, "%s", resyncer_state_name(v[i].state));
        snprintf(s->why, sizeof s->why, "%s", v[i].why ? v[i].why : "");
        snprintf(s->last_error, sizeof s->last_error, "%s", v[i].last_error ? v[i].last_error : "");
        for (size_t t = 0; t < v[i].ntargets && s->ntargets < STATS_RESYNC_TARGETS; t++)
            snprintf(s->targets[s->ntargets++], sizeof s->targets[0], "%s", v[i].targets[t]);
        s->rows = (double)v[i].rows;
        s->chunks = (double)v[i].chunk;
        s->attempts = v[i].attempts;
    }
    resyncer_jobs_free(v, n);
    metrics_resyncs(r->metrics, out, k);
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
    int64_t oldest = fanout_report(r->fanout, end, confirmed);
    double lag = -1;
    if (end && confirmed >= end)
        lag = 0;
    else if (oldest != INT64_MAX)
        lag = (double)(clock_wall_us() - oldest) / 1e6;
    metrics_lag_seconds(r->metrics, lag);
    metrics_spool_bytes(r->metrics, assembler_spool_bytes(r->asm_));
    report_resyncs(r);
}

/* ---- the session ---- */

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
    return assembler_feed(r->asm_, msg.u.xlog.wal_start, msg.u.xlog.payload, msg.u.xlog.payload_len, err);
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
    ok = ok && source_check_failover(&facts, (SlotFailover)r->cfg->source.failover_slot, err);
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
        /* held by another walsender: another instance streams, and this one's checkpoints may be
         * behind what it wrote (no gap to report, nothing to flush: run --standby stands by) */
        if (facts.slot.active)
            return err_set(err, ERR_SLOT_BUSY, "replication slot \"%s\" is active for PID %d (another instance "
                           "holds it)", r->cfg->source.slot, facts.slot.active_pid);
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
        /* no position yet: another session is creating it right now (two instances started
         * together on a missing slot) - the same as held, so a standby waits for it */
        if (!facts.slot.confirmed_flush_lsn[0])
            return err_set(err, ERR_SLOT_BUSY, "replication slot \"%s\" is being created by another session",
                           r->cfg->source.slot);
        *two_phase = facts.slot.two_phase;
        if (!lsn_parse(facts.slot.confirmed_flush_lsn, slot_confirmed, err)) {
            err_prefix(err, "replication slot \"%s\": confirmed_flush_lsn", r->cfg->source.slot);
            return false;
        }
        return true;
    }
    PgSlotCreated created;
    if (!source_create_slot(r->stream, r->cfg->source.slot, (SlotFailover)r->cfg->source.failover_slot, 0, &created,
                            two_phase, err))
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
    for (size_t i = 0; ok && i < fanout_count(r->fanout); i++) {
        Target *t = fanout_target(r->fanout, i);
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

/* How long the loop may wait for the next frame: until the next status, flush or retry. */
static int64_t next_wait_ms(const Run *r)
{
    int64_t now = clock_mono_ms();
    int64_t wait = r->opts.status_interval_ms - (now - r->last_status_ms);
    int64_t pending_since = fanout_pending_since_ms(r->fanout);
    if (pending_since && r->opts.flush_interval_ms - (now - pending_since) < wait)
        wait = r->opts.flush_interval_ms - (now - pending_since);
    wait = fanout_retry_wait_ms(r->fanout, now, wait);
    if (wait > 1000)
        wait = 1000; /* the WAL guard's poll and heartbeats are due on their own clock */
    if (r->opts.exit_when_caught_up && wait > 50)
        wait = 50;
    return wait < 0 ? 0 : wait;
}

/* Wait up to wait_ms for frames, then handle what is already here, a bounded batch at a
 * time. *quiet: nothing arrived while we waited; *reply_now: a keepalive asked for a reply. */
static bool read_frames(Run *r, int64_t wait_ms, bool *quiet, bool *reply_now, Err *err)
{
    const uint8_t *frame;
    size_t len;
    int rc = pgstream_next(r->stream, (int)wait_ms, &frame, &len, err);
    *quiet = rc == 0;
    *reply_now = false;
    for (int batch = 0; rc == 1 && batch <= 10000; batch++) {
        if (!handle_frame(r, frame, len, reply_now, err))
            return false;
        if (batch < 10000)
            rc = pgstream_next(r->stream, 0, &frame, &len, err);
    }
    return rc >= 0;
}

/* Between batches of frames: flush, retry lagging targets, fence, figures, the status. */
static bool housekeeping(Run *r, bool quiet, bool reply_now, bool *resync, Err *err)
{
    int64_t now = clock_mono_ms();
    /* Flush once the stream goes quiet, or at most every 5 flush intervals under a
     * continuous load: each flush is an fsync that stops reading for a moment. */
    int64_t flush_due = quiet ? r->opts.flush_interval_ms : 5 * (int64_t)r->opts.flush_interval_ms;
    int64_t pending_since = fanout_pending_since_ms(r->fanout);
    /* the lease: once its deadline has come the session ends */
    if (!lease_check(&r->lease, heard(r), now, err))
        return false;
    if (pending_since && now - pending_since >= flush_due && !lease_flush(r, err))
        return false;
    if (fanout_any_lagging(r->fanout) && assembler_idle(r->asm_)) {
        r->flushing = true; /* a lagging target's retry writes too */
        bool retried = fanout_retry_lagging(r->fanout, resync, err);
        r->flushing = false;
        if (!retried)
            return false;
        if (*resync)
            return true;
    }
    if (!fanout_fence(r->fanout, idle_position(r), err))
        return false;
    report_metrics(r);
    walguard_tick(r->guard, r->last_data_ms);
    bool advanced = confirmable(r) > r->confirmed;
    if ((reply_now || now - r->last_status_ms >= r->opts.status_interval_ms ||
         (advanced && now - r->last_status_ms >= 1000)) &&
        !send_status(r, STATUS_CONFIRM, err))
        return false;
    return source_watch_tick(r->watch, err);
}

/* exit-when-caught-up: stop once the walsender's position passed the sync point (everything
 * committed before it is here and durable); on a quiet stream, ask the server where it is. */
static bool catch_up(Run *r, bool quiet, bool *stop, Err *err)
{
    /* a re-copy of run's own is part of catching up: once it ended, its chunks up to the WAL's end now */
    unsigned long resyncs = 0;
    if (resyncer_busy(r->resyncer, &resyncs))
        return true;
    if (resyncs != r->resyncs_seen) {
        PgConn *conn = pgconn_open(r->cfg->source.dsn, err);
        bool ok = conn && pgconn_sync_point(conn, &r->catch_up_target, err);
        pgconn_close(conn);
        if (!ok)
            return false;
        r->resyncs_seen = resyncs;
    }
    bool idle = assembler_idle(r->asm_);
    if (idle && !fanout_any_pending(r->fanout) && !fanout_any_lagging(r->fanout) &&
        r->keepalive_end >= r->catch_up_target) {
        char text[LSN_STR_MAX];
        log_debug(&r->log, "caught up: the server has sent everything up to %s", lsn_format(r->keepalive_end, text));
        r->caught_up = true;
        *stop = true;
        return true;
    }
    if (!quiet || !idle || clock_mono_ms() - r->last_ping_ms < 50)
        return true;
    return lease_flush(r, err) && send_status(r, STATUS_PING, err);
}

/*
 * SIGHUP: the caller loads and checks the new config at once (a bad one is logged and
 * forgotten); a good one ends the session between transactions, or after RUN_RELOAD_WAIT_MS
 * under a load that never leaves a gap (the half-received transaction comes again).
 */
static bool reload_due(Run *r)
{
    if (signals_reload_requested()) {
        signals_reload_clear();
        if (r->opts.on_reload && !r->reload_since_ms && r->opts.on_reload(r->opts.on_reload_user))
            r->reload_since_ms = clock_mono_ms();
    }
    if (!r->reload_since_ms)
        return false;
    if (!assembler_idle(r->asm_) && clock_mono_ms() - r->reload_since_ms < RUN_RELOAD_WAIT_MS)
        return false;
    r->reloading = true;
    log_info(&r->log, "reloading the config: the targets are flushed and built again from it");
    return true;
}

/* One replication session, until stop, catch-up or an error. */
static bool session(Run *r, bool *stop, Err *err)
{
    metrics_set_state(r->metrics, METRICS_CONNECTING, NULL);
    r->stream = pgstream_connect(r->cfg->source.dsn, err);
    if (!r->stream)
        return false;
    PgSystemInfo sys;
    bool two_phase = false;
    Lsn slot_confirmed = 0;
    if (!pgstream_identify(r->stream, &sys, err) ||
        !store_bind_source(r->store, sys.system_id, sys.dbname, r->cfg->source.slot, err) ||
        !prepare_source(r, &two_phase, &slot_confirmed, err) ||
        (r->group && !groupckpt_adopt(r->group, r->fanout, err)) || !check_gaps(r, slot_confirmed, err) ||
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
    Lsn start = fanout_start_position(r->fanout);
    char timeout[64];
    int64_t timeout_ms = 0;
    if (!pgstream_show(r->stream, "wal_sender_timeout", timeout, sizeof timeout, err) ||
        !lease_parse_timeout(timeout, &timeout_ms, err) || !lease_start(&r->lease, timeout_ms, err) ||
        !pgstream_start(r->stream, &so, start, err))
        return false;
    pgstream_set_ping(r->stream, lease_ping_ms(&r->lease));
    fanout_forget_missed(r->fanout);
    r->last_data_ms = clock_mono_ms();
    metrics_set_state(r->metrics, METRICS_STREAMING, NULL);
    /* 0: a target that keeps no checkpoint of its own (a REST queue) takes what the slot
     * confirmed, which the server resumes from; a made-up "0/0" would only mislead */
    r->log.lsn = start;
    r->log.has_lsn = start != 0;
    log_info(&r->log, "streaming from slot \"%s\"%s (protocol %d, system %s)", r->cfg->source.slot,
             start ? "" : " at its confirmed position", pgstream_max_proto_version(r->stream), sys.system_id);
    r->keepalive_end = 0;
    r->last_ping_ms = 0;
    for (;;) {
        if (signals_stop_requested() || reload_due(r)) {
            *stop = true;
            /* made durable while this instance still holds the slot: once the stream ends,
             * another one may take it */
            return !fanout_any_pending(r->fanout) || lease_flush(r, err);
        }
        bool quiet, reply_now;
        if (!read_frames(r, next_wait_ms(r), &quiet, &reply_now, err))
            return false;
        bool resync = false;
        if (!housekeeping(r, quiet, reply_now, &resync, err))
            return false;
        if (resync)
            return true; /* *stop stays false: run_pipeline starts a new session */
        if (r->opts.exit_when_caught_up && !catch_up(r, quiet, stop, err))
            return false;
        if (*stop)
            return true;
    }
}

static void close_session(Run *r, bool clean)
{
    if (!r->stream)
        return;
    r->heard_ms = heard(r);
    if (clean) {
        Err err;
        if (!send_status(r, STATUS_CONFIRM, &err) || !pgstream_finish(r->stream, &err))
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
    r.fanout = fanout_new(targets, count, &r.log);
    if (r.opts.standby)
        r.group = groupckpt_new(cfg, &r.log);
    int lock_fd = -1;
    bool ok = state_dir_lock(cfg->state_dir, "run", &lock_fd, err);
    if (ok)
        r.store = store_open(cfg->state_dir, err);
    ok = ok && r.store;
    if (ok) {
        ok = metrics_open(cfg, fanout_names(r.fanout), count, &r.metrics, err);
        if (ok && opts->on_metrics)
            opts->on_metrics(opts->on_metrics_user, r.metrics);
        fanout_attach(r.fanout, r.store, r.metrics);
        for (size_t i = 0; r.metrics && i < count; i++)
            if (targets[i]->deadletter) /* one file for every target */
                deadletter_observe(targets[i]->deadletter, metrics_skipped, r.metrics);
        r.guard = walguard_new(cfg, r.metrics);
    }
    /* health is this run's: a target that was lagging when the last run stopped starts current */
    ok = ok && fanout_reset_health(r.fanout, err);
    if (ok)
        r.watch = source_watch_new(cfg, r.store, opts->watch_tables, opts->watch_table_count, r.opts.status_interval_ms);
    if (ok)
        source_watch_repair(r.watch, &r.resync_hook);
    if (ok) {
        ResyncerOptions ro = {.chunk_rows = cfg->run.resync_chunk_rows, .resume = true};
        r.resyncer = resyncer_start(cfg, &ro, err);
        ok = r.resyncer != NULL;
    }
    if (ok) {
        r.resync_hook = (ResyncHook){request_resync, r.resyncer};
        for (size_t i = 0; i < count; i++)
            targets[i]->resync = &r.resync_hook;
        if (opts->on_resyncer)
            opts->on_resyncer(opts->on_resyncer_user, r.resyncer);
    }
    if (ok) {
        char *spool_dir = xasprintf("%s/spool", cfg->state_dir);
        AsmSink sink = fanout_sink(r.fanout);
        r.asm_ = assembler_new(spool_dir, &sink, err);
        free(spool_dir);
        ok = r.asm_ != NULL;
    }
    if (opts->on_deadline)
        opts->on_deadline(opts->on_deadline_user, write_deadline, &r);
    signals_install();
    Backoff backoff;
    backoff_init(&backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    int reconnects = 0;
    bool stop = false;
    bool slot_taken = false; /* the last session found another walsender on the slot */
    bool lapsed = false;     /* the last session's lease lapsed */
    while (ok && !stop) {
        uint64_t before = fanout_transactions(r.fanout);
        bool session_ok = session(&r, &stop, err);
        slot_taken = !session_ok && err->code == ERR_SLOT_BUSY;
        lapsed = !session_ok && err->code == ERR_LEASE;
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
        if (lapsed) {
            /* the caller builds the targets afresh (what they held unflushed is gone) and
             * stands by or connects again */
            log_warn(&r.log, "%s", err->msg);
            ok = false;
            break;
        }
        if (r.opts.standby && err->code == ERR_SLOT_BUSY) {
            ok = false; /* another instance took the slot: the caller stands by again */
            break;
        }
        if (!err_retryable(err) || (r.opts.max_reconnects && ++reconnects > r.opts.max_reconnects)) {
            metrics_set_state(r.metrics, METRICS_FATAL, err->msg);
            ok = false;
            break;
        }
        metrics_set_state(r.metrics, METRICS_CONNECTING, err->msg);
        if (fanout_transactions(r.fanout) > before)
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
    /* ... unless another instance holds the slot: what this one has not confirmed is sent to
     * that one, and writing it now could overwrite newer rows it already wrote (split brain) */
    if (slot_taken)
        log_warn(&r.log, "another instance holds the slot: what this run did not make durable is left to it");
    else if (lapsed || (r.store && fanout_any_pending(r.fanout) && !lease_check(&r.lease, heard(&r), clock_mono_ms(), &flush_err)))
        log_warn(&r.log, "%s", lapsed ? "the replication lease lapsed: nothing more is written to the targets"
                                       : flush_err.msg);
    else if (r.store && !lease_flush(&r, &flush_err)) {
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
                 r.caught_up ? " (caught up)" : "", (unsigned long long)fanout_transactions(r.fanout),
                 st ? (unsigned long long)st->changes : 0ULL, st ? (unsigned long long)st->streamed : 0ULL,
                 st ? (unsigned long long)st->prepared : 0ULL, st ? (unsigned long long)st->spooled_bytes : 0ULL,
                 st ? (double)st->replay_us / 1e6 : 0.0, peak_kb);
    }
    if (r.resyncer && opts->on_resyncer)
        opts->on_resyncer(opts->on_resyncer_user, NULL);
    resyncer_stop(r.resyncer); /* after its current chunk: the next start resumes it */
    if (opts->on_deadline)
        opts->on_deadline(opts->on_deadline_user, NULL, NULL);
    if (ok && r.reloading && opts->reloaded)
        *opts->reloaded = true;
    walguard_free(r.guard);
    for (size_t i = 0; r.metrics && i < count; i++)
        if (targets[i]->deadletter)
            deadletter_observe(targets[i]->deadletter, NULL, NULL);
    if (r.metrics && opts->on_metrics)
        opts->on_metrics(opts->on_metrics_user, NULL);
    metrics_stop(r.metrics);
    assembler_free(r.asm_);
    source_watch_free(r.watch);
    fanout_free(r.fanout);
    groupckpt_free(r.group);
    store_close(r.store);
    state_dir_unlock(lock_fd);
    return ok;
}
