/*
 * pg/relcache.h - relation and type metadata learned from the replication stream.
 *
 * Owns:     Rel (a copy of the latest Relation message per relation OID) and
 *           the type-name lookup: a built-in table for the common catalog types
 *           plus names learned from Type messages for custom types (OID >= 10000).
 * Not mine: decoding bytes (pg/pgoutput), catalog queries (none: the stream is
 *           the only source).
 * Pure:     yes; owns heap copies of every string (the input buffer may go away).
 * Trust:    entries come from decoded (bounds-checked) messages; names are
 *           stored as counted bytes and never interpreted.
 *
 * Lifetime: the cache is per replication session. A Relation message replaces
 * the entry for its OID (pgoutput resends it after any relcache invalidation);
 * relcache_clear() forgets everything, which a reconnect must do because the
 * server resends Relation/Type messages in every new session.
 */
#ifndef WAL2EDGE_PG_RELCACHE_H
#define WAL2EDGE_PG_RELCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg/pgoutput.h"

typedef struct RelCol {
    char *name;
    uint32_t type_oid;
    int32_t typmod;
    bool key;                  /* part of the replica identity key */
} RelCol;

typedef struct Rel {
    uint32_t oid;
    char *nspname;
    char *relname;
    char *qualname;            /* "schema.name", used as the table identity downstream */
    uint8_t replident;         /* PgoReplIdent */
    uint16_t ncols;
    RelCol *cols;
} Rel;

typedef struct RelCache RelCache;

RelCache *relcache_new(void);
void relcache_free(RelCache *rc);   /* NULL is a no-op */

/* Remember (or replace) the relation described by a Relation event. Returns the entry. */
const Rel *relcache_put(RelCache *rc, const PgoEvent *relation);

/* Borrowed: valid until the next relcache_put for the same OID or relcache_clear. NULL if unknown. */
const Rel *relcache_get(const RelCache *rc, uint32_t oid);

/* Remember (or replace) a custom type name from a Type event. */
void relcache_put_type(RelCache *rc, const PgoEvent *type);

/*
 * Type name for an OID: built-in names as Postgres spells them in format_type
 * style short form ("int4", "varchar", "timestamptz"), custom types as
 * "schema.name" (bare name when the schema is pg_catalog or empty). NULL if
 * unknown. Borrowed: valid until the next relcache_put_type or clear.
 */
const char *relcache_type_name(const RelCache *rc, uint32_t type_oid);

/* Static built-in table only (no cache needed); NULL if not a known built-in. */
const char *relcache_builtin_type_name(uint32_t type_oid);

/* Forget every relation and custom type (reconnect). */
void relcache_clear(RelCache *rc);

size_t relcache_count(const RelCache *rc);

#endif
