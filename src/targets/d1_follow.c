/*
 * targets/d1_follow.c - see d1_follow.h. The shape before the change is the
 * stored one; with none stored yet (the first change since the trigger was
 * installed), it is read from the D1 table itself - its column names mapped
 * back to Postgres names - which is inexact, so the diff goes by name and a
 * drop together with an add stops instead of guessing a rename. Each statement
 * is checked against the table's columns first, so a change replayed after a
 * crash of the D1 file's transaction is applied once.
 */
#include "targets/d1_follow.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "d1/evolve.h"
#include "d1/migrations.h"
#include "pg/ddlmsg.h"
#include "schema/diff.h"
#include "schema/plan.h"
#include "schema/shape.h"

static bool follow_init(Sqlite *db, Err *err)
{
    return sqlite_exec(db,
                       "CREATE TABLE IF NOT EXISTS \"" D1_SCHEMA_TABLE "\" (\"source\" TEXT NOT NULL PRIMARY KEY, "
                       "\"shape\" TEXT NOT NULL)",
                       err);
}

typedef struct ColumnProbe {
    Sqlite *db;
    const char *table;
} ColumnProbe;

static bool has_column(void *ctx, const char *d1_name)
{
    ColumnProbe *p = ctx;
    Err err;
    SqliteStmt *st = sqlite_prepare(p->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", &err);
    bool found = st && sqlite_bind_text(st, 1, p->table, strlen(p->table), &err) &&
                 sqlite_bind_text(st, 2, d1_name, strlen(d1_name), &err) && sqlite_step(st, &err) == 1;
    sqlite_finalize(st);
    return found;
}

/* The Postgres name of D1 column d1_name of t: its column, else the mapping's rename read backwards. */
static const char *pg_name_of(const D1Table *t, const char *d1_name)
{
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(t->cols[i].d1_name, d1_name) == 0)
            return t->cols[i].pg_name;
    for (size_t i = 0; t->mapping && i < t->mapping->d1.rename_count; i++)
        if (strcmp(t->mapping->d1.rename[i].value, d1_name) == 0)
            return t->mapping->d1.rename[i].key;
    return d1_name;
}

/* The shape the D1 table has now, by name (inexact): columns `after` also has are taken from it. */
static Shape *shape_of_d1(Sqlite *db, const D1Table *t, const Shape *after, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", err);
    if (!st || !sqlite_bind_text(st, 1, t->name, strlen(t->name), err)) {
        sqlite_finalize(st);
        return NULL;
    }
    Shape *s = xcalloc(1, sizeof *s);
    s->oid = after->oid;
    s->qualname = xstrdup(after->qualname);
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        const char *pg = pg_name_of(t, sqlite_column_text(st, 0, NULL));
        const ShapeCol *same = shape_column(after, pg);
        s->cols = xrealloc(s->cols, (s->ncols + 1) * sizeof *s->cols);
        ShapeCol *c = &s->cols[s->ncols++];
        *c = same ? *same : (ShapeCol){0, NULL, NULL, 0, -1, false, NULL, false};
        c->name = xstrdup(pg);
        c->type = same && same->type ? xstrdup(same->type) : NULL;
        c->default_expr = same && same->default_expr ? xstrdup(same->default_expr) : NULL;
    }
    sqlite_finalize(st);
    if (rc < 0) {
        shape_free(s);
        return NULL;
    }
    return s;
}

static bool has_shape_table(Sqlite *db)
{
    Err err;
    SqliteStmt *st = sqlite_prepare(db, "SELECT 1 FROM sqlite_master WHERE name = '" D1_SCHEMA_TABLE "'", &err);
    bool found = st && sqlite_step(st, &err) == 1;
    sqlite_finalize(st);
    return found;
}

/* The stored shape of source, or NULL (*err set only on a failure). */
static Shape *stored_shape(Sqlite *db, const char *source, bool *failed, Err *err)
{
    *failed = false;
    SqliteStmt *st = sqlite_prepare(db, "SELECT shape FROM \"" D1_SCHEMA_TABLE "\" WHERE source = ?1", err);
    int rc = st && sqlite_bind_text(st, 1, source, strlen(source), err) ? sqlite_step(st, err) : -1;
    Shape *s = rc == 1 ? shape_from_json(sqlite_column_text(st, 0, NULL), err) : NULL;
    sqlite_finalize(st);
    *failed = rc < 0 || (rc == 1 && !s);
    return s;
}

static bool store_shape(Sqlite *db, const Shape *s, Err *err)
{
    char *json = shape_to_json(s);
    SqliteStmt *st =
        sqlite_prepare(db, "INSERT OR REPLACE INTO \"" D1_SCHEMA_TABLE "\" (source, shape) VALUES (?1, ?2)", err);
    bool ok = st && sqlite_bind_text(st, 1, s->qualname, strlen(s->qualname), err) &&
              sqlite_bind_text(st, 2, json, strlen(json), err) && sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    free(json);
    return ok;
}

