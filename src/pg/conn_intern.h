/*
 * pg/conn_intern.h - for the pg/ modules that wrap libpq beside pg/conn
 *                    (pg/catalog, pg/snapshot, pg/stream). Nothing outside
 *                    src/pg/ includes it: everyone else sees PgConn only.
 *
 * Owns:     the way from a PgConn to its libpq connection (part of pg/conn).
 */
#ifndef WAL2EDGE_PG_CONN_INTERN_H
#define WAL2EDGE_PG_CONN_INTERN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "pg/conn.h"

/* The libpq connection inside a PgConn (borrowed: pgconn_close finishes it). */
PGconn *pgconn_raw(PgConn *conn);

/* libpq's messages end with a newline and may span lines: one line, for Err messages. */
void pg_message_line(char *dst, size_t size, const char *msg);

/*
 * Connect with the output settings every value text depends on pinned
 * (DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC, extra_float_digits=3,
 * bytea_output=hex, client_encoding UTF8; pgoutput.md 5.11), appended to the
 * DSN's own "options" so that ours win. replication=database when replication
 * is true. NULL with ERR_PG_CONNECT (the message never shows the DSN).
 */
PGconn *pg_connect_pinned(const Secret *dsn, const char *application_name, bool replication, Err *err);

#endif
