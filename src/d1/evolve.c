/*
 * d1/evolve.c - see evolve.h. The plan is checked whole first (a blocker, a
 * type without a D1 equivalent, a column in a key or a unique index), so a
 * refusal leaves the table as it was; then each step appends its statement
 * and changes the D1Table. A dropped column leaves the arrays, and the key's
 * and indexes' positions after it move down by one.
 */
#include "d1/evolve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "value/render.h"

#define EVOLVE_SQL_MAX (1 << 20)

static long find_d1(const D1Table *t, const char *d1_name)
{
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(t->cols[i].d1_name, d1_name) == 0)
            return (long)i;
    return -1;
}

static const char *RECOPY = "copy the table again with `wal2edge migrate` (drop the D1 table first when the D1 type of "
                            "a column changed), then start `wal2edge run` again";

/* The whole plan can be carried out (else ERR_CHECK naming why and the way back). */
static bool check_plan(const D1Table *t, const SchemaPlan *plan, Err *err)
{
    const PlanStep *b = schema_plan_blocker(plan);
    if (b && b->kind == PLAN_STOP)
        return err_set(err, ERR_CHECK, "%s", b->message);
    if (b)
        return err_set(err, ERR_CHECK, "d1: %s; D1 table \"%s\" must be copied again: %s", b->message, t->name,
                       RECOPY);
    for (size_t i = 0; i < plan->count; i++) {
        const PlanStep *s = &plan->steps[i];
        if (s->kind == PLAN_ADD_COLUMN) {
            Err sub;
            D1Type *ty = d1_type_resolve(NULL, s->col->type_oid, s->type_override, &sub);
            if (!ty)
                return err_set(err, ERR_CHECK,
                               "d1: new column %s of %s is of type %s, which has no D1 equivalent (%s): add "
                               "\"types\": {\"%s\": \"TEXT\"} (or INTEGER, REAL, BLOB) to the d1 section of %s, "
                               "then %s",
                               s->col->name, t->source, s->col->type ? s->col->type : "?", sub.msg, s->col->name,
                               t->mapping ? t->mapping->file : "its mapping", RECOPY);
            d1_type_free(ty);
        }
        if (s->kind != PLAN_DROP_COLUMN)
            continue;
        long c = find_d1(t, s->column);
        for (size_t k = 0; c >= 0 && k < t->key_count; k++)
            if (t->key[k] == (size_t)c)
                return err_set(err, ERR_CHECK, "d1: dropped column %s is in the key of D1 table \"%s\": %s",
                               s->column, t->name, RECOPY);
        for (size_t x = 0; c >= 0 && x < t->index_count; x++)
            for (size_t k = 0; k < t->indexes[x].col_count; k++)
                if (t->indexes[x].cols[k] == (size_t)c)
                    return err_set(err, ERR_CHECK,
                                   "d1: dropped column %s is in index %s of D1 table \"%s\", which D1 cannot drop "
                                   "a column from: %s",
                                   s->column, t->indexes[x].name, t->name, RECOPY);
    }
    return true;
}

bool d1_sql_literal(Buf *b, const D1Value *v, Err *err)
{
    switch (v->kind) {
    case D1V_NULL:
        return buf_append_str(b, "NULL", err);
    case D1V_INTEGER:
        return buf_printf(b, err, "%" PRId64, v->i);
    case D1V_REAL:
        return buf_printf(b, err, "%.17g", v->r);
    case D1V_TEXT:
        if (!buf_append_str(b, "'", err))
            return false;
        for (size_t i = 0; i < v->len; i++)
            if (!buf_append(b, v->data[i] == '\'' ? "''" : &v->data[i], v->data[i] == '\'' ? 2 : 1, err))
                return false;
        return buf_append_str(b, "'", err);
    case D1V_BLOB:
        if (!buf_append_str(b, "X'", err))
            return false;
        for (size_t i = 0; i < v->len; i++)
            if (!buf_printf(b, err, "%02x", (unsigned char)v->data[i]))
                return false;
        return buf_append_str(b, "'", err);
    }
    return err_set(err, ERR_INTERNAL, "unknown D1 value kind");
}

static void push_sql(D1Evolution *e, Buf *b)
{
    e->sql = xrealloc(e->sql, (e->count + 1) * sizeof *e->sql);
    e->sql[e->count++] = xstrdup(b->data);
    buf_reset(b);
}

