/*
 * pg/resync.h - the source side of an online re-copy (`wal2edge resync`):
 *               watermark messages around primary-key chunks.
 *
 * Owns:     the SQL of one chunk: a low watermark (a transactional logical
 *           message "wal2edge.resync" committed on its own), then one statement
 *           that reads the next chunk by primary key and emits it as the high
 *           watermark message, with every value as Postgres text (the output
 *           settings pinned as for replication), so the stream delivers the rows
 *           at the high watermark, in WAL order, to every target.
 * Not mine: the message format's meaning (resync/msg), applying it (targets).
 * Pure:     no (libpq).
 */
#ifndef WAL2EDGE_PG_RESYNC_H
#define WAL2EDGE_PG_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/secret.h"

#define PGRESYNC_PREFIX "wal2edge.resync"

typedef struct PgResync PgResync;

PgResync *pgresync_open(const Secret *dsn, Err *err) WARN_UNUSED;
void pgresync_close(PgResync *r);

/* The low watermark: content (JSON) in a transaction of its own. */
bool pgresync_low(PgResync *r, const char *content, Err *err) WARN_UNUSED;

typedef struct PgResyncChunk {
    const char *schema, *table;     /* the source table */
    const char *key;                /* its one primary-key column */
    const char *const *cols;        /* the columns sent, in order */
    size_t ncols;
    const char *after;              /* keys above this (text); NULL: from the start */
    long limit;                     /* rows per chunk */
    const char *header;             /* JSON object text: the message's fields besides from/to/rows/columns/last */
} PgResyncChunk;

/*
 * Read the chunk and emit it as the high watermark in one statement. *last_key
 * (owned; NULL when the chunk was empty) is the chunk's highest key, *rows its
 * row count, *bytes the message's size.
 */
bool pgresync_chunk(PgResync *r, const PgResyncChunk *c, char **last_key, long *rows, long *bytes,
                    Err *err) WARN_UNUSED;

#endif
