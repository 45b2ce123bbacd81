/*
 * pipeline/rowjson.h - a row as a JSON object, values rendered losslessly.
 *
 * Owns:     the shape of a table's JSON row (column names and how each value
 *           renders, resolved once from the catalog) and turning a pgoutput
 *           tuple into `{"col": value, ...}` with d1_value_append_json, the one
 *           JSON rendering of Postgres values (docs/types.md). Used by the change
 *           events, KV values and snapshots, so a value looks the same everywhere.
 * Not mine: which columns a target wants beyond an exclude list; unchanged TOAST
 *           policy beyond marking or skipping (the caller decides).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_PIPELINE_ROWJSON_H
#define WAL2EDGE_PIPELINE_ROWJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/catalog.h"
#include "pg/relcache.h"
#include "value/render.h"

typedef struct RowShape RowShape;

/* The shape of `table` (all its columns except `exclude[0..exclude_count)`). Owned. */
RowShape *rowshape_new(const CatalogInfo *cat, const CatTable *table, const char *const *exclude,
                       size_t exclude_count, Err *err) WARN_UNUSED;
void rowshape_free(RowShape *shape);

typedef enum RowJsonUnchanged {
    ROWJSON_MARK_UNCHANGED,    /* "col": {"unchanged_toast": true} */
    ROWJSON_SKIP_UNCHANGED,    /* leave the column out */
} RowJsonUnchanged;

/*
 * Append tup (whose columns are described by rel, the stream's Relation) as a
 * JSON object. Columns the shape does not know (added after the catalog was
 * read) render as strings; excluded columns are left out. *had_unchanged (may
 * be NULL) tells whether an unchanged TOAST value was met. ERR_PROTOCOL when a
 * value does not parse for its type (the message names the column).
 */
bool rowjson_append(const RowShape *shape, const Rel *rel, const PgoTuple *tup, RowJsonUnchanged unchanged,
                    Buf *out, bool *had_unchanged, Err *err) WARN_UNUSED;

#endif
