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

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "d1/evolve.h"
#include "d1/migrations.h"
#include "d1/rebuild.h"
#include "pg/resync_key.h"
#include "pg/ddlmsg.h"
#include "schema/diff.h"
#include "schema/plan.h"
#include "schema/shape.h"

/* --- the embedded file's store: the shape table and the columns, read and written in its transaction --- */

static bool sq_init(void *ctx, Err *err)
{
    return sqlite_exec(ctx,
                       "CREATE TABLE IF NOT EXISTS \"" D1_SCHEMA_TABLE "\" (\"source\" TEXT NOT NULL PRIMARY KEY, "
                       "\"shape\" TEXT NOT NULL)",
                       err);
}

static bool sq_has_shape_table(void *ctx)
{
    Err err;
    SqliteStmt *st = sqlite_prepare(ctx, "SELECT 1 FROM sqlite_master WHERE name = '" D1_SCHEMA_TABLE "'", &err);
    bool found = st && sqlite_step(st, &err) == 1;
    sqlite_finalize(st);
    return found;
}

static char *sq_stored_shape(void *ctx, const char *source, bool *failed, Err *err)
{
    SqliteStmt *st = sqlite_prepare(ctx, "SELECT shape FROM \"" D1_SCHEMA_TABLE "\" WHERE source = ?1", err);
    int rc = st && sqlite_bind_text(st, 1, source, strlen(source), err) ? sqlite_step(st, err) : -1;
    char *json = rc == 1 ? xstrdup(sqlite_column_text(st, 0, NULL)) : NULL;
    sqlite_finalize(st);
    *failed = rc < 0;
    return json;
}

