/*
 * pipeline/resync.h - what every target shares of an online re-copy
 *                     (`wal2edge resync`, docs/resync.md).
 *
 * Owns:     the resync message format (prefix "wal2edge.resync": a low watermark
 *           {"phase":"low","run","attempt","table","chunk","targets","key",
 *           "key_types"},
 *           a high one adding "from", "to" (the key range, arrays of the key's
 *           values), "last", "columns" and "rows", every value Postgres text;
 *           messages of before composite keys, without "key" and with "from"
 *           and "to" as one value, still read), the window between the two (the
 *           keys of the rows the stream changed meanwhile, in pg/resync_key's
 *           text form: the stream's version wins), and a high watermark's rows
 *           turned into a Relation and tuples as the stream would carry them,
 *           less the recorded ones.
 * Not mine: what a target writes (d1/resync, the queue target), the source
 *           side (pg/resync).
 * Pure:     yes. Messages are untrusted: a malformed one is ERR_PROTOCOL.
 */
#ifndef WAL2EDGE_PIPELINE_RESYNC_H
#define WAL2EDGE_PIPELINE_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pg/resync_key.h"
#include "pipeline/change.h"

#define RESYNC_PREFIX "wal2edge.resync"

typedef struct ResyncWindow {
    bool open;
    char *run, *table;         /* the resync run's id, the source table */
    long chunk;
    char *attempt;             /* the low watermark's "attempt" (one per process copying); NULL: none sent */
    char **key_cols;           /* the key's columns (the low watermark's "key"; none: an older message) */
    size_t key_col_count;
    char **keys;               /* recorded keys (pg/resync_key's text form) */
    size_t key_count, key_cap;
    char *skipped_table;       /* the table of the last RESYNC_SKIPPED high watermark (owned) */
    Lsn skipped_lsn;           /* and where that watermark was */
} ResyncWindow;

void resync_window_clear(ResyncWindow *w);
/*
 * A row change of the window's table: its key recorded, old and new. The key's
 * columns are the low watermark's; key_col (the target's first key column) only
 * for a message that names none (one integer column, before composite keys).
 */
void resync_record(ResyncWindow *w, const char *key_col, const Change *c);
/* Whether key (pg/resync_key's text form) was recorded. */
bool resync_recorded(const ResyncWindow *w, const char *key);

/*
 * Whether c is a resync watermark message (any target's): *low (or a high one),
 * its run and attempt (owned; the attempt NULL when the message has none) and
 * chunk. false: not one, or one that does not parse.
 */
bool resync_watermark(const Change *c, bool *low, char **run, char **attempt, long *chunk);
/*
 * Whether a high watermark of (run, chunk, attempt) belongs to the window opened
 * for (w_run, w_chunk, w_attempt): the same run and chunk, and the same attempt
 * when both carry one. A chunk a killed process was reading when it died can
 * commit after the process resumed and sent the same chunk's low watermark again
 * (the server ends a statement whose client is gone only once it finishes): that
 * high watermark is another attempt's, read before changes the new window saw.
 */
bool resync_same_window(const char *w_run, long w_chunk, const char *w_attempt, const char *run, long chunk,
                        const char *attempt);

typedef enum ResyncStep {
    RESYNC_NONE,               /* not a resync message, or not for this target */
    RESYNC_OPENED,             /* a low watermark: the window is open */
    RESYNC_HIGH,               /* a high watermark matching the window: *msg to apply */
    RESYNC_SKIPPED,            /* a high watermark without its low one (a restart between them) */
    RESYNC_SUPERSEDED,         /* the high watermark of an attempt another one replaced (resync_same_window):
                                  ignored, the newer attempt sends the chunk */
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
/*
 * The key: its columns, how each orders, and row r's values. A message of
 * before composite keys names none: resync_msg_key_default gives it the target's
 * one key column, an integer (false: the message has no such column).
 */
size_t resync_msg_key_count(const ResyncMsg *m);
const char *resync_msg_key_name(const ResyncMsg *m, size_t i);
const ResyncKeyType *resync_msg_key_types(const ResyncMsg *m);
bool resync_msg_key_default(ResyncMsg *m, const char *col, Err *err) WARN_UNUSED;
/* Row r's key value i (NULL: SQL NULL), and its whole key in pg/resync_key's text form (owned; NULL: a NULL in it). */
const char *resync_msg_key_value(const ResyncMsg *m, size_t r, size_t i);
char *resync_msg_row_key(const ResyncMsg *m, size_t r);
/* The key range: (from, to], from absent for the first chunk, to absent for an empty one (NULL arrays). */
const char *const *resync_msg_from_key(const ResyncMsg *m);
const char *const *resync_msg_to_key(const ResyncMsg *m);
/* The first column of "from" and "to" (NULL when absent) and whether it is the last chunk. */
const char *resync_msg_from(const ResyncMsg *m);
const char *resync_msg_to(const ResyncMsg *m);
bool resync_msg_last(const ResyncMsg *m);
/* Whether key vals (the key's values, in its order) is in the chunk's rows (binary search: they are in key order). */
bool resync_msg_has_key(const ResyncMsg *m, const char *const *vals);
/* The chunk as the stream would carry it: a Relation of its columns (types unknown) and one tuple per row. */
const Rel *resync_msg_rel(const ResyncMsg *m);
size_t resync_msg_row_count(const ResyncMsg *m);
const PgoTuple *resync_msg_row(const ResyncMsg *m, size_t i);
/* Row i's value of column `col` (NUL-terminated text), or NULL for SQL NULL or no such column. */
const char *resync_msg_value(const ResyncMsg *m, size_t i, const char *col);

#endif
