/*
 * pg/keysample.h - how a table's rows spread over the values of some of its
 *                  columns, from a sample (`plan` predicting each D1 shard's size).
 *
 * Owns:     the sampled GROUP BY of a table by columns (TABLESAMPLE SYSTEM at a
 *           percentage that reads about max_rows rows), the table's size on disk
 *           (heap, TOAST and indexes) and its row estimate.
 * Not mine: what a group means (the shard function, mapping/shard; cli/cmd_plan).
 * Pure:     no (one query on a connection).
 */
#ifndef WAL2EDGE_PG_KEYSAMPLE_H
#define WAL2EDGE_PG_KEYSAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/conn.h"

typedef struct PgKeySample {
    int64_t total_bytes;       /* pg_total_relation_size */
    double est_rows;           /* pg_class.reltuples (-1: never analyzed) */
    double percent;            /* of the table's pages read */
    int64_t sampled_rows;
} PgKeySample;

/* One group: the columns' values (Postgres text, never NULL: NULL groups are counted in null_rows). */
typedef bool (*PgKeyGroupFn)(void *user, const char *const *values, const size_t *lens, size_t n, int64_t rows,
                             Err *err);

/*
 * Sample schema.table's rows grouped by cols, calling fn per group. *null_rows:
 * sampled rows with a NULL in one of cols. ERR_PG on a failed query.
 */
bool pg_key_sample(PgConn *conn, const char *schema, const char *table, const char *const *cols, size_t ncols,
                   int64_t max_rows, PgKeySample *out, int64_t *null_rows, PgKeyGroupFn fn, void *user,
                   Err *err) WARN_UNUSED;

#endif
