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
bool d1_resync_chunk(const ResyncWindow *w, ResyncMsg *m, const D1Table *t, Lsn lsn, const D1SqlLimits *lim,
                     D1StmtList *out, long *rows, Err *err) WARN_UNUSED;

/*
 * Resync watermark message c (pipeline/resync) for target, whose D1 tables are
 * tables[0..count): a high watermark matching its low one gives its chunk's
 * statements (appended to *out; *table: its D1 table, *rows: the rows written);
 * anything else nothing (*table NULL). *skipped: a high watermark without its
 * low one (a restart between them): the chunk is left out.
 */
bool d1_resync_message(ResyncWindow *w, const Change *c, const char *target, D1Table *tables, size_t count,
                       const D1SqlLimits *lim, D1StmtList *out, const D1Table **table, long *rows, bool *skipped,
                       Err *err) WARN_UNUSED;

#endif
