/*
 * pg/snapshot.h - reading whole tables from one consistent snapshot (for
 *                 `wal2edge warm`, `migrate` and `snapshot`); libpq is allowed
 *                 here (house rules).
 *
 * Owns:     an ordinary (non-replication) source connection with the pinned
 *           output settings of pg/stream (DateStyle=ISO, IntervalStyle=iso_8601,
 *           TimeZone=UTC, extra_float_digits=3, bytea_output=hex, UTF8), so
 *           every value has exactly the text pgoutput would send; one
 *           REPEATABLE READ READ ONLY transaction, optionally importing an
 *           exported snapshot (SET TRANSACTION SNAPSHOT); reading a table in
 *           key order through a cursor, in batches, from after a given key;
 *           reading a table or a range of its blocks with COPY TO STDOUT (text
 *           format, row by row) for `wal2edge snapshot`.
 * Not mine: what the rows mean (targets/kv), the slot (pg/stream).
 * Trust:    values come from the server; the caller renders them with checks.
 */
#ifndef WAL2EDGE_PG_SNAPSHOT_H
#define WAL2EDGE_PG_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/secret.h"
#include "pg/lsn.h"

typedef struct PgSnapshot PgSnapshot;

/* Connect and BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; with
 * snapshot_name, SET TRANSACTION SNAPSHOT to it (the exporting replication
 * connection must still be open and idle). ERR_PG_CONNECT / ERR_PG. */
PgSnapshot *pgsnap_open(const Secret *dsn, const char *snapshot_name, Err *err) WARN_UNUSED;
/* Ends the transaction (rollback: it only read) and disconnects. */
void pgsnap_close(PgSnapshot *s);

/* pg_current_wal_lsn() as seen now (for a fresh snapshot's position). */
bool pgsnap_current_lsn(PgSnapshot *s, Lsn *out, Err *err) WARN_UNUSED;

/* Estimated row count of schema.name (pg_class.reltuples; -1 when unknown). */
bool pgsnap_estimate_rows(PgSnapshot *s, const char *schema, const char *name, int64_t *out,
                          Err *err) WARN_UNUSED;

/*
 * Open a cursor over `cols` of schema.name ordered by `key_cols` (key_count may
 * be 0: no order, no resume), starting after the key whose values are
 * after[0..key_count) (Postgres text; NULL: from the start). One cursor at a time.
 */
bool pgsnap_table_open(PgSnapshot *s, const char *schema, const char *name, const char *const *cols,
                       size_t col_count, const char *const *key_cols, size_t key_count,
                       const char *const *after, Err *err) WARN_UNUSED;
/* Fetch up to max rows; returns the number fetched (0 at the end) or -1 with *err.
 * Values stay valid until the next fetch or close. */
long pgsnap_fetch(PgSnapshot *s, long max, Err *err);
/* Value of column c (index into cols) of fetched row r; NULL for SQL NULL. */
const char *pgsnap_value(const PgSnapshot *s, long r, size_t c, size_t *len);
bool pgsnap_table_close(PgSnapshot *s, Err *err) WARN_UNUSED;

/* ---- reading a table (or a range of its blocks) with COPY, for `wal2edge snapshot` */

/* The server's version number (150004 for 15.4). */
int pgsnap_server_version(const PgSnapshot *s);
/* Size of the table with this oid in blocks (pg_relation_size / block_size), read
 * inside the transaction: rows the snapshot sees lie in blocks [0, *blocks). */
bool pgsnap_table_blocks(PgSnapshot *s, uint32_t oid, uint64_t *blocks, uint64_t *block_size,
                         Err *err) WARN_UNUSED;
/*
 * Start COPY (SELECT cols FROM schema.name [WHERE ctid range]) TO STDOUT in
 * text format. With ranged, only rows with ctid in blocks [block_lo, block_hi)
 * (block_hi 0: to the end), a TID range scan on PostgreSQL 14+. One COPY at a
 * time; no cursor may be open.
 */
bool pgsnap_copy_open(PgSnapshot *s, const char *schema, const char *name, const char *const *cols,
                      size_t col_count, bool ranged, uint64_t block_lo, uint64_t block_hi,
                      Err *err) WARN_UNUSED;
/* The next row of the COPY as text (tab-separated, escaped, newline-ended; see
 * snapshot/copytext): 1 with *row, *len (writable, valid until the next call),
 * 0 at the end (the COPY is then closed), -1 with *err. */
int pgsnap_copy_next(PgSnapshot *s, char **row, size_t *len, Err *err);

#endif
