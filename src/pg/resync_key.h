/*
 * pg/resync_key.h - the primary keys an online re-copy (`wal2edge resync`)
 *                   reads a table by, and how they order.
 *
 * Owns:     which key column types a resync supports and how each orders, the
 *           same in Postgres and in D1/SQLite (integers as numbers; text and
 *           varchar bytewise, as COLLATE "C" in Postgres and BINARY on UTF-8 in
 *           SQLite; uuids as their lowercase text, which orders as their bytes);
 *           comparing two keys of one or more columns (row-value order: first
 *           column first); a key's one text form (its value for one column, a
 *           JSON array of its values' text for more), the form the stream's
 *           recorded keys and a chunk's rows are matched in.
 * Not mine: reading the chunks (pg/resync), applying them (the targets).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_PG_RESYNC_KEY_H
#define WAL2EDGE_PG_RESYNC_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ResyncKeyType {
    RESYNC_KEY_INTEGER,        /* smallint, integer, bigint */
    RESYNC_KEY_TEXT,           /* text, varchar: bytewise */
    RESYNC_KEY_UUID,           /* uuid: its lowercase text */
} ResyncKeyType;

#define RESYNC_KEY_MAX_COLUMNS 32
#define RESYNC_KEY_SUPPORTED "smallint, integer, bigint, text, varchar or uuid"

/* The key type of a column of Postgres type type_oid; false: not one a resync reads by. */
bool resync_key_type_of(uint32_t type_oid, ResyncKeyType *out);
/* "integer", "text", "uuid" (the messages' "key_types"), and back (false: unknown). */
const char *resync_key_type_name(ResyncKeyType t);
bool resync_key_type_parse(const char *name, ResyncKeyType *out);

/* Compare one key column's values (Postgres text) the way t orders: <0, 0, >0. */
int resync_key_cmp1(ResyncKeyType t, const char *a, const char *b);
/* Compare two keys of n columns, first column first (SQL row-value order). */
int resync_key_cmp(const ResyncKeyType *types, size_t n, const char *const *a, const char *const *b);

/* A key's one text form (owned): the value for one column, a compact JSON array of the values for more. */
char *resync_key_encode(const char *const *vals, size_t n);

#endif
