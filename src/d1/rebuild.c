/*
 * d1/rebuild.c - see rebuild.h. The new D1Table is made beside the old one
 * (columns from the new shape through the mapping's exclude, rename and types;
 * the key from the mapping's primary_key or the shape's; the old indexes whose
 * columns are all still there), its CREATE TABLE is d1/ddl's under a temporary
 * name, and only once every statement is written does it replace the old one.
 * A value that may no longer be NULL is coalesced to a placeholder; the re-copy
 * that follows writes every row's real values.
 */
#include "d1/rebuild.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "d1/ddl.h"
#include "schema/plan.h"

#define REBUILD_SQL_MAX (4 << 20)

static const char *WAY_BACK = "then copy it with `wal2edge migrate` (drop the D1 table first) and start `wal2edge run` "
                              "again";

/* The column of `before` that a is (by attnum in the same table, else by name), or NULL. */
static const ShapeCol *before_of(const Shape *before, const Shape *after, const ShapeCol *a)
{
    if (!before)
        return NULL;
    if (before->exact && after->exact && before->oid == after->oid && a->attnum > 0) {
        for (size_t i = 0; i < before->ncols; i++)
            if (before->cols[i].attnum == a->attnum)
                return &before->cols[i];
        return NULL;
    }
    return shape_column(before, a->name);
}

static long col_by(const D1Table *t, const char *name, bool d1)
{
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(d1 ? t->cols[i].d1_name : t->cols[i].pg_name, name) == 0)
            return (long)i;
    return -1;
}

static bool new_columns(const D1Table *t, const Shape *after, D1Table *n, Err *err)
{
    const Mapping *m = t->mapping;
    n->cols = xcalloc(after->ncols + 1, sizeof *n->cols);
    for (size_t i = 0; i < after->ncols; i++) {
        const ShapeCol *a = &after->cols[i];
        if (m && mapping_d1_excludes(m, a->name))
            continue;
        Err sub;
        D1Type *ty = d1_type_resolve(NULL, a->type_oid, m ? mapping_d1_type_override(m, a->name) : NULL, &sub);
        if (!ty)
            return err_set(err, ERR_CHECK,
                           "d1: column %s of %s is now of type %s, which has no D1 equivalent (%s): add \"types\": "
                           "{\"%s\": \"TEXT\"} to the d1 section of %s, %s",
                           a->name, t->source, a->type ? a->type : "?", sub.msg, a->name,
                           m ? m->file : "its mapping", WAY_BACK);
        D1Column *c = &n->cols[n->col_count++];
        c->pg_name = xstrdup(a->name);
        c->d1_name = xstrdup(m ? mapping_d1_column_name(m, a->name) : a->name);
        c->type = ty;
        c->pg_type = xstrdup(a->type ? a->type : ty->pg_name);
        c->typmod = a->typmod;
        c->not_null = a->not_null;
        size_t max = d1_type_max_bytes(ty, a->typmod);
        if (max && n->max_row_bytes != SIZE_MAX) /* 0: unbounded */
            n->max_row_bytes = n->max_row_bytes + max < max ? SIZE_MAX : n->max_row_bytes + max;
    }
    if (!n->col_count)
        return err_set(err, ERR_CHECK, "d1: no column of %s is left for D1; %s", t->source, WAY_BACK);
    return true;
}

static bool new_key(const D1Table *t, const Shape *after, D1Table *n, Err *err)
{
    const Mapping *m = t->mapping;
    n->key = xcalloc(n->col_count + 1, sizeof *n->key);
    if (m && m->d1.primary_key_count) {
        for (size_t i = 0; i < m->d1.primary_key_count; i++) {
            long c = col_by(n, m->d1.primary_key[i].name, false);
            if (c < 0)
                return err_set(err, ERR_CHECK,
                               "d1: column %s of d1.primary_key in %s is no longer a column of %s that reaches D1: "
                               "fix d1.primary_key, %s",
                               m->d1.primary_key[i].name, m->file, t->source, WAY_BACK);
            n->key[n->key_count++] = (size_t)c;
        }
        n->key_origin = xstrdup("mapping primary_key");
    } else {
        for (size_t i = 0; i < after->ncols; i++) {
            if (!after->cols[i].pk)
                continue;
            long c = col_by(n, after->cols[i].name, false);
            if (c < 0)
                return err_set(err, ERR_CHECK, "d1: primary key column %s of %s is excluded from D1: %s",
                               after->cols[i].name, t->source, WAY_BACK);
            n->key[n->key_count++] = (size_t)c;
        }
        n->key_origin = xstrdup("primary key");
    }
    if (!n->key_count)
        return err_set(err, ERR_CHECK,
                       "d1: %s has no primary key in its new shape, and D1 needs one to apply updates and deletes: "
                       "add a primary key (or name the key in d1.primary_key of %s), %s",
                       t->source, m ? m->file : "its mapping", WAY_BACK);
    for (size_t k = 0; k < n->key_count; k++)
        n->cols[n->key[k]].is_key = true;
    return true;
}