static bool add_column(D1Table *t, const PlanStep *s, bool exists, Buf *b, D1Evolution *out, Err *err)
{
    D1Type *ty = d1_type_resolve(NULL, s->col->type_oid, s->type_override, err);
    if (!ty)
        return false;
    bool ok = true;
    if (!exists) {
        ok = buf_append_str(b, "ALTER TABLE ", err) && d1_quote_ident(b, t->name, err) &&
             buf_append_str(b, " ADD COLUMN ", err) && d1_quote_ident(b, s->column, err) &&
             buf_printf(b, err, " %s", d1_affinity_name(ty->affinity));
        if (ok && s->has_default && s->default_value) {
            D1Value v = {0};
            ok = d1_value_from_text(ty, s->default_value, strlen(s->default_value), &v, err) &&
                 buf_append_str(b, " DEFAULT ", err) && d1_sql_literal(b, &v, err);
            d1_value_clear(&v);
        }
        if (ok)
            push_sql(out, b);
    }
    if (!ok || find_d1(t, s->column) >= 0) {
        d1_type_free(ty);
        return ok;
    }
    t->cols = xrealloc(t->cols, (t->col_count + 1) * sizeof *t->cols);
    t->cols[t->col_count++] = (D1Column){xstrdup(s->col->name), xstrdup(s->column), ty,
                                         xstrdup(s->col->type ? s->col->type : ty->pg_name), s->col->typmod, false,
                                         false};
    return true;
}

static void drop_column(D1Table *t, size_t c)
{
    D1Column *col = &t->cols[c];
    free(col->pg_name);
    free(col->d1_name);
    free(col->pg_type);
    d1_type_free(col->type);
    memmove(&t->cols[c], &t->cols[c + 1], (t->col_count - c - 1) * sizeof *t->cols);
    t->col_count--;
    for (size_t k = 0; k < t->key_count; k++)
        t->key[k] -= t->key[k] > c;
    for (size_t x = 0; x < t->index_count; x++)
        for (size_t k = 0; k < t->indexes[x].col_count; k++)
            t->indexes[x].cols[k] -= t->indexes[x].cols[k] > c;
}

bool d1_evolve(D1Table *t, const SchemaPlan *plan, const char *what,
               bool (*has_column)(void *ctx, const char *d1_name), void *ctx, D1Evolution *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!check_plan(t, plan, err))
        return false;
    Buf b;
    buf_init(&b, EVOLVE_SQL_MAX);
    bool ok = true;
    for (size_t i = 0; ok && i < plan->count; i++) {
        const PlanStep *s = &plan->steps[i];
        bool in_d1 = has_column ? has_column(ctx, s->column) : find_d1(t, s->column) >= 0;
        long c = find_d1(t, s->column);
        switch (s->kind) {
        case PLAN_ADD_COLUMN:
            ok = add_column(t, s, in_d1, &b, out, err);
            break;
        case PLAN_RENAME_COLUMN:
            if (in_d1) {
                ok = buf_append_str(&b, "ALTER TABLE ", err) && d1_quote_ident(&b, t->name, err) &&
                     buf_append_str(&b, " RENAME COLUMN ", err) && d1_quote_ident(&b, s->column, err) &&
                     buf_append_str(&b, " TO ", err) && d1_quote_ident(&b, s->new_name, err);
                if (ok)
                    push_sql(out, &b);
            }
            if (ok && c >= 0) {
                free(t->cols[c].d1_name);
                free(t->cols[c].pg_name);
                t->cols[c].d1_name = xstrdup(s->new_name);
                t->cols[c].pg_name = xstrdup(s->col->name);
            }
            break;
        case PLAN_DROP_COLUMN:
            if (in_d1) {
                ok = buf_append_str(&b, "ALTER TABLE ", err) && d1_quote_ident(&b, t->name, err) &&
                     buf_append_str(&b, " DROP COLUMN ", err) && d1_quote_ident(&b, s->column, err);
                if (ok)
                    push_sql(out, &b);
            }
            if (ok && c >= 0)
                drop_column(t, (size_t)c);
            break;
        case PLAN_RESYNC:
        case PLAN_STOP:
            break; /* refused by check_plan */
        }
    }
    if (ok && out->count) {
        ok = buf_printf(&b, err, "-- wal2edge: %s: %s\n", t->source, what);
        for (size_t i = 0; ok && i < out->count; i++)
            ok = buf_printf(&b, err, "%s;\n", out->sql[i]);
        if (ok)
            out->migration = xstrdup(b.data);
    }
    buf_free(&b);
    if (!ok)
        d1_evolution_clear(out);
    return ok;
}

void d1_evolution_clear(D1Evolution *e)
{
    for (size_t i = 0; i < e->count; i++)
        free(e->sql[i]);
    free(e->sql);
    free(e->migration);
    memset(e, 0, sizeof *e);
}
