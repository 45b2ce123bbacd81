/*
 * snapshot/pgtext.h - a snapshot row (one NDJSON line) back to the Postgres
 *                     text output of each of its values.
 *
 * Owns:     the inverse of d1_value_append_json (docs/types.md): a JSON value
 *           as the snapshot rendered it becomes the text Postgres prints for
 *           it under the stream's pinned settings (DateStyle=ISO, TimeZone=UTC,
 *           IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex),
 *           with Postgres's own array and record quoting, so that a row read
 *           from a snapshot takes the same paths (key templates, KV values,
 *           row identity) as a row read from Postgres. Rendering the text again
 *           gives back the same JSON. A minimal JSON scanner for one line.
 * Not mine: rendering (value/render), types (value/pgtype), reading parts (snapshot/reader).
 * Pure:     yes.
 * Trust:    lines come from a snapshot file or bucket: parsed strictly, depth
 *           and sizes bounded; malformed input is ERR_PROTOCOL naming the column.
 * Limits:   arrays with non-default bounds come back with default bounds (the
 *           JSON never had them); a JSON array inside a json[]/jsonb[] value is
 *           read as one element, not as a dimension.
 */
#ifndef WAL2EDGE_SNAPSHOT_PGTEXT_H
#define WAL2EDGE_SNAPSHOT_PGTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/pgoutput.h"
#include "value/render.h"

/* Append the Postgres text of json[0..len) (one JSON value, not null) of type t. */
bool pgtext_from_json(const D1Type *t, const char *json, size_t len, Buf *out, Err *err) WARN_UNUSED;

typedef struct PgTextRow PgTextRow;

/* A parser for rows with these columns (names and types borrowed; they must outlive it). */
PgTextRow *pgtext_row_new(const char *const *names, const D1Type *const *types, size_t count);
void pgtext_row_free(PgTextRow *r);
/*
 * Parse one line `{"col": value, ...}` into vals[0..count) in the parser's
 * column order: PGO_COL_TEXT with the Postgres text, or PGO_COL_NULL. The
 * texts live in the parser until the next call. Every column must be there
 * once and no other: a row of another shape is ERR_PROTOCOL.
 */
bool pgtext_row_parse(PgTextRow *r, const char *line, size_t len, PgoCol *vals, Err *err) WARN_UNUSED;

#endif