/* The old indexes whose columns are all still there; the shard columns. */
static bool new_indexes(const D1Table *t, D1Table *n, Err *err)
{
    n->indexes = xcalloc(t->index_count + 1, sizeof *n->indexes);
    for (size_t x = 0; x < t->index_count; x++) {
        const D1Index *ix = &t->indexes[x];
        size_t *cols = xcalloc(ix->col_count + 1, sizeof *cols);
        bool all = true;
        for (size_t k = 0; k < ix->col_count && all; k++) {
            long c = col_by(n, t->cols[ix->cols[k]].d1_name, true);
            all = c >= 0;
            cols[k] = all ? (size_t)c : 0;
        }
        if (!all) {
            free(cols);
            continue;
        }
        n->indexes[n->index_count++] = (D1Index){xstrdup(ix->name), ix->unique, cols, ix->col_count};
    }
    n->shard = t->shard;
    n->shard_count = t->shard_count;
    n->shard_cols = xcalloc(t->shard_col_count + 1, sizeof *n->shard_cols);
    for (size_t k = 0; k < t->shard_col_count; k++) {
        long c = col_by(n, t->cols[t->shard_cols[k]].pg_name, false);
        if (c < 0)
            return err_set(err, ERR_CHECK, "d1: shard column %s of %s is gone from its new shape: fix shard_by, %s",
                           t->cols[t->shard_cols[k]].pg_name, t->source, WAY_BACK);
        n->shard_cols[n->shard_col_count++] = (size_t)c;
    }
    return true;
}

static const char *placeholder(D1Affinity a)
{
    return a == D1_TEXT ? "''" : a == D1_BLOB ? "X''" : "0";
}

/* The value column c of the new table takes from a row of the old one. */
static bool column_value(const D1Table *t, const Shape *before, const Shape *after, const D1Column *c, Buf *b,
                         Err *err)
{
    const ShapeCol *a = shape_column(after, c->pg_name);
    const ShapeCol *was = a ? before_of(before, after, a) : NULL;
    long old = was ? col_by(t, was->name, false) : -1;
    const char *aff = d1_affinity_name(c->type->affinity);
    bool ok = !c->not_null || buf_append_str(b, "COALESCE(", err);
    if (ok && old >= 0 && t->cols[old].type->affinity == c->type->affinity) {
        ok = d1_quote_ident(b, t->cols[old].d1_name, err);
    } else if (ok && old >= 0) {
        ok = buf_append_str(b, "CAST(", err) && d1_quote_ident(b, t->cols[old].d1_name, err) &&
             buf_printf(b, err, " AS %s)", aff);
    } else if (ok) {
        char *value = NULL;
        bool constant = a && a->default_expr && schema_default_constant(a->default_expr, &value) && value;
        D1Value v = {0};
        if (constant && d1_value_from_text(c->type, value, strlen(value), &v, err))
            ok = d1_sql_literal(b, &v, err);
        else
            ok = buf_append_str(b, "NULL", err);
        d1_value_clear(&v);
        free(value);
    }
    if (ok && c->not_null)
        ok = buf_printf(b, err, ", %s)", placeholder(c->type->affinity));
    return ok;
}

static void push(D1Evolution *e, const char *sql, size_t len)
{
    e->sql = xrealloc(e->sql, (e->count + 1) * sizeof *e->sql);
    char *s = xmalloc(len + 1);
    memcpy(s, sql, len);
    s[len] = '\0';
    e->sql[e->count++] = s;
}

