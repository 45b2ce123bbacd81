/*
 * snapshot/point.h - the point in time every job's consistent read starts from.
 *
 * Owns:     the snapshot point: an exported snapshot from creating the
 *           configured slot (its incarnation recorded), or from a short-lived
 *           temporary helper slot that the server drops when the exporting
 *           session ends, so the point's LSN is exact; new connections reading
 *           at it; the safe_wal_size watch; the snapshot id and times from the
 *           clock.
 * Not mine: reading rows (pg/snapshot), what is read (snapshot/export,
 *           migrate/, warm/).
 */
#ifndef WAL2EDGE_SNAPSHOT_POINT_H
#define WAL2EDGE_SNAPSHOT_POINT_H

#include <stdbool.h>

#include "config/config.h"
#include "core/err.h"
#include "pg/lsn.h"
#include "pg/snapshot.h"

typedef enum SnapPointMode {
    SNAP_POINT_SLOT_IF_MISSING,   /* create the configured slot when missing (run continues after) */
    SNAP_POINT_HELPER,            /* never touch the configured slot: a helper slot, dropped at the end */
} SnapPointMode;

typedef struct SnapPoint SnapPoint;

/* Establish the point; the exporting connection stays open and idle. */
SnapPoint *snap_point_open(const Config *cfg, SnapPointMode mode, Err *err) WARN_UNUSED;
Lsn snap_point_lsn(const SnapPoint *p);
/* Whether the configured slot was created at this point. */
bool snap_point_created_slot(const SnapPoint *p);
/* The slot that holds the point ("" if none). */
const char *snap_point_slot(const SnapPoint *p);
/* A new connection reading at the point (REPEATABLE READ, snapshot imported). */
PgSnapshot *snap_point_reader(SnapPoint *p, Err *err) WARN_UNUSED;
/* Warn (log) when the slot's safe_wal_size runs low; rate-limited by the caller. */
void snap_point_check_wal(SnapPoint *p);
/* Release the exported snapshot; drops the helper slot. */
void snap_point_close(SnapPoint *p);

/* "20260101T120000Z" for now (UTC). */
void snap_time_id(char out[17]);
/* RFC 3339 UTC for now: "2026-01-01T12:00:00Z". */
void snap_time_rfc3339(char out[32]);

#endif
