/*
 * d1/types.h - Postgres types to D1 (SQLite) column types, and Postgres text
 *              values to D1 values. The table is documented in docs/types.md.
 *
 * Owns:     D1Type (how one Postgres type is stored in D1, resolved through
 *           domains, arrays, composites and enums), the type translation rules,
 *           and the value conversion from a value's Postgres text output (what
 *           pgoutput sends in a 't' column) to a D1Value.
 * Not mine: reading the catalog (pg/catalog), SQL text (d1/sql, d1/ddl).
 * Pure:     yes: no I/O, no clock, no globals.
 * Trust:    value text is untrusted (it comes off the replication stream): it is
 *           parsed strictly, with every length checked, and a malformed value
 *           is an error naming the type, never a crash or a silent NULL.
 *
 * The source session is expected to use DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex; timestamptz
 * values with any other UTC offset are still converted correctly to UTC.
 */
#ifndef WAL2EDGE_D1_TYPES_H
#define WAL2EDGE_D1_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
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

/* The value D1 receives. */
typedef enum D1ValKind { D1V_NULL, D1V_INTEGER, D1V_REAL, D1V_TEXT, D1V_BLOB } D1ValKind;

typedef struct D1Value {
    D1ValKind kind;
    /* INTEGER: decimal digits; REAL: the shortest exact decimal; TEXT: UTF-8;
     * BLOB: raw bytes. Owned; NUL-terminated (also for BLOB, after len bytes). */
    char *data;
    size_t len;
    int64_t i;                 /* INTEGER */
    double r;                  /* REAL */
} D1Value;

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

/*
 * Convert one value from its Postgres text output (text[0..len), not
 * necessarily NUL-terminated) to the D1 value. On success *out is owned
 * (d1_value_clear). ERR_PROTOCOL when the text is not valid for the type.
 */
bool d1_value_from_text(const D1Type *t, const char *text, size_t len, D1Value *out,
                        Err *err) WARN_UNUSED;
void d1_value_clear(D1Value *v);

/* The key of the wrapper {"$json": V} that keeps an embedded json/jsonb value apart
 * from SQL NULL and from the wrapper itself (docs/types.md, "JSON null"). */
#define D1_JSON_WRAPPER "$json"

/*
 * Append one value as a JSON value, losslessly, with the rules of docs/types.md
 * ("Arrays" detail): smallint/integer and bigint within ±2^53 as numbers (larger
 * bigint as strings), numeric as a string, floats as numbers (NaN/Infinity as
 * strings, -0 as -0), booleans, json/jsonb embedded, arrays and composites as JSON,
 * bytea as "\\x..", dates and times in their ISO forms, everything else as a
 * string. A json/jsonb value that is JSON null or an object whose only key is
 * "$json" (and a composite whose only attribute is "$json") is wrapped as
 * {"$json": V}, so `null` always means SQL NULL. This is the one JSON rendering
 * of Postgres values: the change events, KV values and snapshots all use it.
 */
bool d1_value_append_json(const D1Type *t, const char *text, size_t len, Buf *out, Err *err) WARN_UNUSED;

#endif
