/*
 * pg/conn_intern.h - for the pg/ modules that wrap libpq beside pg/conn
 *                    (pg/catalog, pg/snapshot, pg/stream). Nothing outside
 *                    src/pg/ includes it: everyone else sees PgConn only.
 */
#ifndef WAL2EDGE_PG_CONN_INTERN_H
#define WAL2EDGE_PG_CONN_INTERN_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pg/conn.h"

/* The libpq connection inside a PgConn (borrowed: pgconn_close finishes it). */
PGconn *pgconn_raw(PgConn *conn);

/* libpq's messages end with a newline and may span lines: one line, for Err messages. */
void pg_message_line(char *dst, size_t size, const char *msg);

#endif
