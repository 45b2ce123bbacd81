/*
 * d1/rebuild.h - a D1 table rebuilt in its source table's new shape, keeping its rows.
 *
 * Owns:     the statements that take a D1 table to a shape ALTER TABLE cannot
 *           reach (a column's D1 type changed, a new primary key, a table
 *           dropped and created again): SQLite's way - a new table in the new
 *           shape, its rows copied with INSERT ... SELECT (each kept column
 *           cast to its new D1 type; a new column gets its constant default, or
 *           a placeholder when it may not be NULL), the old table dropped, its
 *           non-unique indexes made again, the new one renamed to the old name -
 *           and the D1Table changed to match; the same as a migration's text.
 * Not mine: deciding that a rebuild is needed (schema/plan), running the
 *           statements (the D1 targets, in their checkpoint's transaction), the
 *           re-copy that refreshes every row afterwards (run's resyncer).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_REBUILD_H
#define WAL2EDGE_D1_REBUILD_H

#include <stdbool.h>

#include "core/err.h"
#include "d1/evolve.h"
#include "d1/table.h"
#include "schema/shape.h"

/*
 * Rebuild t from `before` (the shape its rows are in; a column of `after` is the
 * same as one of `before` by attnum when both are exact, else by name) to
 * `after`. On success out holds the statements and the migration text, and t
 * has the new columns, key and indexes. !old_exists (the D1 table is not there,
 * e.g. dropped with its source table): the new table only, with no rows. ERR_CHECK naming the way back when the
 * new shape cannot be a D1 table (a type with no D1 equivalent, no key); t is
 * then unchanged.
 */
bool d1_rebuild(D1Table *t, const Shape *before, const Shape *after, const char *what, bool old_exists,
                D1Evolution *out, Err *err) WARN_UNUSED;

#endif
