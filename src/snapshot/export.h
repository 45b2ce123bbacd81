/*
 * snapshot/export.h - `wal2edge snapshot`: every selected table read at one
 *                     point in time by several connections and written as
 *                     NDJSON.zst parts, then the manifests, last.
 *
 * Owns:     the snapshot point (an exported snapshot from creating the
 *           configured slot, or from a short-lived helper slot that is dropped
 *           at the end, so the point's LSN is exact), the worker connections
 *           that import it, splitting large tables into block (ctid) ranges
 *           read by several connections, the layout
 *           PREFIX/TABLE/SNAPSHOT_ID/part-NNNNN.ndjson.zst (part numbers handed
 *           out per table across workers), part rollover at a target size, the
 *           local state of snapshots, their placed parts and their open R2
 *           multipart uploads (STATE_DIR/snapshot/state.sqlite), cleaning up
 *           after an interrupted snapshot (parts removed, uploads aborted), the
 *           safe_wal_size watch, progress.
 * Not mine: reading rows (pg/snapshot's COPY, snapshot/copytext), rendering rows
 *           (pipeline/rowjson), compressing (snapshot/ndjson_zst), placing
 *           objects (snapshot/sink), the manifest's shape (snapshot/manifest).
 * Threads:  one worker thread per connection; each owns its connection,
 *           writer and sinks, and takes the next range (largest table first);
 *           the state store and progress are shared under a mutex.
 */
#ifndef WAL2EDGE_SNAPSHOT_EXPORT_H
#define WAL2EDGE_SNAPSHOT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/lsn.h"
#include "pg/snapshot.h"

#define SNAP_DEFAULT_PART_BYTES (64ull * 1024 * 1024)
#define SNAP_MAX_JOBS 64

/* ------------------------------------------------------------ the point */

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

/* ------------------------------------------------------------ snapshot */

typedef struct SnapshotOptions {
    char **tables;             /* --table SCHEMA.T ...; none: every mapping with "snapshot" */
    size_t table_count;
    const char *bucket;        /* --bucket NAME: r2 target for tables without a "snapshot" mapping */
    int jobs;                  /* connections (0: the number of cores) */
    int level;                 /* zstd level (0: 3) */
    uint64_t part_bytes;       /* compressed part target (0: 64 MiB) */
    uint64_t chunk_bytes;      /* multipart chunk (0: 8 MiB) */
    uint64_t range_bytes;      /* tables larger than this are read in block ranges by several connections (0: 64 MiB) */
    const char *snapshot_id;   /* NULL: from the clock */
    bool no_slot;              /* never create the configured slot */
    bool tty;                  /* progress bars instead of log lines */
    /* told every second of each started table's rows so far (the metrics endpoint); may be NULL */
    void (*table_rows)(void *user, const char *table, uint64_t rows);
    void *table_rows_user;
} SnapshotOptions;

typedef struct SnapshotResult {
    char snapshot_id[64];
    Lsn lsn;
    uint64_t rows, bytes, raw_bytes, parts;
    size_t tables;
    double seconds;
} SnapshotResult;

bool snapshot_run(const Config *cfg, const MappingSet *maps, const SnapshotOptions *opts, SnapshotResult *out,
                  Err *err) WARN_UNUSED;

/* The r2 target of a table's snapshots: the mapping's "snapshot": {"bucket"}, else
 * `bucket` (--bucket), else the config's only r2 target. ERR_CONFIG says why not. */
const ConfigTarget *snap_bucket_for(const Config *cfg, const Mapping *m, const char *bucket, Err *err) WARN_UNUSED;

/* "20260101T120000Z" for now (UTC). */
void snap_time_id(char out[17]);
/* RFC 3339 UTC for now: "2026-01-01T12:00:00Z". */
void snap_time_rfc3339(char out[32]);

#endif
