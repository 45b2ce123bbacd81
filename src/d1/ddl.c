/*
 * d1/ddl.c - see ddl.h. Each mapping with a "d1" part is resolved on its own
 * against the catalog: columns (minus "exclude", renamed), their D1 types
 * (value/pgtype), the key (the mapping's, else the primary key, else the
 * replica identity index), the indexes; every check that fails is a problem
 * with the mapping file's line and column, and the table is left out. The DDL
 * is then printed from the resolved tables, deterministically.
 */
#include "d1/ddl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "d1/sql.h"

#define DDL_MAX_BYTES ((size_t)16 * 1024 * 1024)

static void add_msg(char ***list, size_t *count, const char *file, int line, int col,
                    const char *key, const char *fmt, ...) ATTR_PRINTF(7, 8);
static void add_msg(char ***list, size_t *count, const char *file, int line, int col,
                    const char *key, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    *list = xrealloc(*list, (*count + 1) * sizeof **list);
    if (key && key[0])
        (*list)[(*count)++] = xasprintf("%s:%d:%d: %s: %s", file, line, col, key, what);
    else
        (*list)[(*count)++] = xasprintf("%s:%d:%d: %s", file, line, col, what);
}

#define PROBLEM(s, m, line, col, key, ...) \
    add_msg(&(s)->problems, &(s)->problem_count, (m)->file, line, col, key, __VA_ARGS__)
#define WARNING(s, m, line, col, key, ...) \
    add_msg(&(s)->warnings, &(s)->warning_count, (m)->file, line, col, key, __VA_ARGS__)

void d1_schema_free(D1Schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->table_count; i++)
        d1_table_clear(&s->tables[i]);
    free(s->tables);
    for (size_t i = 0; i < s->problem_count; i++)
        free(s->problems[i]);
    free(s->problems);
    for (size_t i = 0; i < s->warning_count; i++)
        free(s->warnings[i]);
    free(s->warnings);
    free(s);
}

static long d1_col_of_pg(const D1Table *t, const char *pg_name)
{
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(t->cols[i].pg_name, pg_name) == 0)
            return (long)i;
    return -1;
}

/* Every name the mapping lists must be a column of the table. */
static bool check_names(D1Schema *s, const Mapping *m, const CatTable *ct)
{
    bool ok = true;
    const MappingD1 *d = &m->d1;
    for (size_t i = 0; i < d->exclude_count; i++)
        if (catalog_column_index(ct, d->exclude[i].name) < 0) {
            char key[48];
            snprintf(key, sizeof key, "d1.exclude[%zu]", i);
            PROBLEM(s, m, d->exclude[i].line, d->exclude[i].col, key, "%s has no column \"%s\"",
                    m->source, d->exclude[i].name);
            ok = false;
        }
    for (size_t i = 0; i < d->primary_key_count; i++)
        if (catalog_column_index(ct, d->primary_key[i].name) < 0) {
            char key[48];
            snprintf(key, sizeof key, "d1.primary_key[%zu]", i);
            PROBLEM(s, m, d->primary_key[i].line, d->primary_key[i].col, key,
                    "%s has no column \"%s\"", m->source, d->primary_key[i].name);
            ok = false;
        }
    const MapPair *lists[2] = {d->rename, d->types};
    size_t counts[2] = {d->rename_count, d->type_count};
    const char *names[2] = {"d1.rename", "d1.types"};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++)
            if (catalog_column_index(ct, lists[l][i].key) < 0) {
                PROBLEM(s, m, lists[l][i].line, lists[l][i].col, names[l],
                        "%s has no column \"%s\"", m->source, lists[l][i].key);
                ok = false;
            }
    return ok;
}

static char *join_cols(const D1Table *t, const size_t *idx, size_t n, bool pg)
{
    Buf b;
    Err e;
    buf_init(&b, DDL_MAX_BYTES);
    for (size_t i = 0; i < n; i++)
        if (!buf_printf(&b, &e, "%s%s", i ? ", " : "", pg ? t->cols[idx[i]].pg_name
                                                           : t->cols[idx[i]].d1_name))
            break;
    return buf_take(&b);
}

