/*
 * targets/d1_remote_follow.c - see d1_remote_follow.h. D1's state is read with
 * the target's opening request (whether _wal2edge_schema exists, every mapped
 * table's columns), the kept shapes at the first change that needs them; after that
 * every answer comes from memory, which each statement handed out updates: an
 * ADD, RENAME or DROP COLUMN of a plan changes the columns, a shape upsert the
 * shapes.
 */
#include "targets/d1_remote_follow.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct Named {
    char *name;
    char **cols;               /* columns: the D1 table's; shapes: NULL */
    size_t ncols;
    char *json;                /* shapes: the stored shape */
} Named;

struct D1RemoteFollow {
    D1FollowStore store;
    D1RemoteQueryFn query;
    void *user;
    char **tables;             /* the mapped D1 tables */
    size_t table_count;
    char ***schema_cols;       /* each table's columns as the schema makes them */
    size_t *schema_ncols;
    bool opened;               /* the columns and whether the shape table exists are known */
    bool loaded;               /* and the kept shapes */
    bool shape_table;
    Named *cols;               /* one per D1 table */
    size_t ncols;
    Named *shapes;             /* one per source table with a kept shape */
    size_t nshapes;
    D1StmtList out;            /* statements not taken yet */
};

static void named_free(Named *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        for (size_t k = 0; k < v[i].ncols; k++)
            free(v[i].cols[k]);
        free(v[i].cols);
        free(v[i].json);
    }
    free(v);
}

static Named *named_find(Named *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static Named *named_add(Named **v, size_t *n, const char *name)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    Named *x = &(*v)[(*n)++];
    *x = (Named){.name = xstrdup(name)};
    return x;
}

static void push(D1RemoteFollow *f, const char *sql, const char *p1, const char *p2)
{
    f->out.items = xrealloc(f->out.items, (f->out.count + 1) * sizeof *f->out.items);
    D1Stmt *s = &f->out.items[f->out.count++];
    *s = (D1Stmt){.sql = xstrdup(sql)};
    if (p1) {
        s->params = xcalloc(2, sizeof *s->params);
        s->param_count = 2;
        s->params[0] = (D1Value){.kind = D1V_TEXT, .data = xstrdup(p1), .len = strlen(p1)};
        s->params[1] = (D1Value){.kind = D1V_TEXT, .data = xstrdup(p2), .len = strlen(p2)};
    }
}

static const char *row_text(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

size_t d1_remote_follow_reads(const D1RemoteFollow *f, CfD1Stmt *out)
{
    if (out) {
        out[0] = (CfD1Stmt){.sql = "SELECT name FROM sqlite_master WHERE name = '" D1_SCHEMA_TABLE "'"};
        for (size_t i = 0; i < f->table_count; i++)
            out[1 + i] = (CfD1Stmt){.sql = "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                                    .params = (const char *const *)&f->tables[i], .param_count = 1};
    }
    return 1 + f->table_count;
}

void d1_remote_follow_read(D1RemoteFollow *f, const CfD1StmtResult *res)
{
    d1_remote_follow_forget(f);
    for (size_t i = 0; i < f->table_count; i++) {
        Named *t = named_add(&f->cols, &f->ncols, f->tables[i]);
        const json_t *rows = res[1 + i].rows;
        for (size_t r = 0; r < json_array_size(rows); r++) {
            const char *c = row_text(json_array_get(rows, r), "name");
            if (!c)
                continue;
            t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof *t->cols);
            t->cols[t->ncols++] = xstrdup(c);
        }
        if (t->ncols == 0) /* D1 made the table just now: it has the schema's columns */
            for (size_t k = 0; k < f->schema_ncols[i]; k++) {
                t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof *t->cols);
                t->cols[t->ncols++] = xstrdup(f->schema_cols[i][k]);
            }
    }
    const json_t *row = json_array_get(res[0].rows, 0);
    f->shape_table = row && row_text(row, "name") && strcmp(row_text(row, "name"), D1_SCHEMA_TABLE) == 0;
    f->opened = true;
    f->loaded = !f->shape_table; /* the kept shapes are read when first needed */
}

