/*
 * pg/sharedckpt.h - target checkpoints kept in Postgres, where every instance
 *                   of a standby group (run --standby) reads them.
 *
 * Owns:     the table public.wal2edge_checkpoints (slot, target, commit_lsn,
 *           end_lsn, updated_at), UNLOGGED: not WAL-logged, so writing it is
 *           cheap and decodes to nothing (no loop through a FOR ALL TABLES
 *           publication, which leaves unlogged tables out); a server crash
 *           empties it, and then each instance's local checkpoints speak;
 *           creating it when missing; a checkpoint that only moves forward.
 * Not mine: when to save and what to do with a loaded checkpoint (daemon/run:
 *           saved before each confirm to the server, so the slot never passes
 *           what the table says; adopted at takeover by a target whose own is
 *           older).
 * Secrets:  none: slot and target names, LSNs.
 */
#ifndef WAL2EDGE_PG_SHAREDCKPT_H
#define WAL2EDGE_PG_SHAREDCKPT_H

#include <stdbool.h>

#include "core/err.h"
#include "pg/conn.h"
#include "pg/lsn.h"

#define SHAREDCKPT_TABLE "public.wal2edge_checkpoints"

/* Create the table when missing (ERR_PG naming the privilege it needs when it cannot). */
bool sharedckpt_ensure(PgConn *conn, Err *err) WARN_UNUSED;

/* Record cp for (slot, target) unless the table already has a later one. */
bool sharedckpt_save(PgConn *conn, const char *slot, const char *target, const TargetCheckpoint *cp,
                     Err *err) WARN_UNUSED;

/* The recorded checkpoint; *found false (and true returned) when none is, or the table does not
 * exist. */
bool sharedckpt_load(PgConn *conn, const char *slot, const char *target, TargetCheckpoint *cp, bool *found,
                     Err *err) WARN_UNUSED;

#endif
