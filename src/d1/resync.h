/*
 * d1/resync.h - a D1 table's side of an online re-copy (`wal2edge resync`).
 *
 * Owns:     the statements of a chunk (pipeline/resync's high watermark): an
 *           upsert of its rows except those the stream changed between the
 *           watermarks, and a delete of the rows in its key range that Postgres
 *           no longer has (docs/resync.md).
 * Not mine: the message format and the window (pipeline/resync), running the
 *           statements (the D1 targets).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_RESYNC_H
#define WAL2EDGE_D1_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "d1/sql.h"
#include "d1/table.h"
#include "pipeline/resync.h"

/* The D1 table of the chunk's source table among tables[0..count) (one-column key only), or NULL. */
D1Table *d1_resync_table(D1Table *tables, size_t count, const char *source);

/* The statements for chunk m of table t (appended to *out); *rows: the rows written. */
bool d1_resync_chunk(const ResyncWindow *w, const ResyncMsg *m, const D1Table *t, Lsn lsn, const D1SqlLimits *lim,
                     D1StmtList *out, long *rows, Err *err) WARN_UNUSED;

#endif