/* Read what D1 has: whether the shape table exists, each table's columns, the kept shapes. */
static bool load(D1RemoteFollow *f, Err *err)
{
    if (f->loaded)
        return true;
    bool ok = true;
    if (!f->opened) {
        size_t n = d1_remote_follow_reads(f, NULL);
        CfD1Stmt *st = xcalloc(n, sizeof *st);
        d1_remote_follow_reads(f, st);
        CfD1Result res = {0};
        ok = f->query(f->user, st, n, &res, err);
        if (ok && res.count != n)
            ok = err_set(err, ERR_PROTOCOL, "d1: %zu results for %zu statements", res.count, n);
        if (ok)
            d1_remote_follow_read(f, res.stmts);
        cf_d1_result_free(&res);
        free(st);
    }
    if (ok && !f->loaded) {
        CfD1Stmt q = {.sql = "SELECT source, shape FROM \"" D1_SCHEMA_TABLE "\""};
        CfD1Result r = {0};
        ok = f->query(f->user, &q, 1, &r, err);
        for (size_t i = 0; ok && r.count == 1 && i < json_array_size(r.stmts[0].rows); i++) {
            const json_t *row = json_array_get(r.stmts[0].rows, i);
            if (row_text(row, "source") && row_text(row, "shape"))
                named_add(&f->shapes, &f->nshapes, row_text(row, "source"))->json = xstrdup(row_text(row, "shape"));
        }
        cf_d1_result_free(&r);
    }
    if (!ok) {
        err_prefix(err, "reading the D1 database's columns and kept shapes");
        d1_remote_follow_forget(f);
        return false;
    }
    f->loaded = true;
    return true;
}

static bool rf_init(void *ctx, Err *err)
{
    D1RemoteFollow *f = ctx;
    if (!load(f, err))
        return false;
    if (!f->shape_table)
        push(f,
             "CREATE TABLE IF NOT EXISTS \"" D1_SCHEMA_TABLE "\" (\"source\" TEXT NOT NULL PRIMARY KEY, "
             "\"shape\" TEXT NOT NULL)",
             NULL, NULL);
    f->shape_table = true;
    return true;
}

static bool rf_has_shape_table(void *ctx)
{
    D1RemoteFollow *f = ctx;
    Err err;
    return load(f, &err) && f->shape_table;
}

static char *rf_stored_shape(void *ctx, const char *source, bool *failed, Err *err)
{
    D1RemoteFollow *f = ctx;
    *failed = !load(f, err);
    const Named *s = *failed ? NULL : named_find(f->shapes, f->nshapes, source);
    return s ? xstrdup(s->json) : NULL;
}

static bool rf_store_shape(void *ctx, const char *source, const char *json, Err *err)
{
    D1RemoteFollow *f = ctx;
    (void)err;
    Named *s = named_find(f->shapes, f->nshapes, source);
    if (!s)
        s = named_add(&f->shapes, &f->nshapes, source);
    free(s->json);
    s->json = xstrdup(json);
    push(f, "INSERT OR REPLACE INTO \"" D1_SCHEMA_TABLE "\" (source, shape) VALUES (?1, ?2)", source, json);
    return true;
}

static bool rf_columns(void *ctx, const char *table, char ***names, size_t *n, Err *err)
{
    D1RemoteFollow *f = ctx;
    *names = NULL;
    *n = 0;
    if (!load(f, err))
        return false;
    const Named *t = named_find(f->cols, f->ncols, table);
    for (size_t i = 0; t && i < t->ncols; i++) {
        *names = xrealloc(*names, (*n + 1) * sizeof **names);
        (*names)[(*n)++] = xstrdup(t->cols[i]);
    }
    return true;
}

static bool rf_exec(void *ctx, const char *sql, Err *err)
{
    (void)err;
    push(ctx, sql, NULL, NULL);
    return true;
}

static long col_index(const Named *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], name) == 0)
            return (long)i;
    return -1;
}

