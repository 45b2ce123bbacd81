/*
 * pipeline/gap.h - the gap rule: can this slot still bring a target up to date?
 *
 * Owns:     judging one target's position against the replication slot's
 *           confirmed_flush_lsn and incarnation, and the text that names the
 *           way back for each kind of target.
 * Not mine: where positions are read (targets, state/store, pg/conn), and
 *           what to do about a gap (daemon/run refuses, cli/cmd_status reports).
 * Pure:     yes.
 *
 * A slot never sends again what it has confirmed. A target whose position is
 * behind the slot's confirmed_flush_lsn therefore misses every transaction
 * committed in between, and no restart can bring it back: only a re-copy
 * (migrate, warm) or an explicit acceptance of the gap can. A target's
 * position is the furthest point it is known to be complete through: its own
 * checkpoint (kept with its data), or what the state store recorded for it
 * (the checkpoint plus the idle positions confirmed while it was current),
 * when that record still describes the same checkpoint.
 *
 * The slot's incarnation is its creation point as the state store knows it
 * (0: unknown). A record made under another incarnation belongs to a slot that
 * was dropped since: its target has a gap whatever the positions say.
 */
#ifndef WAL2EDGE_PIPELINE_GAP_H
#define WAL2EDGE_PIPELINE_GAP_H

#include <stdbool.h>

#include "core/buf.h"
#include "pg/lsn.h"
#include "pipeline/target.h"

typedef struct GapInput {
    const char *target;        /* "d1.app", "kv.cache", "queue.changes", "changelog" */
    TargetCheckpoint own;      /* read from the target itself; 0s when it keeps none */
    bool recorded;             /* the state store has a row for it */
    Lsn rec_commit_lsn;        /* the checkpoint the row describes */
    bool rec_through_known;    /* rows written before positions were recorded do not know */
    Lsn rec_through;           /* complete through this position */
    Lsn rec_incarnation;       /* the slot incarnation it was recorded under; 0 unknown */
} GapInput;

typedef enum GapKind {
    GAP_NONE,                  /* the slot can bring it up to date */
    GAP_FRESH,                 /* never had a checkpoint: starts at the slot's position */
    GAP_UNVERIFIED,            /* a record from an older wal2edge: positions cannot be compared */
    GAP_BEHIND,                /* its position is behind the slot's confirmed position */
    GAP_OTHER_INCARNATION,     /* recorded on a slot that has been dropped and created again */
} GapKind;

typedef struct GapVerdict {
    GapKind kind;
    Lsn position;              /* the target's position as judged */
    Lsn incarnation;           /* the incarnation it belongs to, 0 unknown */
} GapVerdict;

GapVerdict gap_judge(const GapInput *in, Lsn slot_confirmed, Lsn slot_incarnation);

/* True for the verdicts that must stop `run` (and make `status` fail). */
bool gap_is_gap(GapKind kind);

/*
 * One paragraph for a target with a gap: both positions, why, and the exact
 * commands that rebuild it (by the kind of target its name starts with).
 */
bool gap_describe(const char *target, const GapVerdict *v, const char *slot, Lsn slot_confirmed, Buf *out,
                  Err *err) WARN_UNUSED;

#endif
