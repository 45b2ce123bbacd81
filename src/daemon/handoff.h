/*
 * daemon/handoff.h - a target applied on a thread of its own.
 *
 * Owns:     one target's worker thread, the bounded queue of calls handed to it
 *           (begin · change · commit · rollback, in the order the fan-out made
 *           them), the copies of the changes and relations those calls carry
 *           (made once and shared by every worker), and the first failure the
 *           worker met (kept for the fan-out to handle on its own thread).
 * Not mine: what a failure means (daemon/fanout: fall behind or stop), flushing,
 *           fencing and every other call into the target: the fan-out makes them
 *           on its own thread, and only once the worker is idle (handoff_drain).
 * Pure:     no: threads.
 *
 * The fan-out (the run thread) queues calls and goes on decoding; the worker
 * applies them. A queue holds at most HANDOFF_MAX_CALLS calls and, past one
 * call, HANDOFF_MAX_BYTES of change data: a full queue makes the run thread
 * wait. After a failed call the worker skips every later call until the
 * failure is taken (handoff_take_failure). Nothing else touches the target
 * while calls are queued: whoever reads the target's state (has_pending, flush,
 * fence, adopt) drains first. durable is written by flush alone, so it may be
 * read at any time. The target's resync requests (Target.resync) are made on the
 * run thread: the worker waits for its answer, given wherever the run thread
 * meets the worker (a wait for room, a drain, handoff_serve).
 */
#ifndef WAL2EDGE_DAEMON_HANDOFF_H
#define WAL2EDGE_DAEMON_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pipeline/change.h"
#include "pipeline/target.h"

#define HANDOFF_MAX_CALLS 1024
#define HANDOFF_MAX_BYTES (16u * 1024 * 1024)

typedef struct Handoff Handoff;
typedef struct HandoffChange HandoffChange;
typedef struct HandoffRels HandoffRels;

/* Start t's worker (t stays owned by the caller; the worker only calls its begin, change,
 * commit and rollback). applied: t's checkpoint now. NULL with *err when no thread starts. */
Handoff *handoff_start(Target *t, TargetCheckpoint applied, Err *err);
/* Stop and join the worker (NULL: no-op); calls still queued are dropped (drain first to
 * have them applied). */
void handoff_stop(Handoff *h);

/* Queue a call (waits while the queue is full). A change is a shared copy (handoff_change_copy). */
void handoff_begin(Handoff *h, const TxnInfo *txn);
void handoff_change(Handoff *h, const TxnInfo *txn, HandoffChange *c);
void handoff_commit(Handoff *h, const TxnInfo *txn);
void handoff_rollback(Handoff *h);

/* Answer the worker's resync request, if one waits (the run thread, at each commit). */
void handoff_serve(Handoff *h);
/* Wait until every queued call is applied (or skipped after a failure). */
void handoff_drain(Handoff *h);
/* Nothing queued or being applied now. */
bool handoff_idle(Handoff *h);
/* A call failed and the failure was not taken yet (read at any time). */
bool handoff_failed(const Handoff *h);
/*
 * After handoff_drain: false when no call failed. Else the failure (err, naming nothing but
 * what the target said), the checkpoint of the last transaction the worker committed before
 * it and that transaction's commit time; the worker applies calls queued after this again.
 */
bool handoff_take_failure(Handoff *h, Err *err, TargetCheckpoint *applied, int64_t *applied_time_us);
/* The checkpoint moved without the worker (a fence), while it was idle. */
void handoff_set_applied(Handoff *h, TargetCheckpoint applied, int64_t time_us);

/* The relations the copies point to: one copy per relation version, shared by the copies. */
HandoffRels *handoff_rels_new(void);
void handoff_rels_free(HandoffRels *rels);   /* copies still queued keep theirs */

/* A copy of c (its tuples, relation, truncated relations and message), with one reference
 * held by the caller; each handoff_change takes another, dropped once applied. */
HandoffChange *handoff_change_copy(HandoffRels *rels, const Change *c);
void handoff_change_release(HandoffChange *c);

#endif
