/*
 * targets/core.h - the per-transaction state machine every target shares.
 *
 * Owns:     what a target does with a resync chunk it had to leave out (its
 *           low watermark came before the restart's checkpoint): ask for the
 *           table again (ResyncHook), or say how without one;
 *           whether the source transaction at hand is skipped (its checkpoint,
 *           durable or pending, covers it), applied, or refused because an
 *           earlier failure broke the target; the pending checkpoint (the last
 *           transaction or fence committed, not yet flushed); and the rule
 *           that a fence moves that checkpoint only between transactions.
 * Not mine: what applying means (each target: SQL for D1, keys for KV,
 *           events for queues), durability (each target's flush).
 * Pure:     yes, but for resync_take_skipped (a log line, the hook).
 *
 * A target calls, from its TargetOps:
 *     begin:    txn_core_begin      -> TXN_APPLY: open its own unit of work
 *     change:   txn_core_change     -> TXN_APPLY: apply the change
 *     commit:   txn_core_commit     -> TXN_APPLY: finish it, then txn_core_committed
 *     rollback: txn_core_rollback   -> true: undo the open transaction
 *     fence:    txn_core_fence      -> TXN_APPLY: write the checkpoint, then txn_core_fenced
 * and txn_core_break when a failure leaves it unable to go on.
 */
#ifndef WAL2EDGE_TARGETS_CORE_H
#define WAL2EDGE_TARGETS_CORE_H

#include <stdbool.h>

#include "core/err.h"
#include "pipeline/resync.h"
#include "pipeline/target.h"

typedef enum {
    TXN_FAIL = -1,             /* refused: *err says why */
    TXN_SKIP = 0,              /* nothing to do (already applied, or not a change to apply) */
    TXN_APPLY = 1,             /* the target does its part */
} TxnStep;

typedef struct TxnCore {
    const Target *target;      /* borrowed: its durable checkpoint */
    TargetCheckpoint pending;  /* last committed transaction or fence, not yet durable */
    bool skipping;             /* the open source transaction is already applied */
    bool applying;             /* between begin and commit of an applied transaction */
    bool broken;               /* a failure: refuse everything until restarted */
    bool messages;             /* the target applies transactional logical messages too (the change log) */
    ErrCode broken_code;
    char *broken_msg;          /* owned: the error every call gets once broken */
} TxnCore;

/* Start from t's durable checkpoint; broken_msg (taken over) is the error once broken. */
void txn_core_init(TxnCore *c, const Target *t, ErrCode broken_code, char *broken_msg);
void txn_core_free(TxnCore *c);

/* false (with the broken error) once the target is broken. */
bool txn_core_ok(const TxnCore *c, Err *err) WARN_UNUSED;

/* The checkpoint a new transaction is compared with: the later of pending and durable. */
TargetCheckpoint txn_core_last(const TxnCore *c);

TxnStep txn_core_begin(TxnCore *c, const TxnInfo *txn, Err *err);
/* TXN_SKIP for a skipped transaction and (unless c->messages) logical messages; an error outside a transaction. */
TxnStep txn_core_change(TxnCore *c, const Change *ch, Err *err);
TxnStep txn_core_commit(TxnCore *c, Err *err);
/* The target finished committing txn: it is the pending checkpoint. */
void txn_core_committed(TxnCore *c, const TxnInfo *txn);
/* Forget the open transaction; true when the target must undo its part of it. */
bool txn_core_rollback(TxnCore *c);

/* TXN_APPLY when the checkpoint may move to `at` now: between transactions, and past pending. */
TxnStep txn_core_fence(TxnCore *c, const TargetCheckpoint *at, Err *err);
void txn_core_fenced(TxnCore *c, const TargetCheckpoint *at);

/* A failure the target cannot go on from: every later call gets the broken error. */
void txn_core_break(TxnCore *c);

/*
 * After resync_step (pipeline/resync) on w: a chunk that came without its low watermark (a
 * restart between the two; w->skipped_table) was left out, so its table is asked for again
 * through t's ResyncHook (run's resyncer starts its copy over), or, without one, a warning names
 * the way back. false only when the request failed.
 */
bool resync_take_skipped(Target *t, ResyncWindow *w, Err *err) WARN_UNUSED;

#endif