/* The columns the replica identity sends in old tuples; NULL+true for FULL. */
static bool ri_covers(const CatTable *ct, const D1Table *t, const size_t *key, size_t n)
{
    if (ct->replident == 'f')
        return true;
    const CatIndex *ri = ct->replident == 'i' ? catalog_replident_index(ct)
                       : ct->replident == 'd' ? catalog_primary_key(ct)
                                              : NULL;
    if (!ri)
        return false;
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (size_t i = 0; i < ri->col_count; i++)
            if (strcmp(ct->cols[ri->cols[i]].name, t->cols[key[k]].pg_name) == 0)
                found = true;
        if (!found)
            return false;
    }
    return true;
}

/* The key from a catalog index; false when a column of it is not mapped. */
static bool key_from_index(D1Table *t, const CatTable *ct, const CatIndex *ix, const char **missing)
{
    t->key = xcalloc(ix->col_count + 1, sizeof *t->key);
    t->key_count = 0;
    for (size_t i = 0; i < ix->col_count; i++) {
        long c = d1_col_of_pg(t, ct->cols[ix->cols[i]].name);
        if (c < 0) {
            *missing = ct->cols[ix->cols[i]].name;
            free(t->key);
            t->key = NULL;
            return false;
        }
        t->key[t->key_count++] = (size_t)c;
    }
    return true;
}

static bool choose_key(D1Schema *s, const Mapping *m, const CatTable *ct, D1Table *t)
{
    const MappingD1 *d = &m->d1;
    const char *missing = NULL;
    if (d->primary_key_count) {
        t->key = xcalloc(d->primary_key_count, sizeof *t->key);
        for (size_t i = 0; i < d->primary_key_count; i++) {
            long c = d1_col_of_pg(t, d->primary_key[i].name);
            if (c < 0) {
                PROBLEM(s, m, d->primary_key[i].line, d->primary_key[i].col, "d1.primary_key",
                        "column \"%s\" is not replicated to D1 and cannot be part of the key",
                        d->primary_key[i].name);
                return false;
            }
            t->key[t->key_count++] = (size_t)c;
        }
        t->key_origin = xstrdup("mapping primary_key");
        if (!ri_covers(ct, t, t->key, t->key_count)) {
            char *cols = join_cols(t, t->key, t->key_count, true);
            PROBLEM(s, m, d->primary_key_line, d->primary_key_col, "d1.primary_key",
                    "(%s) is not covered by the replica identity of %s, so deletes and key "
                    "changes could not find the D1 row; use the table's primary key or "
                    "ALTER TABLE %s REPLICA IDENTITY FULL",
                    cols, m->source, m->source);
            free(cols);
            return false;
        }
        return true;
    }
    const CatIndex *pk = catalog_primary_key(ct);
    const CatIndex *ri = catalog_replident_index(ct);
    if (pk && ct->replident != 'n') {
        if (!key_from_index(t, ct, pk, &missing)) {
            PROBLEM(s, m, d->line, d->col, "d1",
                    "primary key column \"%s\" of %s is excluded; D1 needs it to apply updates "
                    "and deletes (or set d1.primary_key)",
                    missing, m->source);
            return false;
        }
        t->key_origin = xasprintf("primary key %s", pk->name);
        if (ct->replident == 'i' && ri && !ri_covers(ct, t, t->key, t->key_count)) {
            PROBLEM(s, m, d->line, d->col, "d1",
                    "the replica identity index %s of %s does not contain the primary key, so "
                    "deletes could not find the D1 row; use REPLICA IDENTITY DEFAULT or FULL",
                    ri->name, m->source);
            return false;
        }
        return true;
    }
    if (ri && ct->replident == 'i') {
        if (!key_from_index(t, ct, ri, &missing)) {
            PROBLEM(s, m, d->line, d->col, "d1",
                    "replica identity column \"%s\" of %s is excluded; D1 needs it as the key",
                    missing, m->source);
            return false;
        }
        t->key_origin = xasprintf("replica identity index %s", ri->name);
        return true;
    }
    PROBLEM(s, m, d->line, d->col, "d1",
            "%s has no primary key and no usable replica identity (replica identity %s): add a "
            "primary key, use ALTER TABLE %s REPLICA IDENTITY USING INDEX on a unique index, or "
            "set REPLICA IDENTITY FULL and name the key in d1.primary_key",
            m->source, ct->replident == 'f' ? "full" : ct->replident == 'n' ? "nothing" : "default",
            m->source);
    return false;
}

