/*
 * d1/resync.h - a D1 table's side of an online re-copy (`wal2edge resync`):
 *               the watermark window and the chunk turned into statements.
 *
 * Owns:     the resync message format (prefix "wal2edge.resync": a low
 *           watermark {"phase":"low","run","table","chunk","targets"}, a high
 *           one adding "from", "to", "last", "columns" and "rows" - every value
 *           Postgres text), the keys a window records (rows the stream changed
 *           between the watermarks: the stream's version wins), and the
 *           statements of a chunk: an upsert of its rows except the recorded
 *           ones, and a delete of the rows in its key range that Postgres no
 *           longer has (docs/resync.md).
 * Not mine: running the statements (the D1 targets), the source side (pg/resync).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_RESYNC_H
#define WAL2EDGE_D1_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "d1/sql.h"
#include "d1/table.h"
#include "pipeline/change.h"

#define D1_RESYNC_PREFIX "wal2edge.resync"

typedef struct D1ResyncWindow {
    bool open;
    char *run, *table;         /* the resync run's id, the source table */
    long chunk;
    char **keys;               /* recorded keys (the key column's text) */
    size_t key_count, key_cap;
} D1ResyncWindow;

void d1_resync_window_clear(D1ResyncWindow *w);

/* The change's key when a window is open on its table (row changes only): recorded. */
void d1_resync_record(D1ResyncWindow *w, const D1Table *t, const Change *c);

typedef enum D1ResyncStep {
    D1_RESYNC_NONE,            /* not a resync message, or not for this target or database */
    D1_RESYNC_OPENED,          /* a low watermark: the window is open */
    D1_RESYNC_APPLY,           /* a high watermark: run *out */
    D1_RESYNC_SKIPPED,         /* a high watermark without its low one (a restart between them): *why */
} D1ResyncStep;

/*
 * Handle message c for target `target` over tables[0..count). On APPLY, *out
 * holds the statements and *tab the table. Malformed messages are ERR_PROTOCOL.
 */
bool d1_resync_message(D1ResyncWindow *w, D1Table *tables, size_t count, const char *target, const Change *c,
                       const D1SqlLimits *lim, D1ResyncStep *step, D1StmtList *out, const D1Table **tab, long *rows,
                       Err *err) WARN_UNUSED;

#endif