static bool sq_store_shape(void *ctx, const char *source, const char *json, Err *err)
{
    SqliteStmt *st =
        sqlite_prepare(ctx, "INSERT OR REPLACE INTO \"" D1_SCHEMA_TABLE "\" (source, shape) VALUES (?1, ?2)", err);
    bool ok = st && sqlite_bind_text(st, 1, source, strlen(source), err) &&
              sqlite_bind_text(st, 2, json, strlen(json), err) && sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

static bool sq_columns(void *ctx, const char *table, char ***names, size_t *n, Err *err)
{
    *names = NULL;
    *n = 0;
    SqliteStmt *st = sqlite_prepare(ctx, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", err);
    if (!st || !sqlite_bind_text(st, 1, table, strlen(table), err)) {
        sqlite_finalize(st);
        return false;
    }
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        *names = xrealloc(*names, (*n + 1) * sizeof **names);
        (*names)[(*n)++] = xstrdup(sqlite_column_text(st, 0, NULL));
    }
    sqlite_finalize(st);
    return rc == 0;
}

static bool sq_exec(void *ctx, const char *sql, Err *err)
{
    return sqlite_exec(ctx, sql, err);
}

static D1FollowStore sqlite_store(Sqlite *db)
{
    return (D1FollowStore){.ctx = db, .init = sq_init, .has_shape_table = sq_has_shape_table,
                           .stored_shape = sq_stored_shape, .store_shape = sq_store_shape, .columns = sq_columns,
                           .exec = sq_exec, .evolved = NULL};
}

/* --- following, whatever the store --- */

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

typedef struct ColumnProbe {
    const D1FollowStore *st;
    const char *table;
} ColumnProbe;

static bool has_column(void *ctx, const char *d1_name)
{
    ColumnProbe *p = ctx;
    Err err;
    char **names;
    size_t n;
    bool found = false;
    if (p->st->columns(p->st->ctx, p->table, &names, &n, &err))
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(names[i], d1_name) == 0;
    else
        names = NULL, n = 0;
    free_names(names, n);
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
static Shape *shape_of_d1(const D1FollowStore *st, const D1Table *t, const Shape *after, Err *err)
{
    char **names;
    size_t n;
    if (!st->columns(st->ctx, t->name, &names, &n, err))
        return NULL;
    Shape *s = xcalloc(1, sizeof *s);
    s->oid = after->oid;
    s->qualname = xstrdup(after->qualname);
    for (size_t i = 0; i < n; i++) {
        const char *pg = pg_name_of(t, names[i]);
        const ShapeCol *same = shape_column(after, pg);
        s->cols = xrealloc(s->cols, (s->ncols + 1) * sizeof *s->cols);
        ShapeCol *c = &s->cols[s->ncols++];
        *c = same ? *same : (ShapeCol){0, NULL, NULL, 0, -1, false, NULL, false};
        c->name = xstrdup(pg);
        c->type = same && same->type ? xstrdup(same->type) : NULL;
        c->default_expr = same && same->default_expr ? xstrdup(same->default_expr) : NULL;
    }
    free_names(names, n);
    return s;
}

/* The stored shape of source, or NULL (*err set only on a failure). */
static Shape *stored_shape(const D1FollowStore *st, const char *source, bool *failed, Err *err)
{
    char *json = st->stored_shape(st->ctx, source, failed, err);
    Shape *s = json ? shape_from_json(json, err) : NULL;
    *failed = *failed || (json && !s);
    free(json);
    return s;
}

static bool store_shape(const D1FollowStore *st, const Shape *s, Err *err)
{
    char *json = shape_to_json(s);
    bool ok = st->store_shape(st->ctx, s->qualname, json, err);
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

/* Whether the D1 table is there (it has columns). */
static bool has_table(const D1FollowStore *st, const char *table)
{
    Err err;
    char **names = NULL;
    size_t n = 0;
    bool there = st->columns(st->ctx, table, &names, &n, &err) && n > 0;
    free_names(names, n);
    return there;
}

/* Whether run's resyncer can read `after` in key chunks: a primary key of columns resync reads. */
static bool resync_key_ok(const Shape *after)
{
    size_t n = 0;
    for (size_t i = 0; i < after->ncols; i++) {
        ResyncKeyType kt;
        if (after->cols[i].pk && !resync_key_type_of(after->cols[i].type_oid, &kt))
            return false;
        n += after->cols[i].pk;
    }
    return n > 0;
}

/* The plan asks for a re-copy (and nothing stops it) that run can make: rebuild, then ask for it. */
static const PlanStep *auto_resync(const SchemaPlan *plan, const ResyncHook *resync, const Shape *after)
{
    const PlanStep *b = schema_plan_blocker(plan);
    for (size_t i = 0; b && i < plan->count; i++)
        if (plan->steps[i].kind == PLAN_STOP)
            return NULL;
    return b && b->kind == PLAN_RESYNC && resync && resync_key_ok(after) ? b : NULL;
}

/* Diff, plan and carry out the change from `before` to `after` on t. */
static bool follow(const D1FollowStore *st, D1Table *t, const char *target, const char *migrations_dir,
                   const ResyncHook *resync, const Shape *before, const Shape *after, bool rewritten, bool readded_only,
                   Lsn cause, Err *err)
{
    SchemaDiff diff;
    schema_diff(before, after, rewritten, &diff);
    SchemaPlan plan;
    plan_d1(t->mapping, &diff, &plan);
    char *what = schema_diff_describe(&diff);
    ColumnProbe probe = {st, t->name};
    D1Evolution ev;
    const PlanStep *recopy = auto_resync(&plan, resync, after);
    bool ok = recopy ? d1_rebuild(t, before, after, what, has_table(st, t->name), &ev, err)
                     : d1_evolve(t, &plan, what, has_column, &probe, &ev, err);
    for (size_t i = 0; ok && i < ev.count; i++)
        ok = st->exec(st->ctx, ev.sql[i], err);
    if (ok && recopy && st->rebuilt)
        st->rebuilt(st->ctx, t);
    else if (ok && st->evolved)
        st->evolved(st->ctx, t->name, &plan);
    if (ok && recopy) {
        log_info(NULL, "%s: %s: %s: D1 table \"%s\" rebuilt in the new shape, and its rows are copied again (%s)",
                 target, t->source, what, t->name, recopy->message);
        /* a rewrite changed the rows every target holds; a table (re)published only concerns this one here
         * (run's check of the mapped tables asks for the others when it was dropped and created again) */
        ok = resync->request(resync->ctx, readded_only ? target : NULL, t->source, recopy->message, cause, err);
    } else if (ok && ev.count) {
        log_info(NULL, "%s: %s: %s (D1 table \"%s\")", target, t->source, what, t->name);
    }
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

/* DROP TABLE of t's source: per its mapping's "on_drop", the D1 table dropped (and a migration) or kept. */
static bool follow_drop(const D1FollowStore *st, D1Table *t, const char *target, const char *migrations_dir, Err *err)
{
    if (t->mapping && t->mapping->on_drop == MAP_DROP_KEEP) {
        log_info(NULL, "%s: %s was dropped; D1 table \"%s\" keeps its last rows (\"on_drop\": \"keep\" in %s)", target,
                 t->source, t->name, t->mapping->file);
        return true;
    }
    Buf b;
    buf_init(&b, 4096);
    bool ok = buf_append_str(&b, "DROP TABLE IF EXISTS ", err) && d1_quote_ident(&b, t->name, err);
    char *sql = ok ? xstrdup(b.data) : NULL;
    ok = ok && st->exec(st->ctx, sql, err);
    if (ok && st->rebuilt) {
        D1Table gone = {.name = t->name}; /* no columns: the table is not there */
        st->rebuilt(st->ctx, &gone);
    }
    t->rel_signature = 0;
    if (ok)
        log_info(NULL, "%s: %s was dropped: D1 table \"%s\" dropped (\"on_drop\": \"drop\"; \"keep\" keeps it)", target,
                 t->source, t->name);
    if (ok && migrations_dir) {
        char *text = xasprintf("-- wal2edge: %s: dropped in Postgres (\"on_drop\": \"drop\")\n%s;\n", t->source, sql);
        char *name = xasprintf("wal2edge_%s", t->name), *path = NULL;
        ok = d1_migration_append(migrations_dir, name, text, &path, err);
        if (ok)
            log_info(NULL, "%s: wrote migration %s", target, path);
        free(path);
        free(name);
        free(text);
    }
    free(sql);
    buf_free(&b);
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
                        const ResyncHook *resync, const Rel *rel, Err *err)
{
    D1FollowStore st = sqlite_store(db);
    return d1_follow_relation_in(&st, schema, target, migrations_dir, resync, rel, err);
}

bool d1_follow_relation_in(const D1FollowStore *st, D1Schema *schema, const char *target,
                           const char *migrations_dir, const ResyncHook *resync, const Rel *rel, Err *err)
{
    D1Table *t = mapped_table(schema, rel->qualname);
    uint64_t sig = rel_signature(rel);
    if (!t || t->rel_signature == sig)
        return true;
    Shape *after = shape_from_rel(rel);
    bool failed = false;
    /* read only: the shape table is made by the first DDL capture message */
    Shape *before = st->has_shape_table(st->ctx) ? stored_shape(st, rel->qualname, &failed, err) : NULL;
    if (!before && !failed)
        before = shape_of_d1(st, t, after, err);
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
        /* (a Relation message carries no LSN of its own: a copy under way starts over) */
        ok = follow(st, t, target, migrations_dir, resync, before, after, false, false, 0, err);
    }
    if (ok)
        t->rel_signature = sig;
    shape_free(before);
    shape_free(after);
    return ok;
}

bool d1_follow_message(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                       const ResyncHook *resync, const Change *c, uint32_t *rewritten, Err *err)
{
    D1FollowStore st = sqlite_store(db);
    return d1_follow_message_in(&st, schema, target, migrations_dir, resync, c, rewritten, err);
}

bool d1_follow_message_in(const D1FollowStore *st, D1Schema *schema, const char *target,
                          const char *migrations_dir, const ResyncHook *resync, const Change *c, uint32_t *rewritten,
                          Err *err)
{
    DdlMsg m;
    bool is_ddl;
    if (!shape_ddl_message(c, target, &m, &is_ddl, err) || !is_ddl)
        return !is_ddl;
    bool ok = true;
    D1Table *t = mapped_table(schema, m.qualname);
    if (m.event == DDL_EVENT_TABLE_REWRITE) {
        *rewritten = m.oid;
    } else if (m.event == DDL_EVENT_DROP && t) {
        ok = follow_drop(st, t, target, migrations_dir, err);
    } else if (m.event == DDL_EVENT_COMMAND_END && t) {
        Shape *after = shape_from_ddl(&m);
        bool failed = !st->init(st->ctx, err);
        Shape *before = failed ? NULL : stored_shape(st, m.qualname, &failed, err);
        if (!before && !failed)
            before = shape_of_d1(st, t, after, err);
        /* (re)published or (re)created while its D1 table is gone (dropped with it, "on_drop": "drop"): the
         * table is made in the new shape and copied into it (a table still there follows as any change) */
        bool gone = m.command &&
                    (strcmp(m.command, "ALTER PUBLICATION") == 0 || strcmp(m.command, "CREATE TABLE") == 0) &&
                    !has_table(st, t->name);
        ok = before &&
             follow(st, t, target, migrations_dir, resync, before, after, *rewritten == m.oid || gone,
                    gone && *rewritten != m.oid && before->oid == after->oid, c->message_lsn, err) &&
             store_shape(st, after, err);
        *rewritten = 0;
        shape_free(before);
        shape_free(after);
    }
    ddlmsg_free(&m);
    return ok;
}