static void add_indexes(D1Schema *s, const Mapping *m, const CatTable *ct, D1Table *t)
{
    (void)s;
    (void)m;
    t->indexes = ct->index_count ? xcalloc(ct->index_count, sizeof *t->indexes) : NULL;
    for (size_t i = 0; i < ct->index_count; i++) {
        const CatIndex *ix = &ct->indexes[i];
        if (ix->partial || ix->expression || ix->col_count == 0)
            continue;
        size_t *cols = xcalloc(ix->col_count, sizeof *cols);
        bool ok = true;
        for (size_t k = 0; ok && k < ix->col_count; k++) {
            long c = d1_col_of_pg(t, ct->cols[ix->cols[k]].name);
            if (c < 0)
                ok = false;
            else
                cols[k] = (size_t)c;
        }
        /* the key itself is the PRIMARY KEY; identical column lists only once */
        if (ok && ix->unique && ix->col_count == t->key_count &&
            memcmp(cols, t->key, t->key_count * sizeof *cols) == 0)
            ok = false;
        for (size_t e = 0; ok && e < t->index_count; e++)
            if (t->indexes[e].col_count == ix->col_count &&
                memcmp(t->indexes[e].cols, cols, ix->col_count * sizeof *cols) == 0) {
                t->indexes[e].unique = t->indexes[e].unique || ix->unique;
                ok = false;
            }
        if (!ok) {
            free(cols);
            continue;
        }
        D1Index *d = &t->indexes[t->index_count++];
        d->unique = ix->unique;
        d->cols = cols;
        d->col_count = ix->col_count;
        Buf b;
        Err e;
        buf_init(&b, 4096);
        bool fine = buf_append_str(&b, t->name, &e);
        for (size_t k = 0; fine && k < d->col_count; k++)
            fine = buf_printf(&b, &e, "_%s", t->cols[cols[k]].d1_name);
        fine = fine && buf_append_str(&b, ix->unique ? "_key" : "_idx", &e);
        d->name = buf_take(&b);
    }
    /* unique names within the table (two indexes could produce the same name) */
    for (size_t i = 0; i < t->index_count; i++)
        for (size_t k = 0; k < i; k++)
            if (strcasecmp(t->indexes[i].name, t->indexes[k].name) == 0) {
                char *renamed = xasprintf("%s%zu", t->indexes[i].name, i + 1);
                free(t->indexes[i].name);
                t->indexes[i].name = renamed;
            }
}

/* A sharded table's shard_by columns: D1 columns that are never NULL and that every old row
 * image carries (part of the key, or REPLICA IDENTITY FULL), so that a delete or a change of the
 * shard key finds the database that holds the old row. */
static bool choose_shard(D1Schema *s, const Mapping *m, const CatTable *ct, D1Table *t)
{
    const MappingD1 *d = &m->d1;
    t->shard_count = d->database_count;
    if (!d->shard_by_count)
        return true;
    t->shard_cols = xcalloc(d->shard_by_count, sizeof *t->shard_cols);
    for (size_t i = 0; i < d->shard_by_count; i++) {
        const MapName *sb = &d->shard_by[i];
        long c = d1_col_of_pg(t, sb->name);
        if (c < 0) {
            if (catalog_column_index(ct, sb->name) >= 0)
                PROBLEM(s, m, sb->line, sb->col, "d1.shard_by", "column \"%s\" of %s is not replicated to D1",
                        sb->name, m->source);
            else
                PROBLEM(s, m, sb->line, sb->col, "d1.shard_by", "%s has no column \"%s\"", m->source, sb->name);
            return false;
        }
        if (!t->cols[c].not_null) {
            PROBLEM(s, m, sb->line, sb->col, "d1.shard_by",
                    "column \"%s\" of %s allows NULL, which has no shard (ALTER TABLE %s ALTER COLUMN %s "
                    "SET NOT NULL)",
                    sb->name, m->source, m->source, sb->name);
            return false;
        }
        if (!t->cols[c].is_key && ct->replident != 'f') {
            char *key = join_cols(t, t->key, t->key_count, true);
            PROBLEM(s, m, sb->line, sb->col, "d1.shard_by",
                    "column \"%s\" is not in the key of %s (%s), so deletes and updates would not say "
                    "which database holds the old row; shard by key columns, or ALTER TABLE %s REPLICA "
                    "IDENTITY FULL",
                    sb->name, m->source, key, m->source);
            free(key);
            return false;
        }
        t->shard_cols[t->shard_col_count++] = (size_t)c;
    }
    return true;
}