static D1Table *mapped_table(D1Schema *schema, const char *source)
{
    for (size_t i = 0; i < schema->table_count; i++)
        if (strcmp(schema->tables[i].source, source) == 0)
            return &schema->tables[i];
    return NULL;
}

/* Diff, plan and carry out the change from `before` to `after` on t. */
static bool follow(Sqlite *db, D1Table *t, const char *target, const char *migrations_dir, const Shape *before,
                   const Shape *after, bool rewritten, Err *err)
{
    SchemaDiff diff;
    schema_diff(before, after, rewritten, &diff);
    SchemaPlan plan;
    plan_d1(t->mapping, &diff, &plan);
    char *what = schema_diff_describe(&diff);
    ColumnProbe probe = {db, t->name};
    D1Evolution ev;
    bool ok = d1_evolve(t, &plan, what, has_column, &probe, &ev, err);
    for (size_t i = 0; ok && i < ev.count; i++)
        ok = sqlite_exec(db, ev.sql[i], err);
    if (ok && ev.count)
        log_info(NULL, "%s: %s: %s (D1 table \"%s\")", target, t->source, what, t->name);
    char *path = NULL;
    if (ok && ev.migration && migrations_dir) {
        char *name = xasprintf("wal2edge_%s", t->name);
        ok = d1_migration_append(migrations_dir, name, ev.migration, &path, err);
        free(name);
        if (ok)
            log_info(NULL, "%s: wrote migration %s", target, path);
        free(path);
    }
    d1_evolution_clear(&ev);
    free(what);
    schema_plan_free(&plan);
    schema_diff_free(&diff);
    return ok;
}

/* FNV-1a over the Relation's column names and types: changes when its columns do. */
static uint64_t rel_signature(const Rel *rel)
{
    uint64_t h = 1469598103934665603ULL ^ rel->oid;
    for (uint16_t i = 0; i < rel->ncols; i++) {
        for (const char *p = rel->cols[i].name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ rel->cols[i].type_oid ^ ((uint64_t)(uint32_t)rel->cols[i].typmod << 32)) * 1099511628211ULL;
    }
    return h;
}

bool d1_follow_relation(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                        const Rel *rel, Err *err)
{
    D1Table *t = mapped_table(schema, rel->qualname);
    uint64_t sig = rel_signature(rel);
    if (!t || t->rel_signature == sig)
        return true;
    Shape *after = shape_from_rel(rel);
    bool failed = false;
    /* read only: the shape table is made by the first DDL capture message */
    Shape *before = has_shape_table(db) ? stored_shape(db, rel->qualname, &failed, err) : NULL;
    if (!before && !failed)
        before = shape_of_d1(db, t, after, err);
    bool ok = before != NULL;
    if (ok) {
        before->oid = after->oid; /* a new OID is the source watch's to report */
        for (size_t i = 0; i < after->ncols; i++)
            if (!shape_column(before, after->cols[i].name) && !mapping_d1_excludes(t->mapping, after->cols[i].name))
                log_warn(NULL,
                         "%s: %s gained column %s, seen from its Relation message only (the DDL capture trigger is "
                         "not installed): rows already in D1 get NULL there even if Postgres gave them a default; "
                         "install the trigger (`wal2edge setup`) and copy the table again with `wal2edge migrate` "
                         "if it has one",
                         target, rel->qualname, after->cols[i].name);
        ok = follow(db, t, target, migrations_dir, before, after, false, err);
    }
    if (ok)
        t->rel_signature = sig;
    shape_free(before);
    shape_free(after);
    return ok;
}

bool d1_follow_message(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                       const Change *c, uint32_t *rewritten, Err *err)
{
    DdlMsg m;
    bool is_ddl;
    if (!shape_ddl_message(c, target, &m, &is_ddl, err) || !is_ddl)
        return !is_ddl;
    bool ok = true;
    D1Table *t = mapped_table(schema, m.qualname);
    if (m.event == DDL_EVENT_TABLE_REWRITE) {
        *rewritten = m.oid;
    } else if (m.event == DDL_EVENT_COMMAND_END && t) {
        Shape *after = shape_from_ddl(&m);
        bool failed = !follow_init(db, err);
        Shape *before = failed ? NULL : stored_shape(db, m.qualname, &failed, err);
        if (!before && !failed)
            before = shape_of_d1(db, t, after, err);
        ok = before && follow(db, t, target, migrations_dir, before, after, *rewritten == m.oid, err) &&
             store_shape(db, after, err);
        *rewritten = 0;
        shape_free(before);
        shape_free(after);
    }
    ddlmsg_free(&m);
    return ok;
}
