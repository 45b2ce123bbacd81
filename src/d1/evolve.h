/*
 * d1/evolve.h - a schema change carried out on one D1 table.
 *
 * Owns:     turning a D1 plan (schema/plan) into ALTER TABLE statements - ADD
 *           COLUMN with its constant default rendered as D1 stores the type,
 *           RENAME COLUMN, DROP COLUMN - and changing the D1Table to match, so
 *           the rows after the change are written in the new shape; the text of
 *           the change as a wrangler migration; the stop message when the plan
 *           cannot be carried out (a re-copy, a type with no D1 equivalent, a
 *           column D1 cannot drop).
 * Not mine: deciding the steps (schema/plan), sending the statements (the D1
 *           targets, in the transaction of their checkpoint).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_EVOLVE_H
#define WAL2EDGE_D1_EVOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "d1/table.h"
#include "schema/plan.h"
#include "value/render.h"

typedef struct D1Evolution {
    char **sql;                /* statements, in order, each without a trailing ';' */
    size_t count;
    char *migration;           /* the same as one wrangler migration file's text; NULL when nothing to do */
} D1Evolution;

/*
 * Carry `plan` out on t. `has_column` (may be NULL: trust t) tells whether the
 * D1 table holds a column already, so a change replayed after a crash is not
 * applied twice. `what` describes the change for the migration's comment. A
 * plan that stops or asks for a re-copy is ERR_CHECK naming the way back; t is
 * then unchanged.
 */
bool d1_evolve(D1Table *t, const SchemaPlan *plan, const char *what,
               bool (*has_column)(void *ctx, const char *d1_name), void *ctx, D1Evolution *out,
               Err *err) WARN_UNUSED;
void d1_evolution_clear(D1Evolution *e);

/* A D1 value as an SQL literal (NULL, a number, a quoted text, X'..' for a blob). */
bool d1_sql_literal(Buf *b, const D1Value *v, Err *err) WARN_UNUSED;

#endif