static void add_table(D1Schema *s, const Mapping *m, const CatalogInfo *cat, const char *database)
{
    const MappingD1 *d = &m->d1;
    const CatTable *ct = catalog_table(cat, m->source);
    if (!ct || !ct->exists) {
        PROBLEM(s, m, m->source_line, m->source_col, "table",
                "table \"%s\" does not exist in the source database", m->source);
        return;
    }
    if (!check_names(s, m, ct))
        return;
    if (!ct->in_publication) {
        if (cat->publication_exists)
            WARNING(s, m, m->source_line, m->source_col, "table",
                    "%s is not in publication \"%s\", so `run` will not see its changes "
                    "(ALTER PUBLICATION %s ADD TABLE %s)",
                    m->source, cat->publication, cat->publication, m->source);
        else
            WARNING(s, m, m->source_line, m->source_col, "table",
                    "publication \"%s\" does not exist yet (`wal2edge slot create` or CREATE "
                    "PUBLICATION ... FOR TABLE %s)",
                    cat->publication ? cat->publication : "", m->source);
    }
    D1Table t;
    memset(&t, 0, sizeof t);
    t.database = xstrdup(database);
    t.shard = (size_t)mapping_d1_database_index(m, database);
    t.name = xstrdup(d->table);
    t.source = xstrdup(m->source);
    t.mapping = m;
    t.cols = ct->col_count ? xcalloc(ct->col_count, sizeof *t.cols) : NULL;
    bool ok = true;
    Buf unbounded;
    Err e;
    buf_init(&unbounded, DDL_MAX_BYTES);
    for (size_t i = 0; i < ct->col_count; i++) {
        const CatColumn *cc = &ct->cols[i];
        if (mapping_d1_excludes(m, cc->name))
            continue;
        if (cc->generated) {
            WARNING(s, m, d->line, d->col, "d1",
                    "generated column \"%s\" of %s is left out (pgoutput does not send it)",
                    cc->name, m->source);
            continue;
        }
        const char *override = mapping_d1_type_override(m, cc->name);
        Err terr;
        D1Type *ty = d1_type_resolve(cat, cc->type_oid, override, &terr);
        if (!ty) {
            PROBLEM(s, m, d->line, d->col, "d1",
                    "column \"%s\" of %s has type \"%s\", which has no D1 equivalent (add "
                    "\"types\": {\"%s\": \"TEXT\"} to store its text, or \"exclude\": [\"%s\"])",
                    cc->name, m->source, cc->type_name, cc->name, cc->name);
            ok = false;
            continue;
        }
        D1Column *c = &t.cols[t.col_count++];
        c->pg_name = xstrdup(cc->name);
        c->d1_name = xstrdup(mapping_d1_column_name(m, cc->name));
        c->type = ty;
        c->pg_type = xstrdup(cc->type_name);
        c->typmod = cc->typmod;
        c->not_null = cc->not_null;
        size_t max = d1_type_max_bytes(ty, cc->typmod);
        if (max == 0 && !buf_printf(&unbounded, &e, "%s%s", unbounded.len ? ", " : "", c->d1_name))
            ok = false;
        if (!size_add(t.max_row_bytes, max, &t.max_row_bytes))
            t.max_row_bytes = SIZE_MAX;
    }
    t.unbounded = unbounded.len ? buf_take(&unbounded) : NULL;
    buf_free(&unbounded);
    if (ok && t.col_count == 0) {
        PROBLEM(s, m, d->line, d->col, "d1", "no column of %s is left for D1", m->source);
        ok = false;
    }
    if (ok && t.col_count > D1_MAX_COLUMNS) {
        PROBLEM(s, m, d->line, d->col, "d1",
                "%s maps %zu columns to D1, over D1's limit of %d per table (exclude some)",
                m->source, t.col_count, D1_MAX_COLUMNS);
        ok = false;
    }
    for (size_t i = 0; ok && i < t.col_count; i++)
        for (size_t k = 0; ok && k < i; k++)
            if (strcasecmp(t.cols[i].d1_name, t.cols[k].d1_name) == 0) {
                PROBLEM(s, m, d->line, d->col, "d1.rename",
                        "columns \"%s\" and \"%s\" of %s would both be D1 column \"%s\"",
                        t.cols[k].pg_name, t.cols[i].pg_name, m->source, t.cols[i].d1_name);
                ok = false;
            }
    if (ok && t.max_row_bytes > D1_MAX_ROW_BYTES) {
        PROBLEM(s, m, d->line, d->col, "d1",
                "rows of %s can be %zu bytes, over D1's %d-byte row limit (exclude wide columns)",
                m->source, t.max_row_bytes, D1_MAX_ROW_BYTES);
        ok = false;
    }
    if (ok)
        ok = choose_key(s, m, ct, &t);
    if (ok) {
        for (size_t k = 0; k < t.key_count; k++) {
            t.cols[t.key[k]].is_key = true;
            if (!t.cols[t.key[k]].not_null)
                WARNING(s, m, d->line, d->col, "d1",
                        "key column \"%s\" of %s allows NULL; rows with a NULL key cannot be "
                        "updated or deleted in D1",
                        t.cols[t.key[k]].pg_name, m->source);
        }
        add_indexes(s, m, ct, &t);
        ok = choose_shard(s, m, ct, &t);
    }
    if (ok) {
        char *upsert = d1_sql_upsert_text(&t);
        if (strlen(upsert) > D1_MAX_SQL_BYTES) {
            PROBLEM(s, m, d->line, d->col, "d1",
                    "the upsert statement for %s is %zu bytes, over D1's %d-byte statement "
                    "limit (shorten column names or exclude columns)",
                    m->source, strlen(upsert), D1_MAX_SQL_BYTES);
            ok = false;
        }
        free(upsert);
    }
    if (!ok) {
        d1_table_clear(&t);
        return;
    }
    s->tables = xrealloc(s->tables, (s->table_count + 1) * sizeof *s->tables);
    s->tables[s->table_count++] = t;
}

