/*
 * pipeline/target.h - the interface every destination implements (the change
 *                     log, D1, KV, Queues; embedded or remote).
 *
 * Owns:     the contract between the replication loop and a target.
 * Not mine: any destination's storage (each target module).
 *
 * The loop calls, per committed source transaction, in commit order:
 *     begin(txn) · change(txn, c)... · commit(txn)
 * or, when the replication connection drops in the middle of a transaction,
 *     begin(txn) · change(txn, c)... · rollback()
 * Transactions arrive complete: streamed and prepared transactions are
 * assembled by the loop before any target sees them, and an aborted
 * transaction never reaches a target.
 *
 * Durability: commit() may buffer. flush() makes everything committed so far
 * durable, atomically with the target's own checkpoint, and then durable()
 * reports it. The loop confirms to Postgres only what every target reports
 * durable. After a crash, transactions up to the checkpoint are replayed by
 * the server; the loop skips those with commit_lsn <= checkpoint.commit_lsn,
 * and a target must tolerate seeing again a transaction it did not yet
 * report durable (idempotent apply).
 */
#ifndef WAL2EDGE_PIPELINE_TARGET_H
#define WAL2EDGE_PIPELINE_TARGET_H

#include <stdbool.h>

#include "core/err.h"
#include "pg/lsn.h"
#include "pipeline/change.h"

typedef struct Target Target;
typedef struct DeadLetter DeadLetter; /* pipeline/deadletter.h */

/*
 * How a target asks for a re-copy of a source table ("schema.name") into itself (`target`, its
 * name) or, with target NULL, into every target of the table (`run`'s resyncer,
 * daemon/resyncer): recorded durably before it returns true, so the target may move its
 * checkpoint past what asked for it. `cause` is the LSN of the change that asks (a schema
 * change's message, a watermark): a copy whose every chunk was read after it already answers
 * it; 0 when there is none to give. Set by the loop; NULL (migrate, warm): no re-copy can be
 * made, and the target stops as it would without one.
 */
typedef struct ResyncHook {
    bool (*request)(void *ctx, const char *target, const char *table, const char *why, Lsn cause, Err *err);
    void *ctx;
} ResyncHook;

typedef struct TargetOps {
    const char *kind;          /* "changelog", "d1", ... */
    bool (*begin)(Target *t, const TxnInfo *txn, Err *err);
    bool (*change)(Target *t, const TxnInfo *txn, const Change *c, Err *err);
    bool (*commit)(Target *t, const TxnInfo *txn, Err *err);
    /* Forget the transaction begun and not committed (the connection was lost mid-way;
     * the server will send it again in full). */
    void (*rollback)(Target *t);
    /* A non-transactional logical message (outside any transaction); may be NULL. */
    bool (*message)(Target *t, const Change *c, Err *err);
    bool (*flush)(Target *t, Err *err);
    /* The fence: every transaction committed before the stream's position is applied (the
     * stream is idle and this target current), so its checkpoint may move to `at`
     * (target_fence_checkpoint) although no change of its came; made durable by a later
     * flush (a REST D1's at most every run.fence_interval_ms: it costs a request; the others
     * write no key, event or line for it). Lets a client that committed anything wait for
     * the target's checkpoint to pass its commit. at_us: the wall-clock time it stands for
     * (stored as the checkpoint's commit time). Every target has one; NULL would leave its
     * checkpoint waiting for a change. */
    bool (*fence)(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err);
    /* Whether unflushed work is waiting (the loop flushes on a timer or when asked). */
    bool (*has_pending)(const Target *t);
    void (*free)(Target *t);
    /* Optional: another instance of a standby group wrote this target past its checkpoint here
     * (the group's checkpoint is about to move it there): drop or reload what it caches locally
     * about the target's content (the KV key index). NULL: nothing cached. */
    bool (*adopt)(Target *t, Err *err);
} TargetOps;

/*
 * The checkpoint a fence at `position` (where the server's reading stopped) stands for:
 * end_lsn = position, commit_lsn = position - 1. A transaction whose commit record starts
 * exactly at position is still to come and must not count as applied (skips compare
 * commit_lsn <= checkpoint.commit_lsn).
 */
static inline TargetCheckpoint target_fence_checkpoint(Lsn position)
{
    return (TargetCheckpoint){.commit_lsn = position - 1, .end_lsn = position};
}

/*
 * The skip decision, the one rule for the loop and every target: a transaction committed
 * at commit_lsn is already applied when a checkpoint covers it (commit_lsn <=
 * checkpoint.commit_lsn; an empty checkpoint covers nothing).
 */
static inline bool target_covers(const TargetCheckpoint *cp, Lsn commit_lsn)
{
    return cp->commit_lsn != LSN_INVALID && commit_lsn <= cp->commit_lsn;
}

struct Target {
    const TargetOps *ops;
    char *name;                /* "changelog", "d1.app" */
    TargetCheckpoint durable;  /* written by the target alone (what flush() made durable); read it through target_durable */
    DeadLetter *deadletter;    /* borrowed, set by the command; NULL: "on_error": "skip" stops too */
    const ResyncHook *resync;  /* borrowed, set by the loop; NULL: no re-copy (see ResyncHook) */
    /* Set by the target: its begin, change, commit and rollback may run on a thread of their own
     * (daemon/handoff), one call at a time, while the loop decodes on. They touch nothing shared
     * but the dead-letter file (it locks), the log, `resync` (the worker asks the loop's thread)
     * and the target itself, and write `durable`
     * nowhere but in flush (the loop reads it while they run). The embedded targets and the
     * change log; not the REST ones (they share one Cloudflare client). */
    bool threadable;
};

/* What the target has made durable: its checkpoint as of its last successful flush. */
static inline TargetCheckpoint target_durable(const Target *t)
{
    return t->durable;
}

#endif
