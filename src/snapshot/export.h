/*
 * snapshot/export.h - `wal2edge snapshot`: every selected table read at one
 *                     point in time by several connections and written as
 *                     NDJSON.zst parts, then the manifests, last.
 *
 * Owns:     choosing the tables and their r2 targets, the worker connections
 *           that import the point, splitting large tables into block (ctid)
 *           ranges read by several connections, the layout
 *           PREFIX/TABLE/SNAPSHOT_ID/part-NNNNN.ndjson.zst (part numbers handed
 *           out per table across workers), part rollover at a target size, the
 *           manifests written last, progress.
 * Not mine: the point in time (snapshot/point), the local record of snapshots,
 *           parts and open uploads and cleaning up after an interrupted one
 *           (snapshot/ledger), reading rows (pg/snapshot's COPY,
 *           snapshot/copytext), rendering rows (pipeline/rowjson), compressing
 *           (snapshot/ndjson_zst), placing objects (snapshot/sink), the
 *           manifest's shape (snapshot/manifest).
 * Threads:  one worker thread per connection; each owns its connection,
 *           writer and sinks, and takes the next range (largest table first);
 *           progress is shared under a mutex.
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
#include "snapshot/point.h"

#define SNAP_DEFAULT_PART_BYTES (64ull * 1024 * 1024)
#define SNAP_MAX_JOBS 64

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

#endif