static int table_order(const void *a, const void *b)
{
    const D1Table *x = a, *y = b;
    int c = strcmp(x->database, y->database);
    return c ? c : strcmp(x->name, y->name);
}

D1Schema *d1_schema_build(const MappingSet *maps, const CatalogInfo *cat, const char *database)
{
    D1Schema *s = xcalloc(1, sizeof *s);
    for (size_t i = 0; maps && i < maps->count; i++) {
        const Mapping *m = &maps->items[i];
        if (database) {
            if (mapping_d1_database_index(m, database) >= 0)
                add_table(s, m, cat, database);
            continue;
        }
        for (size_t k = 0; m->d1.present && k < m->d1.database_count; k++) {
            if (k == 0) {
                add_table(s, m, cat, m->d1.databases[0]);
                continue;
            }
            /* the other shards: the same table, its problems reported once */
            D1Schema *other = xcalloc(1, sizeof *other);
            add_table(other, m, cat, m->d1.databases[k]);
            if (other->table_count) {
                s->tables = xrealloc(s->tables, (s->table_count + 1) * sizeof *s->tables);
                s->tables[s->table_count++] = other->tables[0];
                other->table_count = 0;
            }
            d1_schema_free(other);
        }
    }
    if (s->table_count > 1)
        qsort(s->tables, s->table_count, sizeof *s->tables, table_order);
    return s;
}

const D1Table *d1_schema_table(const D1Schema *s, const char *source)
{
    for (size_t i = 0; s && i < s->table_count; i++)
        if (strcmp(s->tables[i].source, source) == 0)
            return &s->tables[i];
    return NULL;
}

