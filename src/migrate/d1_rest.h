/*
 * migrate/d1_rest.h - the REST side of `wal2edge migrate`: a remote D1
 *                     database made ready for a copy, large tables sent
 *                     through D1's /import API, every copied table read back
 *                     and checksummed.
 *
 * Owns:     the progress row in _wal2edge_migrate (slot, run, lsn, started_at,
 *           imported_rows): written before the first row is copied and
 *           deleted only when the copy is verified, so a rerun knows that an
 *           earlier migrate did not finish; emptying the mapped tables and the
 *           slot's checkpoint before a copy, atomically with writing that row
 *           (a rerun always restarts cleanly: a new snapshot cannot continue
 *           an old copy); import files (migrate/import_sql text, each ending
 *           with the update of the progress row, which also makes every
 *           file's md5 etag unique: D1 answers a known etag with the earlier
 *           import instead of running it again); the keyset read-back.
 * Not mine: reading Postgres, the checkpoint and the upsert path (migrate,
 *           targets/d1_remote), the import flow, HTTP, retries and the rate
 *           budget (cf/client).
 * Pure:     no (network through CfClient, one file per import).
 * Trust:    rows read back are untrusted: each value's shape is checked and a
 *           malformed one is an error (ERR_PROTOCOL), never a skipped row.
 */
#ifndef WAL2EDGE_MIGRATE_D1_REST_H
#define WAL2EDGE_MIGRATE_D1_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/client.h"
#include "core/err.h"
#include "d1/ddl.h"
#include "pg/lsn.h"
#include "value/render.h"

#define MREST_PROGRESS_TABLE "_wal2edge_migrate"
/* one import file holds at most this much SQL (a table may take several) */
#define MREST_IMPORT_FILE_BYTES (32u * 1024 * 1024)
/* read-back pages: the first of 1,000 rows, then as many rows as make about
 * MREST_VERIFY_PAGE_BYTES at the rows' average size, 100..10,000 (the API's
 * request budget is what a large table's read-back spends) */
#define MREST_VERIFY_FIRST_PAGE 1000
#define MREST_VERIFY_PAGE_BYTES (4u * 1024 * 1024)

typedef struct MrestEarlier {
    bool unfinished;           /* an earlier migrate's progress row was there */
    char lsn[LSN_STR_MAX];     /* its snapshot's LSN */
    char started_at[40];
    uint64_t imported_rows;
} MrestEarlier;

/*
 * Before a copy into database_id (the tables of `database` in s): create the
 * progress table, read an earlier progress row for `slot` into *earlier, then
 * in one atomic request write this run's row, delete the slot's checkpoint and
 * empty the mapped tables (the schema must exist: open the D1 target first).
 */
bool mrest_prepare(CfClient *c, const char *database_id, const D1Schema *s, const char *database,
                   const char *slot, const char *run, Lsn lsn, MrestEarlier *earlier, Err *err) WARN_UNUSED;

/* The copy is complete and verified: delete this run's progress row. */
bool mrest_finish(CfClient *c, const char *database_id, const char *slot, const char *run, Err *err) WARN_UNUSED;

typedef struct MrestImport MrestImport;

/* Rows of t into database_id through /import, staged in the file `path`. */
MrestImport *mrest_import_new(CfClient *c, const char *database_id, const D1Table *t, const char *path,
                              const char *slot, const char *run, Err *err) WARN_UNUSED;
/* Add one row (t's column order); a full file is imported. *too_large is set
 * (and true returned, nothing added) when the row does not fit one statement:
 * the caller sends it through the upsert path, which binds values. */
bool mrest_import_row(MrestImport *im, const D1Value *vals, bool *too_large, Err *err) WARN_UNUSED;
/* Import what is left. */
bool mrest_import_finish(MrestImport *im, Err *err) WARN_UNUSED;
/* Import files sent so far. */
uint64_t mrest_import_files(const MrestImport *im);
/* Frees and removes the staging file. */
void mrest_import_free(MrestImport *im);

/* Read every row of t back (keyset pages through /raw of page_rows each, 0 →
 * sized as above): the row count and the sum of migrate_row_hash over the rows. */
bool mrest_verify(CfClient *c, const char *database_id, const D1Table *t, size_t page_rows, uint64_t *rows,
                  uint64_t *sum, Err *err) WARN_UNUSED;

#endif
