/*
 * schema/diff.c - see diff.h. Exact shapes are matched column by column on
 * attnum (both arrays ascend, so one merge pass); inexact ones on name. The
 * primary key is compared as a set of attnums (exact) or names (fallback),
 * and only between shapes of the same kind: a Relation's key flags are the
 * replica identity, which is not always the primary key.
 */
#include "schema/diff.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

static void push(SchemaDiff *d, SchemaOpKind kind, const ShapeCol *before, const ShapeCol *after)
{
    d->ops = xrealloc(d->ops, (d->count + 1) * sizeof *d->ops);
    d->ops[d->count++] = (SchemaOp){kind, before, after};
}

static bool same_type(const ShapeCol *a, const ShapeCol *b)
{
    return a->type_oid == b->type_oid && a->typmod == b->typmod;
}

static void diff_by_attnum(const Shape *before, const Shape *after, SchemaDiff *d)
{
    size_t i = 0, j = 0;
    while (i < before->ncols || j < after->ncols) {
        const ShapeCol *b = i < before->ncols ? &before->cols[i] : NULL;
        const ShapeCol *a = j < after->ncols ? &after->cols[j] : NULL;
        if (b && (!a || b->attnum < a->attnum)) {
            push(d, SCHEMA_DROP_COLUMN, b, NULL);
            i++;
        } else if (a && (!b || a->attnum < b->attnum)) {
            push(d, SCHEMA_ADD_COLUMN, NULL, a);
            j++;
        } else if (a && b) { /* the same attnum on both sides (the loop guarantees one of them) */
            if (strcmp(b->name, a->name) != 0)
                push(d, SCHEMA_RENAME_COLUMN, b, a);
            if (!same_type(b, a))
                push(d, SCHEMA_RETYPE_COLUMN, b, a);
            i++, j++;
        }
    }
}

static void diff_by_name(const Shape *before, const Shape *after, SchemaDiff *d)
{
    bool dropped = false, added = false;
    for (size_t i = 0; i < before->ncols; i++) {
        const ShapeCol *a = shape_column(after, before->cols[i].name);
        if (!a) {
            push(d, SCHEMA_DROP_COLUMN, &before->cols[i], NULL);
            dropped = true;
        } else if (!same_type(&before->cols[i], a)) {
            push(d, SCHEMA_RETYPE_COLUMN, &before->cols[i], a);
        }
    }
    for (size_t j = 0; j < after->ncols; j++)
        if (!shape_column(before, after->cols[j].name)) {
            push(d, SCHEMA_ADD_COLUMN, NULL, &after->cols[j]);
            added = true;
        }
    if (dropped && added) {
        /* a rename looks exactly like this: say so instead of dropping a column's values */
        const ShapeCol *first_drop = NULL, *first_add = NULL;
        for (size_t k = 0; k < d->count; k++) {
            if (d->ops[k].kind == SCHEMA_DROP_COLUMN && !first_drop)
                first_drop = d->ops[k].before;
            if (d->ops[k].kind == SCHEMA_ADD_COLUMN && !first_add)
                first_add = d->ops[k].after;
        }
        d->count = 0;
        push(d, SCHEMA_AMBIGUOUS, first_drop, first_add);
    }
}

/* The primary key changed: compared by attnum (exact) or name. */
static bool key_changed(const Shape *before, const Shape *after)
{
    for (size_t pass = 0; pass < 2; pass++) {
        const Shape *x = pass ? after : before, *y = pass ? before : after;
        for (size_t i = 0; i < x->ncols; i++) {
            if (!x->cols[i].pk)
                continue;
            bool found = false;
            for (size_t k = 0; k < y->ncols && !found; k++)
                found = y->cols[k].pk && (x->exact ? y->cols[k].attnum == x->cols[i].attnum
                                                   : strcmp(y->cols[k].name, x->cols[i].name) == 0);
            if (!found)
                return true;
        }
    }
    return false;
}

void schema_diff(const Shape *before, const Shape *after, bool rewritten, SchemaDiff *out)
{
    memset(out, 0, sizeof *out);
    if (before->oid != after->oid) {
        push(out, SCHEMA_RECREATED, NULL, NULL);
        return;
    }
    if (before->exact && after->exact)
        diff_by_attnum(before, after, out);
    else
        diff_by_name(before, after, out);
    if (before->exact == after->exact && key_changed(before, after))
        push(out, SCHEMA_KEY_CHANGE, NULL, NULL);
    if (rewritten)
        push(out, SCHEMA_REWRITE, NULL, NULL);
}

void schema_diff_free(SchemaDiff *d)
{
    free(d->ops);
    memset(d, 0, sizeof *d);
}

const char *schema_op_name(SchemaOpKind k)
{
    static const char *const names[] = {"add column", "drop column", "rename column", "change the type of column",
                                        "change the primary key", "rewrite", "drop and create again",
                                        "drop and add columns"};
    return names[k];
}

char *schema_diff_describe(const SchemaDiff *d)
{
    Buf b;
    buf_init(&b, 1 << 16);
    Err err;
    bool ok = true;
    for (size_t i = 0; i < d->count && ok; i++) {
        const SchemaOp *op = &d->ops[i];
        ok = (i == 0 || buf_append_str(&b, ", ", &err)) && buf_append_str(&b, schema_op_name(op->kind), &err);
        if (!ok)
            break;
        switch (op->kind) {
        case SCHEMA_ADD_COLUMN:
            ok = buf_printf(&b, &err, " %s (%s)", op->after->name, op->after->type ? op->after->type : "?");
            break;
        case SCHEMA_DROP_COLUMN:
            ok = buf_printf(&b, &err, " %s", op->before->name);
            break;
        case SCHEMA_RENAME_COLUMN:
            ok = buf_printf(&b, &err, " %s to %s", op->before->name, op->after->name);
            break;
        case SCHEMA_RETYPE_COLUMN:
            ok = buf_printf(&b, &err, " %s", op->after->name);
            if (ok && op->before->type && op->after->type)
                ok = buf_printf(&b, &err, " from %s to %s", op->before->type, op->after->type);
            break;
        case SCHEMA_AMBIGUOUS:
            ok = buf_printf(&b, &err, " (%s gone, %s new: a rename?)", op->before->name, op->after->name);
            break;
        case SCHEMA_KEY_CHANGE:
        case SCHEMA_REWRITE:
        case SCHEMA_RECREATED:
            break;
        }
    }
    char *text = xstrdup(ok && b.data ? b.data : "a schema change");
    buf_free(&b);
    return text;
}
