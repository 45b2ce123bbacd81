/*
 * daemon/fanout.h - the one sink between the assembler and the targets of `run`.
 *
 * Owns:     handing each complete transaction to N targets (pipeline/target.h)
 *           through the assembler's sink (AsmSink): the per-target skip (a
 *           transaction at or below what a target has accepted), what each
 *           target has accepted and made durable, flushing them, the fence,
 *           and a target that fails with a retryable error falling behind
 *           alone (rolled back, skipped from then on, retried with backoff,
 *           caught up from its own checkpoint; its health recorded in the
 *           state store for `status`). A permanent error stops the feed.
 * Not mine: the replication connection and what is confirmed to the server
 *           (daemon/run, which asks this module what is durable and current),
 *           decoding and staging (pipeline/assembler), each target's storage.
 * Pure:     no: it calls the targets, the state store, metrics and the clock.
 */
#ifndef WAL2EDGE_DAEMON_FANOUT_H
#define WAL2EDGE_DAEMON_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include "pipeline/assembler.h"
#include "pipeline/target.h"
#include "state/store.h"

typedef struct Fanout Fanout;

/* Takes ownership of targets[0..count) (freed by fanout_free); log is borrowed (NULL: its own). */
Fanout *fanout_new(Target **targets, size_t count, const LogCtx *log);
/* Where checkpoints and health are recorded (required before anything is delivered or
 * flushed) and the metrics to feed (NULL: none). Both borrowed. */
void fanout_attach(Fanout *f, Store *store, Metrics *metrics);
void fanout_free(Fanout *f);

/* The sink to hand to assembler_new. */
AsmSink fanout_sink(Fanout *f);

size_t fanout_count(const Fanout *f);
Target *fanout_target(const Fanout *f, size_t i);
/* The targets' names, in order (for the state store and metrics). */
const char *const *fanout_names(const Fanout *f);

/* Record every target's health as current (a run starts with every target current). */
bool fanout_reset_health(Fanout *f, Err *err) WARN_UNUSED;

/* ---- durability ---- */

/* Unflushed work in a target that is not lagging. */
bool fanout_any_pending(const Fanout *f);
/* When unflushed work appeared (monotonic ms), 0 if none. */
int64_t fanout_pending_since_ms(const Fanout *f);
/* Flush every current target that holds work; one failing with a retryable error falls
 * behind. False on a permanent error or a state store failure. */
bool fanout_flush(Fanout *f, Err *err) WARN_UNUSED;
/* The lowest end LSN every target has made durable (0 with no target). */
Lsn fanout_durable_end(const Fanout *f);
/* Where a new session starts: the lowest durable end LSN (0: the slot's position). */
Lsn fanout_start_position(const Fanout *f);
/* Every target is current: none lagging or missing transactions, nothing accepted that is
 * not durable, nothing pending, no transaction half-delivered. */
bool fanout_all_current(const Fanout *f);
/* The fence at the server's idle position (see TargetOps.fence). */
bool fanout_fence(Fanout *f, Lsn position, Err *err) WARN_UNUSED;

/* ---- a target that keeps failing ---- */

bool fanout_any_lagging(const Fanout *f);
/* Milliseconds until the next lagging target's retry, or cap when that is sooner or none lags. */
int64_t fanout_retry_wait_ms(const Fanout *f, int64_t now_ms, int64_t cap);
/* Retry the lagging targets that are due (call between transactions). *resync: one is back
 * and missed transactions, so a new session from fanout_start_position must bring them. */
bool fanout_retry_lagging(Fanout *f, bool *resync, Err *err) WARN_UNUSED;
/* A new session starts at fanout_start_position: the targets that are not lagging miss nothing. */
void fanout_forget_missed(Fanout *f);

/* ---- figures ---- */

/* Transactions committed to the targets so far. */
uint64_t fanout_transactions(const Fanout *f);
/* Per-target lag in bytes behind `end` to metrics; returns the oldest commit time every
 * target has made durable (INT64_MAX when none is known). */
int64_t fanout_report(const Fanout *f, Lsn end, Lsn confirmed);

#endif
