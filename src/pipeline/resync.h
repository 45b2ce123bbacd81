/*
 * pipeline/resync.h - what every target shares of an online re-copy
 *                     (`wal2edge resync`, docs/resync.md).
 *
 * Owns:     the resync message format (prefix "wal2edge.resync": a low watermark
 *           {"phase":"low","run","table","chunk","targets"}, a high one adding
 *           "from", "to", "last", "columns" and "rows", every value Postgres
 *           text), the window between the two (the keys of the rows the stream
 *           changed meanwhile: the stream's version wins), and a high
 *           watermark's rows turned into a Relation and tuples as the stream
 *           would carry them, less the recorded ones.
 * Not mine: what a target writes (d1/resync, the queue target), the source
 *           side (pg/resync).
 * Pure:     yes. Messages are untrusted: a malformed one is ERR_PROTOCOL.
 */
#ifndef WAL2EDGE_PIPELINE_RESYNC_H
#define WAL2EDGE_PIPELINE_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pipeline/change.h"

#define RESYNC_PREFIX "wal2edge.resync"

typedef struct ResyncWindow {
    bool open;
    char *run, *table;         /* the resync run's id, the source table */
    long chunk;
    char **keys;               /* recorded keys (the key column's text) */
    size_t key_count, key_cap;
} ResyncWindow;

void resync_window_clear(ResyncWindow *w);
/* A row change of the window's table: its key (column key_col) recorded, old and new. */
void resync_record(ResyncWindow *w, const char *key_col, const Change *c);
bool resync_recorded(const ResyncWindow *w, const char *key);

typedef enum ResyncStep {
    RESYNC_NONE,               /* not a resync message, or not for this target */
    RESYNC_OPENED,             /* a low watermark: the window is open */
    RESYNC_HIGH,               /* a high watermark matching the window: *msg to apply */
    RESYNC_SKIPPED,            /* a high watermark without its low one (a restart between them) */
} ResyncStep;

typedef struct ResyncMsg ResyncMsg;

/*
 * Look at message c for target `target`; `wants(table, ctx)` says whether the
 * target has the table. On RESYNC_HIGH, *msg (owned, resync_msg_free) is the
 * high watermark and the window is closed (its keys stay until the next low).
 */
bool resync_step(ResyncWindow *w, const Change *c, const char *target, bool (*wants)(const char *table, void *ctx),
                 void *ctx, ResyncStep *step, ResyncMsg **msg, Err *err) WARN_UNUSED;
void resync_msg_free(ResyncMsg *m);

const char *resync_msg_table(const ResyncMsg *m);
/* "from" and "to" (NULL when absent) and whether it is the last chunk. */
const char *resync_msg_from(const ResyncMsg *m);
const char *resync_msg_to(const ResyncMsg *m);
bool resync_msg_last(const ResyncMsg *m);
/* The chunk as the stream would carry it: a Relation of its columns (types unknown) and one tuple per row. */
const Rel *resync_msg_rel(const ResyncMsg *m);
size_t resync_msg_row_count(const ResyncMsg *m);
const PgoTuple *resync_msg_row(const ResyncMsg *m, size_t i);
/* Row i's value of column `col` (NUL-terminated text), or NULL for SQL NULL or no such column. */
const char *resync_msg_value(const ResyncMsg *m, size_t i, const char *col);

#endif
