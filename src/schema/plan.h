/*
 * schema/plan.h - what each target of a mapping does about a schema change.
 *
 * Owns:     the rules of docs/schema-changes.md, "What each target does": per
 *           mapping and its "on_schema_change" (evolve | stop), the D1 steps
 *           (add, rename, drop a column; a re-copy of the table when the data
 *           changed without row changes; a stop naming the way back), the KV
 *           check (a key or value template naming a column that is gone), and
 *           which column defaults are constants a D1 ADD COLUMN can carry.
 * Not mine: carrying the steps out (the D1 and KV targets), the mapping's
 *           exclude/rename/types (mapping/mapping: asked, not repeated).
 * Pure:     no I/O, no globals.
 */
#ifndef WAL2EDGE_SCHEMA_PLAN_H
#define WAL2EDGE_SCHEMA_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "mapping/mapping.h"
#include "schema/diff.h"
#include "schema/shape.h"

typedef enum PlanKind {
    PLAN_ADD_COLUMN,           /* column (D1 name), col; default_value when has_default */
    PLAN_RENAME_COLUMN,        /* column -> new_name (D1 names) */
    PLAN_DROP_COLUMN,          /* column (D1 name) */
    PLAN_RESYNC,               /* the table must be copied again; message says why */
    PLAN_STOP,                 /* this mapping's target stops; message names the change and the way back */
} PlanKind;

typedef struct PlanStep {
    PlanKind kind;
    char *column, *new_name;
    const ShapeCol *col;       /* ADD, RENAME: the new Postgres column (borrowed from the shape) */
    const char *type_override; /* PLAN_ADD_COLUMN: the mapping's "types" entry, or NULL (borrowed) */
    bool has_default;
    char *default_value;       /* PLAN_ADD_COLUMN: the constant default as Postgres text (NULL: SQL NULL) */
    char *message;
} PlanStep;

typedef struct SchemaPlan {
    PlanStep *steps;
    size_t count;
} SchemaPlan;

/* The D1 steps for mapping m (which has a "d1" section). Borrows from d and its shapes. */
void plan_d1(const Mapping *m, const SchemaDiff *d, SchemaPlan *out);
/*
 * The KV steps (PLAN_STOP only: values follow the new shape by themselves): a
 * key or value template naming a column that d takes away or that `after` (may
 * be NULL) lacks stops, naming the template and the fix.
 */
void plan_kv(const Mapping *m, const SchemaDiff *d, const Shape *after, SchemaPlan *out);
void schema_plan_free(SchemaPlan *p);

/* Whether the plan stops or re-copies (the first such step, or NULL). */
const PlanStep *schema_plan_blocker(const SchemaPlan *p);

/*
 * A column default as pg_get_expr prints it, when it is a constant: a quoted
 * literal with an optional cast ('free'::text), a number, true/false or NULL.
 * *value is the literal's Postgres text (owned; NULL for NULL). A function call
 * (now(), nextval(...)) or an expression is not: false.
 */
bool schema_default_constant(const char *expr, char **value);

#endif