static bool statements(const D1Table *t, const Shape *before, const Shape *after, bool old_exists, D1Table *n,
                       D1Evolution *out, Err *err)
{
    char *tmp = xasprintf("_wal2edge_rebuild_%s", t->name);
    Buf b;
    buf_init(&b, REBUILD_SQL_MAX);
    bool ok = buf_append_str(&b, "DROP TABLE IF EXISTS ", err) && d1_quote_ident(&b, tmp, err);
    if (ok)
        push(out, b.data, b.len);
    /* the new table under its temporary name: its CREATE TABLE first, its indexes once the old ones are gone */
    D1Table shadow = *n;
    shadow.name = tmp;
    char *ddl = d1_ddl_table(&shadow);
    const char *p = ddl;
    const char *end;
    size_t nddl = 0;
    char **ddls = NULL;
    while (ok && (end = strstr(p, ";\n")) != NULL) {
        ddls = xrealloc(ddls, (nddl + 1) * sizeof *ddls);
        ddls[nddl] = xmalloc((size_t)(end - p) + 1);
        memcpy(ddls[nddl], p, (size_t)(end - p));
        ddls[nddl++][end - p] = '\0';
        p = end + 2;
    }
    if (ok && nddl)
        push(out, ddls[0], strlen(ddls[0]));
    buf_reset(&b);
    ok = ok && nddl;
    if (!old_exists)
        goto indexes;
    ok = ok && buf_append_str(&b, "INSERT OR REPLACE INTO ", err) && d1_quote_ident(&b, tmp, err) &&
         buf_append_str(&b, " (", err);
    for (size_t i = 0; ok && i < n->col_count; i++)
        ok = (i == 0 || buf_append_str(&b, ", ", err)) && d1_quote_ident(&b, n->cols[i].d1_name, err);
    ok = ok && buf_append_str(&b, ") SELECT ", err);
    for (size_t i = 0; ok && i < n->col_count; i++)
        ok = (i == 0 || buf_append_str(&b, ", ", err)) && column_value(t, before, after, &n->cols[i], &b, err);
    ok = ok && buf_append_str(&b, " FROM ", err) && d1_quote_ident(&b, t->name, err);
    if (ok)
        push(out, b.data, b.len);
    buf_reset(&b);
    ok = ok && buf_append_str(&b, "DROP TABLE ", err) && d1_quote_ident(&b, t->name, err);
    if (ok)
        push(out, b.data, b.len);
indexes:
    for (size_t i = 1; ok && i < nddl; i++)
        push(out, ddls[i], strlen(ddls[i]));
    buf_reset(&b);
    ok = ok && buf_append_str(&b, "ALTER TABLE ", err) && d1_quote_ident(&b, tmp, err) &&
         buf_append_str(&b, " RENAME TO ", err) && d1_quote_ident(&b, t->name, err);
    if (ok)
        push(out, b.data, b.len);
    for (size_t i = 0; i < nddl; i++)
        free(ddls[i]);
    free(ddls);
    free(ddl);
    buf_free(&b);
    free(tmp);
    return ok;
}

bool d1_rebuild(D1Table *t, const Shape *before, const Shape *after, const char *what, bool old_exists,
                D1Evolution *out, Err *err)
{
    memset(out, 0, sizeof *out);
    D1Table n;
    memset(&n, 0, sizeof n);
    n.database = xstrdup(t->database);
    n.name = xstrdup(t->name);
    n.source = xstrdup(t->source);
    n.mapping = t->mapping;
    bool ok = new_columns(t, after, &n, err) && new_key(t, after, &n, err) && new_indexes(t, &n, err) &&
              statements(t, before, after, old_exists, &n, out, err);
    Buf b;
    buf_init(&b, REBUILD_SQL_MAX);
    ok = ok && buf_printf(&b, err, "-- wal2edge: %s: %s (the table rebuilt in its new shape; `wal2edge run` then "
                                   "copies its rows again)\n",
                          t->source, what);
    for (size_t i = 0; ok && i < out->count; i++)
        ok = buf_printf(&b, err, "%s;\n", out->sql[i]);
    if (ok)
        out->migration = buf_take(&b);
    buf_free(&b);
    if (!ok) {
        d1_evolution_clear(out);
        d1_table_clear(&n);
        return false;
    }
    n.rel_signature = 0;
    d1_table_clear(t);
    *t = n;
    return true;
}