char *d1_ddl_table(const D1Table *t)
{
    Buf b;
    Err e;
    buf_init(&b, DDL_MAX_BYTES);
    bool ok = buf_append_str(&b, "CREATE TABLE IF NOT EXISTS ", &e) && d1_quote_ident(&b, t->name, &e) &&
              buf_append_str(&b, " (\n", &e);
    for (size_t i = 0; ok && i < t->col_count; i++) {
        const D1Column *c = &t->cols[i];
        ok = buf_append_str(&b, "  ", &e) && d1_quote_ident(&b, c->d1_name, &e) &&
             buf_printf(&b, &e, " %s%s,\n", d1_affinity_name(c->type->affinity),
                        c->not_null ? " NOT NULL" : "");
    }
    ok = ok && buf_append_str(&b, "  PRIMARY KEY (", &e);
    for (size_t k = 0; ok && k < t->key_count; k++)
        ok = (k == 0 || buf_append_str(&b, ", ", &e)) && d1_quote_ident(&b, t->cols[t->key[k]].d1_name, &e);
    ok = ok && buf_append_str(&b, ")", &e);
    for (size_t i = 0; ok && i < t->index_count; i++) {
        const D1Index *ix = &t->indexes[i];
        if (!ix->unique)
            continue;
        ok = buf_append_str(&b, ",\n  UNIQUE (", &e);
        for (size_t k = 0; ok && k < ix->col_count; k++)
            ok = (k == 0 || buf_append_str(&b, ", ", &e)) && d1_quote_ident(&b, t->cols[ix->cols[k]].d1_name, &e);
        ok = ok && buf_append_str(&b, ")", &e);
    }
    ok = ok && buf_append_str(&b, "\n);\n", &e);
    for (size_t i = 0; ok && i < t->index_count; i++) {
        const D1Index *ix = &t->indexes[i];
        if (ix->unique)
            continue;
        ok = buf_append_str(&b, "CREATE INDEX IF NOT EXISTS ", &e) && d1_quote_ident(&b, ix->name, &e) &&
             buf_append_str(&b, " ON ", &e) && d1_quote_ident(&b, t->name, &e) &&
             buf_append_str(&b, " (", &e);
        for (size_t k = 0; ok && k < ix->col_count; k++)
            ok = (k == 0 || buf_append_str(&b, ", ", &e)) && d1_quote_ident(&b, t->cols[ix->cols[k]].d1_name, &e);
        ok = ok && buf_append_str(&b, ");\n", &e);
    }
    return buf_take(&b);
}

char *d1_ddl_state_table(void)
{
    return xstrdup("CREATE TABLE IF NOT EXISTS \"" D1_STATE_TABLE "\" (\n"
                   "  \"slot\" TEXT NOT NULL PRIMARY KEY,\n"
                   "  \"commit_lsn\" TEXT NOT NULL,\n"
                   "  \"end_lsn\" TEXT NOT NULL,\n"
                   "  \"updated_at\" TEXT NOT NULL,\n"
                   "  \"position\" TEXT NOT NULL DEFAULT ''\n"
                   ");\n");
}

const char *d1_ddl_state_missing_position(void)
{
    return "SELECT 1 AS \"missing\" WHERE EXISTS (SELECT 1 FROM pragma_table_info('" D1_STATE_TABLE "')) "
           "AND NOT EXISTS (SELECT 1 FROM pragma_table_info('" D1_STATE_TABLE "') WHERE \"name\" = 'position')";
}

/* The position from end_lsn ("X/Y", upper-case hex as Postgres writes it): each
 * half left-padded to 8 digits, which is what lsn_format_fixed writes. */
char *d1_ddl_state_upgrade(void)
{
    return xstrdup("ALTER TABLE \"" D1_STATE_TABLE "\" ADD COLUMN \"position\" TEXT NOT NULL DEFAULT '';\n"
                   "UPDATE \"" D1_STATE_TABLE "\" SET \"position\" = upper("
                   "substr('00000000' || substr(\"end_lsn\", 1, instr(\"end_lsn\", '/') - 1), -8) || "
                   "substr('00000000' || substr(\"end_lsn\", instr(\"end_lsn\", '/') + 1), -8));\n");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char **d1_schema_databases(const D1Schema *s, size_t *count)
{
    char **out = xcalloc(s->table_count + 1, sizeof *out);
    size_t n = 0;
    for (size_t i = 0; i < s->table_count; i++) {
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(out[k], s->tables[i].database) == 0)
                seen = true;
        if (!seen)
            out[n++] = xstrdup(s->tables[i].database);
    }
    if (n > 1)
        qsort(out, n, sizeof *out, cmp_str);
    *count = n;
    return out;
}

bool d1_schema_check(const D1Schema *s, Err *err)
{
    if (s->problem_count == 0)
        return true;
    if (s->problem_count == 1)
        return err_set(err, ERR_CONFIG, "%s", s->problems[0]);
    return err_set(err, ERR_CONFIG, "%s (and %zu more problem%s; run `wal2edge plan`)", s->problems[0],
                   s->problem_count - 1, s->problem_count == 2 ? "" : "s");
}
