/*
 * value/render.h - Postgres text values to D1 values and to JSON: the one
 *                  rendering of Postgres values (docs/types.md).
 *
 * Owns:     the value conversion from a value's Postgres text output (what
 *           pgoutput sends in a 't' column, what COPY and snapshots read) to a
 *           D1Value, and the lossless JSON rendering used by the change events,
 *           KV values, queue messages and snapshots.
 * Not mine: which D1Type a column has (value/pgtype), SQL text (d1/sql).
 * Pure:     yes: no I/O, no clock, no globals.
 * Trust:    value text is untrusted (it comes off the replication stream): it is
 *           parsed strictly, with every length checked, and a malformed value
 *           is an error naming the type, never a crash or a silent NULL.
 *
 * The source session is expected to use DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex; timestamptz
 * values with any other UTC offset are still converted correctly to UTC.
 */
#ifndef WAL2EDGE_VALUE_RENDER_H
#define WAL2EDGE_VALUE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "value/pgtype.h"

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
