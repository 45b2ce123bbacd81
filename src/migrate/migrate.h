/*
 * migrate/migrate.h - `wal2edge migrate`: the D1 schema from the mappings, then
 *                     every mapped table copied from one consistent snapshot,
 *                     verified (row counts and a per-table checksum computed the
 *                     same way on both sides), optionally handing over to `run`.
 *
 * Owns:     the copy: reading each table at the point (snapshot/export's
 *           SnapPoint) and feeding its rows to the D1 target as INSERT changes
 *           in chunks whose commit LSNs end exactly at the point, so the target's
 *           checkpoint (_wal2edge_state) is the point and `run` applies only
 *           transactions after it; over the REST API, tables of an estimated
 *           import_rows rows or more (or of no estimate) go through D1's
 *           /import instead (migrate/d1_rest), which leaves the checkpoint
 *           alone; clearing the mapped tables first (a rerun restarts
 *           cleanly); the checksum, and reading every table back to compare.
 * Not mine: DDL and statements (d1/ddl, d1/sql via the targets), the slot
 *           (pg/stream), the migration files (d1/migrations).
 */
#ifndef WAL2EDGE_MIGRATE_MIGRATE_H
#define WAL2EDGE_MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/lsn.h"

/* REST: tables with at least this many estimated rows go through /import */
#define MIGRATE_IMPORT_ROWS_DEFAULT 10000

typedef struct MigrateOptions {
    bool then_stream;          /* the copy's point comes from creating the configured slot */
    bool tty;
    long chunk_rows;           /* rows per applied chunk (0: 5000 embedded, 200 REST) */
    long long import_rows;     /* REST: the /import threshold in estimated rows (0: every table) */
    const char *write_migrations; /* also write the wrangler migration files here (NULL: no) */
} MigrateOptions;

typedef struct MigrateTableResult {
    char *database, *table, *source;
    uint64_t pg_rows, d1_rows;
    uint64_t pg_sum, d1_sum;   /* checksums */
    bool verified;             /* d1 side read back */
    uint64_t import_files;     /* REST: files sent through /import (0: upserts only) */
    uint64_t upserted_rows;    /* REST: rows sent as upserts (small tables, rows too large for /import) */
} MigrateTableResult;

typedef struct MigrateResult {
    Lsn lsn;
    bool slot_created;
    MigrateTableResult *tables;
    size_t table_count;
    uint64_t rows;
    double seconds;
    bool all_match;
} MigrateResult;

bool migrate_run(const Config *cfg, const MappingSet *maps, const MigrateOptions *opts, MigrateResult *out,
                 Err *err) WARN_UNUSED;
void migrate_result_free(MigrateResult *r);

#endif
