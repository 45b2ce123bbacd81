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

#include "core/buf.h"
#include "core/err.h"
#include "core/secret.h"
#include "pg/lsn.h"
#include "pg/resync_key.h"

#define PGRESYNC_PREFIX "wal2edge.resync"

typedef struct PgResync PgResync;

PgResync *pgresync_open(const Secret *dsn, Err *err) WARN_UNUSED;
void pgresync_close(PgResync *r);

/*
 * Take TABLE's resync lock in the source (a session advisory lock, held by this
 * connection until it closes), waiting up to wait_ms. Besides a copy running on
 * another machine, it waits out the connection of a killed copy: the server ends
 * a statement whose client is gone only once it finishes, so that copy's last
 * chunk may still commit, and its high watermark would come after this copy's
 * low one for the same chunk (pipeline/resync_same_window). ERR_NOT_READY, naming
 * the holder's backend, when still held.
 */
bool pgresync_lock(PgResync *r, const char *table, int wait_ms, Err *err) WARN_UNUSED;

/* The low watermark: content (JSON) in a transaction of its own; *lsn is where it is in the WAL. */
bool pgresync_low(PgResync *r, const char *content, Lsn *lsn, Err *err) WARN_UNUSED;

typedef struct PgResyncChunk {
    const char *schema, *table;     /* the source table */
    const char *const *keys;        /* its primary-key columns, in key order */
    const ResyncKeyType *key_types; /* and how each orders (pg/resync_key) */
    size_t nkeys;
    const char *const *cols;        /* the columns sent, in order */
    size_t ncols;
    const char *after;              /* keys above this: a JSON array of the key's values as text; NULL: from the start */
    long limit;                     /* rows per chunk */
    const char *header;             /* JSON object text: the message's fields besides from/to/rows/columns/last */
} PgResyncChunk;

/*
 * The chunk's statement (appended to *sql). Parameters: $1 the after key (a
 * JSON array of text, or NULL), $2 the limit, $3 the header, $4 the column
 * names (a JSON array). Text keys compare with COLLATE "C" (pg/resync_key);
 * the message's "from" and "to" are JSON arrays of the key's values as text.
 * Its result: the message's LSN, the chunk's last key (a JSON array of text;
 * NULL when empty), its row count and the message's size.
 */
bool pgresync_chunk_sql(const PgResyncChunk *c, Buf *sql, Err *err) WARN_UNUSED;

/*
 * Read the chunk and emit it as the high watermark in one statement. *last_key
 * (owned; NULL when the chunk was empty) is the chunk's highest key as a JSON
 * array of its values' text, *rows its row count, *bytes the message's size.
 */
bool pgresync_chunk(PgResync *r, const PgResyncChunk *c, char **last_key, long *rows, long *bytes,
                    Err *err) WARN_UNUSED;

#endif
