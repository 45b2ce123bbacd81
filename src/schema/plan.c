/*
 * schema/plan.c - see plan.h. Each diff op becomes at most one step; the
 * mapping's exclude and rename apply to the names of the new shape. A column
 * renamed away from an exclusion would start to reach D1, so that stops
 * instead of leaking it. Data that changed without row changes (a rewrite, a
 * recreated table, a new key, a default that is not a constant) asks for a
 * re-copy; the caller decides whether it can re-copy or must stop.
 */
#include "schema/plan.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "pipeline/keytemplate.h"

static PlanStep *push(SchemaPlan *p, PlanKind kind)
{
    p->steps = xrealloc(p->steps, (p->count + 1) * sizeof *p->steps);
    PlanStep *s = &p->steps[p->count++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

static void push_message(SchemaPlan *p, PlanKind kind, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void push_message(SchemaPlan *p, PlanKind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    push(p, kind)->message = xstrdup(text);
}

/* The stop of a mapping that says "on_schema_change": "stop". */
static void stop_by_policy(const Mapping *m, const SchemaDiff *d, const char *target, const char *way_back,
                           SchemaPlan *out)
{
    char *what = schema_diff_describe(d);
    push_message(out, PLAN_STOP,
                 "%s: %s changed (%s) and %s says \"on_schema_change\": \"stop\"; %s (or set \"evolve\" to "
                 "follow such changes)",
                 target, m->source, what, m->file, way_back);
    free(what);
}

static const char *const D1_WAY_BACK = "bring the D1 table to the new shape and copy it again with `wal2edge "
                                       "migrate`, then start `wal2edge run` again";

bool schema_default_constant(const char *expr, char **value)
{
    *value = NULL;
    if (!expr)
        return false;
    if (strcmp(expr, "NULL") == 0 || strncmp(expr, "NULL::", 6) == 0)
        return true;
    if (strcmp(expr, "true") == 0 || strcmp(expr, "false") == 0) {
        *value = xstrdup(expr[0] == 't' ? "t" : "f"); /* Postgres' text of a boolean */
        return true;
    }
    const char *p = expr;
    if (*p == '\'') {
        /* '...' with '' for a quote, then nothing or a cast */
        size_t cap = strlen(expr) + 1, n = 0;
        char *text = xmalloc(cap);
        for (p++; *p; p++) {
            if (*p == '\'' && p[1] == '\'') {
                text[n++] = '\'';
                p++;
            } else if (*p == '\'') {
                break;
            } else {
                text[n++] = *p;
            }
        }
        text[n] = '\0';
        bool closed = *p == '\'';
        p += closed;
        /* a cast to a type name: letters, digits, spaces, _ " . ( ) , [ ] */
        static const char type_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789 _\".(),[]";
        bool cast_ok = *p == '\0' || (strncmp(p, "::", 2) == 0 && p[2] && !p[2 + strspn(p + 2, type_chars)]);
        if (!closed || !cast_ok) {
            free(text);
            return false;
        }
        *value = text;
        return true;
    }
    /* a number: -?digits[.digits][e[+-]digits] */
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.' && isdigit((unsigned char)p[1]))
        for (p++; isdigit((unsigned char)*p);)
            p++;
    if (*p == 'e' || *p == 'E') {
        p += p[1] == '-' || p[1] == '+' ? 2 : 1;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    *value = xstrdup(expr);
    return true;
}

static void plan_d1_add(const Mapping *m, const ShapeCol *c, SchemaPlan *out)
{
    if (mapping_d1_excludes(m, c->name))
        return;
    char *value = NULL;
    bool constant = !c->default_expr || schema_default_constant(c->default_expr, &value);
    if (!constant) {
        push_message(out, PLAN_RESYNC,
                     "new column %s of %s has the default %s, which is not a constant: the rows already there got "
                     "values the stream did not carry",
                     c->name, m->source, c->default_expr);
        return;
    }
    PlanStep *s = push(out, PLAN_ADD_COLUMN);
    s->column = xstrdup(mapping_d1_column_name(m, c->name));
    s->col = c;
    s->type_override = mapping_d1_type_override(m, c->name);
    s->has_default = c->default_expr != NULL;
    s->default_value = value;
}

static void plan_d1_op(const Mapping *m, const SchemaOp *op, SchemaPlan *out)
{
    const char *t = m->source;
    switch (op->kind) {
    case SCHEMA_ADD_COLUMN:
        plan_d1_add(m, op->after, out);
        return;
    case SCHEMA_DROP_COLUMN:
        if (mapping_d1_excludes(m, op->before->name))
            return;
        if (op->before->pk) {
            push_message(out, PLAN_RESYNC, "column %s of %s was in the primary key", op->before->name, t);
            return;
        }
        push(out, PLAN_DROP_COLUMN)->column = xstrdup(mapping_d1_column_name(m, op->before->name));
        return;
    case SCHEMA_RENAME_COLUMN: {
        bool was = mapping_d1_excludes(m, op->before->name), is = mapping_d1_excludes(m, op->after->name);
        if (was && !is) {
            push_message(out, PLAN_STOP,
                         "d1: column %s of %s, which %s excludes, was renamed to %s and would now reach D1: add "
                         "\"%s\" to d1.exclude in %s, then start `wal2edge run` again",
                         op->before->name, t, m->file, op->after->name, op->after->name, m->file);
            return;
        }
        if (was)
            return;
        if (is) {
            push(out, PLAN_DROP_COLUMN)->column = xstrdup(mapping_d1_column_name(m, op->before->name));
            return;
        }
        const char *from = mapping_d1_column_name(m, op->before->name);
        const char *to = mapping_d1_column_name(m, op->after->name);
        if (strcmp(from, to) == 0)
            return;
        PlanStep *s = push(out, PLAN_RENAME_COLUMN);
        s->column = xstrdup(from);
        s->new_name = xstrdup(to);
        s->col = op->after;
        return;
    }
    case SCHEMA_RETYPE_COLUMN:
        /* without a rewrite the stored values did not change (a binary-coercible type): D1 keeps them */
        return;
    case SCHEMA_KEY_CHANGE:
        push_message(out, PLAN_RESYNC, "the primary key of %s changed", t);
        return;
    case SCHEMA_REWRITE:
        push_message(out, PLAN_RESYNC, "Postgres rewrote %s (a type change or a volatile default): its rows "
                                       "changed without row changes in the stream", t);
        return;
    case SCHEMA_RECREATED:
        push_message(out, PLAN_RESYNC, "%s was dropped and created again", t);
        return;
    case SCHEMA_AMBIGUOUS:
        push_message(out, PLAN_STOP,
                     "d1: %s lost column %s and gained column %s, and without the DDL capture trigger a rename cannot "
                     "be told from a drop and an add: install it (`wal2edge setup` as a superuser, "
                     "docs/schema-changes.md), then %s",
                     t, op->before->name, op->after->name, D1_WAY_BACK);
        return;
    }
}

void plan_d1(const Mapping *m, const SchemaDiff *d, SchemaPlan *out)
{
    memset(out, 0, sizeof *out);
    if (!d->count)
        return;
    if (m->on_schema_change == MAP_SCHEMA_STOP) {
        stop_by_policy(m, d, "d1", D1_WAY_BACK, out);
        return;
    }
    for (size_t i = 0; i < d->count; i++)
        plan_d1_op(m, &d->ops[i], out);
}

/* The op that takes `name` away (dropped, renamed, maybe renamed), or NULL. */
static const SchemaOp *taking_away(const SchemaDiff *d, const char *name)
{
    for (size_t i = 0; i < d->count; i++) {
        const SchemaOp *op = &d->ops[i];
        if ((op->kind == SCHEMA_DROP_COLUMN || op->kind == SCHEMA_RENAME_COLUMN || op->kind == SCHEMA_AMBIGUOUS) &&
            strcmp(op->before->name, name) == 0)
            return op;
    }
    return NULL;
}

/* A stop for each column of `text` (a key or value template) that the change takes away. */
static void check_template(const Mapping *m, size_t index, const char *what, const char *text, const SchemaDiff *d,
                           const Shape *after, SchemaPlan *out)
{
    Err err;
    KeyTemplate *kt = keytemplate_parse(text, &err);
    if (!kt)
        return; /* the mapping loader refused bad templates already */
    for (size_t i = 0; i < keytemplate_column_count(kt); i++) {
        const char *col = keytemplate_column(kt, i);
        const SchemaOp *op = taking_away(d, col);
        if (!op && (!after || shape_column(after, col)))
            continue;
        if (op && op->kind == SCHEMA_RENAME_COLUMN)
            push_message(out, PLAN_STOP,
                         "kv[%zu] of %s: the %s template \"%s\" names column %s, which %s renamed to %s: write "
                         "{%s} in the template, then `wal2edge warm --mapping %s` rebuilds the keys and `wal2edge "
                         "run` goes on",
                         index, m->file, what, text, col, m->source, op->after->name, op->after->name, m->source);
        else
            push_message(out, PLAN_STOP,
                         "kv[%zu] of %s: the %s template \"%s\" names column %s, which %s no longer has%s: change "
                         "the template, then `wal2edge warm --mapping %s` rebuilds the keys and `wal2edge run` goes on",
                         index, m->file, what, text, col, m->source,
                         op && op->kind == SCHEMA_DROP_COLUMN ? "" : " (dropped or renamed)", m->source);
        break;
    }
    keytemplate_free(kt);
}

void plan_kv(const Mapping *m, const SchemaDiff *d, const Shape *after, SchemaPlan *out)
{
    memset(out, 0, sizeof *out);
    if (!m->kv_count)
        return;
    if (d->count && m->on_schema_change == MAP_SCHEMA_STOP) {
        char way_back[256];
        snprintf(way_back, sizeof way_back, "rebuild the keys with `wal2edge warm --mapping %s`", m->source);
        stop_by_policy(m, d, "kv", way_back, out);
        return;
    }
    for (size_t i = 0; i < m->kv_count; i++) {
        check_template(m, i, "key", m->kv[i].key, d, after, out);
        if (m->kv[i].value && strcmp(m->kv[i].value, "row") != 0)
            check_template(m, i, "value", m->kv[i].value, d, after, out);
    }
}

void schema_plan_free(SchemaPlan *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->steps[i].column);
        free(p->steps[i].new_name);
        free(p->steps[i].default_value);
        free(p->steps[i].message);
    }
    free(p->steps);
    memset(p, 0, sizeof *p);
}

const PlanStep *schema_plan_blocker(const SchemaPlan *p)
{
    for (size_t i = 0; i < p->count; i++)
        if (p->steps[i].kind == PLAN_STOP || p->steps[i].kind == PLAN_RESYNC)
            return &p->steps[i];
    return NULL;
}