/* The columns after the plan's statements (d1/evolve skips a step whose effect is there already). */
static void rf_evolved(void *ctx, const char *table, const SchemaPlan *plan)
{
    D1RemoteFollow *f = ctx;
    Named *t = named_find(f->cols, f->ncols, table);
    if (!t)
        t = named_add(&f->cols, &f->ncols, table);
    for (size_t i = 0; i < plan->count; i++) {
        const PlanStep *s = &plan->steps[i];
        long c = col_index(t, s->column);
        if (s->kind == PLAN_ADD_COLUMN && c < 0) {
            t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof *t->cols);
            t->cols[t->ncols++] = xstrdup(s->column);
        } else if (s->kind == PLAN_RENAME_COLUMN && c >= 0) {
            free(t->cols[c]);
            t->cols[c] = xstrdup(s->new_name);
        } else if (s->kind == PLAN_DROP_COLUMN && c >= 0) {
            free(t->cols[c]);
            memmove(&t->cols[c], &t->cols[c + 1], (t->ncols - (size_t)c - 1) * sizeof *t->cols);
            t->ncols--;
        }
    }
}

/* The columns after a rebuild: the new table's. */
static void rf_rebuilt(void *ctx, const D1Table *t)
{
    D1RemoteFollow *f = ctx;
    Named *n = named_find(f->cols, f->ncols, t->name);
    if (!n)
        n = named_add(&f->cols, &f->ncols, t->name);
    for (size_t i = 0; i < n->ncols; i++)
        free(n->cols[i]);
    free(n->cols);
    n->cols = xcalloc(t->col_count + 1, sizeof *n->cols);
    n->ncols = t->col_count;
    for (size_t i = 0; i < t->col_count; i++)
        n->cols[i] = xstrdup(t->cols[i].d1_name);
}

D1RemoteFollow *d1_remote_follow_new(const D1Schema *schema, D1RemoteQueryFn query, void *user)
{
    D1RemoteFollow *f = xcalloc(1, sizeof *f);
    f->query = query;
    f->user = user;
    f->table_count = schema->table_count;
    f->tables = xcalloc(f->table_count + 1, sizeof *f->tables);
    f->schema_cols = xcalloc(f->table_count + 1, sizeof *f->schema_cols);
    f->schema_ncols = xcalloc(f->table_count + 1, sizeof *f->schema_ncols);
    for (size_t i = 0; i < schema->table_count; i++) {
        const D1Table *t = &schema->tables[i];
        f->tables[i] = xstrdup(t->name);
        f->schema_cols[i] = xcalloc(t->col_count + 1, sizeof **f->schema_cols);
        f->schema_ncols[i] = t->col_count;
        for (size_t k = 0; k < t->col_count; k++)
            f->schema_cols[i][k] = xstrdup(t->cols[k].d1_name);
    }
    f->store = (D1FollowStore){.ctx = f, .init = rf_init, .has_shape_table = rf_has_shape_table,
                               .stored_shape = rf_stored_shape, .store_shape = rf_store_shape,
                               .columns = rf_columns, .exec = rf_exec, .evolved = rf_evolved,
                               .rebuilt = rf_rebuilt};
    return f;
}

const D1FollowStore *d1_remote_follow_store(D1RemoteFollow *f)
{
    return &f->store;
}

void d1_remote_follow_take(D1RemoteFollow *f, D1StmtList *out)
{
    if (f->out.count > 0) { /* (memcpy from NULL is undefined even for 0 bytes) */
        out->items = xrealloc(out->items, (out->count + f->out.count + 1) * sizeof *out->items);
        memcpy(out->items + out->count, f->out.items, f->out.count * sizeof *f->out.items);
        out->count += f->out.count;
    }
    free(f->out.items);
    f->out = (D1StmtList){0};
}

void d1_remote_follow_forget(D1RemoteFollow *f)
{
    named_free(f->cols, f->ncols);
    named_free(f->shapes, f->nshapes);
    f->cols = f->shapes = NULL;
    f->ncols = f->nshapes = 0;
    f->opened = f->loaded = f->shape_table = false;
    d1_stmt_list_clear(&f->out);
}

void d1_remote_follow_free(D1RemoteFollow *f)
{
    if (!f)
        return;
    d1_remote_follow_forget(f);
    for (size_t i = 0; i < f->table_count; i++) {
        free(f->tables[i]);
        for (size_t k = 0; k < f->schema_ncols[i]; k++)
            free(f->schema_cols[i][k]);
        free(f->schema_cols[i]);
    }
    free(f->tables);
    free(f->schema_cols);
    free(f->schema_ncols);
    free(f);
}
