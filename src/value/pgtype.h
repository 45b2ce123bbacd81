/*
 * value/pgtype.h - Postgres types to D1 (SQLite) column types. The table is
 *                  documented in docs/types.md.
 *
 * Owns:     D1Type (how one Postgres type is stored in D1 and how its values
 *           are converted, resolved through domains, arrays, composites and
 *           enums), the type translation rules and a column's size bound.
 * Not mine: reading the catalog (pg/catalog), converting values (value/render),
 *           SQL text (d1/sql, d1/ddl).
 * Pure:     yes: no I/O, no clock, no globals.
 * Trust:    the catalog is trusted; an unsupported type is an error naming it.
 *
 * This folder sits below d1/, pipeline/, snapshot/ and the targets: every
 * consumer of Postgres values (D1 rows, KV values, queue events, snapshots)
 * shares one rendering.
 */
#ifndef WAL2EDGE_VALUE_PGTYPE_H
#define WAL2EDGE_VALUE_PGTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/catalog.h"

/* A D1 column's declared type (and SQLite affinity). */
typedef enum D1Affinity { D1_INTEGER, D1_REAL, D1_TEXT, D1_BLOB } D1Affinity;

/* How a value's Postgres text is converted. */
typedef enum D1Conv {
    D1C_INT,          /* int2/int4/int8/oid: checked integer text */
    D1C_BOOL,         /* t/f -> 1/0 */
    D1C_FLOAT,        /* float4/float8: REAL; NaN/Infinity/-Infinity as TEXT */
    D1C_NUMERIC,      /* numeric: the exact text */
    D1C_TEXT,         /* text-like types and enums: the text as is */
    D1C_JSON,         /* json/jsonb: the text as is (a JSON document) */
    D1C_BYTEA,        /* hex (or escape) bytea -> BLOB bytes */
    D1C_DATE,         /* ISO 8601 date; BC -> astronomical year */
    D1C_TIME,         /* time without time zone */
    D1C_TIMETZ,       /* time with time zone: offset as +HH:MM */
    D1C_TIMESTAMP,    /* 'T' separator */
    D1C_TIMESTAMPTZ,  /* converted to UTC, 'Z' suffix */
    D1C_INTERVAL,     /* iso_8601 interval text (P...) */
    D1C_ARRAY,        /* TEXT holding a JSON array */
    D1C_COMPOSITE,    /* TEXT holding a JSON object */
    D1C_RAW,          /* an otherwise unsupported type with a mapping override: the text as is */
} D1Conv;

/* How deep arrays and composites may nest (types and values alike). */
#define D1_MAX_NESTING 16

typedef struct D1Type D1Type;
struct D1Type {
    D1Conv conv;
    D1Affinity affinity;       /* the D1 column type (the override when given) */
    bool overridden;           /* affinity comes from the mapping's "types" */
    bool big_int;              /* int8: JSON renders values beyond 2^53 as strings */
    char *pg_name;             /* format_type name, for messages */
    uint32_t oid;
    size_t max_label;          /* enums: the longest label in bytes */
    /* D1C_ARRAY */
    char delim;
    D1Type *elem;
    /* D1C_COMPOSITE */
    size_t attr_count;
    char **attr_names;
    D1Type **attrs;
};

/* "INTEGER", "REAL", "TEXT", "BLOB". */
const char *d1_affinity_name(D1Affinity a);
/* Parse an upper-case override name; false if not one of the four. */
bool d1_affinity_parse(const char *name, D1Affinity *out);

/*
 * Resolve how Postgres type `oid` is stored in D1. `override` is the mapping's
 * "types" entry for the column or NULL. Unsupported types without an override
 * fail with ERR_CONFIG: "type \"point\" has no D1 equivalent". The owned
 * result is freed with d1_type_free.
 */
D1Type *d1_type_resolve(const CatalogInfo *cat, uint32_t oid, const char *override,
                        Err *err) WARN_UNUSED;
void d1_type_free(D1Type *t);

/*
 * The largest a value of this column can be in D1, in bytes, or 0 when
 * unbounded (text without a length, bytea, json, arrays...). typmod is the
 * column's (varchar(n) -> 4n bytes of UTF-8).
 */
size_t d1_type_max_bytes(const D1Type *t, int32_t typmod);

#endif
