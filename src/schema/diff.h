/*
 * schema/diff.h - what changed between two shapes of one table.
 *
 * Owns:     the comparison rules: by attnum when both shapes are exact (from
 *           the DDL capture: a rename is a rename), by name otherwise (the
 *           Relation fallback: an add together with a drop may be a rename, so
 *           it is reported as ambiguous, never guessed); a new OID is a table
 *           dropped and created again; a table_rewrite is a rewrite.
 * Not mine: what a target does about it (schema/plan).
 * Pure:     no I/O, no globals.
 */
#ifndef WAL2EDGE_SCHEMA_DIFF_H
#define WAL2EDGE_SCHEMA_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/shape.h"

typedef enum SchemaOpKind {
    SCHEMA_ADD_COLUMN,         /* after */
    SCHEMA_DROP_COLUMN,        /* before */
    SCHEMA_RENAME_COLUMN,      /* before, after (same attnum) */
    SCHEMA_RETYPE_COLUMN,      /* before, after: type or typmod changed */
    SCHEMA_KEY_CHANGE,         /* the primary key's columns changed */
    SCHEMA_REWRITE,            /* Postgres rewrote the table: no row changes came for it */
    SCHEMA_RECREATED,          /* another OID: dropped and created again */
    SCHEMA_AMBIGUOUS,          /* Relation fallback: columns dropped and added at once (a rename?) */
} SchemaOpKind;

typedef struct SchemaOp {
    SchemaOpKind kind;
    const ShapeCol *before;    /* borrowed from the shapes diffed; NULL when not applicable */
    const ShapeCol *after;
} SchemaOp;

typedef struct SchemaDiff {
    SchemaOp *ops;             /* renames, retypes, drops, adds in attnum order; then key, rewrite */
    size_t count;
} SchemaDiff;

/* Compare; `rewritten` when a table_rewrite message came for the table. Valid while both shapes live. */
void schema_diff(const Shape *before, const Shape *after, bool rewritten, SchemaDiff *out);
void schema_diff_free(SchemaDiff *d);

/* "add column plan (text), rename column name to full_name": for messages (owned). */
char *schema_diff_describe(const SchemaDiff *d);

const char *schema_op_name(SchemaOpKind k);

#endif
