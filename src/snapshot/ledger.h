/*
 * snapshot/ledger.h - the local record of `wal2edge snapshot`'s work
 *                     (STATE_DIR/snapshot/state.sqlite).
 *
 * Owns:     the snapshots table (running, complete, abandoned), every part as it
 *           is started and once placed, the R2 multipart uploads between create
 *           and complete/abort, and cleaning up after an interrupted snapshot:
 *           its uploads aborted, its parts removed (the point in time is gone
 *           with the process that held it).
 * Not mine: writing and placing parts (snapshot/export, snapshot/sink), SQLite
 *           (state/sqlite).
 * Threads:  every call may come from any worker thread (one mutex inside).
 */
#ifndef WAL2EDGE_SNAPSHOT_LEDGER_H
#define WAL2EDGE_SNAPSHOT_LEDGER_H

#include <stdbool.h>

#include "config/config.h"
#include "core/err.h"
#include "pg/lsn.h"
#include "snapshot/ndjson_zst.h"

typedef struct SnapLedger SnapLedger;

/* Open (and create) STATE_DIR/snapshot/state.sqlite; cfg is borrowed for clean-ups. */
SnapLedger *ledger_open(const Config *cfg, Err *err) WARN_UNUSED;
void ledger_close(SnapLedger *l);

/* Abort the multipart uploads a dead process left open and remove the parts of every
 * snapshot that did not finish (each marked abandoned). */
bool ledger_clean_up(SnapLedger *l, Err *err) WARN_UNUSED;

/* Take snapshot id `id` for the calls below (ERR_USAGE when it was used before), then
 * record it running at lsn once the point is taken. */
bool ledger_reserve(SnapLedger *l, const char *id, Err *err) WARN_UNUSED;
bool ledger_begin(SnapLedger *l, Lsn lsn, const char *started_at, Err *err) WARN_UNUSED;
bool ledger_complete(SnapLedger *l, const char *finished_at, Err *err) WARN_UNUSED;

/* A part is recorded before it is written, so an interrupted snapshot's half-written
 * part is found and removed too; then again once placed, with what it holds. */
bool ledger_part_started(SnapLedger *l, const char *bucket, const char *key, const char *table, unsigned part_no,
                         Err *err) WARN_UNUSED;
bool ledger_part_placed(SnapLedger *l, const char *bucket, const char *key, const char *table, unsigned part_no,
                        const PartInfo *info, Err *err) WARN_UNUSED;

/* snapshot/sink's upload hook (ctx: the ledger): an R2 multipart upload opened or closed. */
bool ledger_upload(void *ctx, const char *target, const char *key, const char *upload_id, bool started,
                   Err *err) WARN_UNUSED;

#endif
