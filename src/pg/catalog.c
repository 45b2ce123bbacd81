/*
 * pg/catalog.c - see catalog.h.
 *
 * One short libpq connection, parameterised catalog queries (never pasted
 * SQL), and a worklist for types: each column type is read, then whatever it
 * refers to (domain base, array element, composite attributes) until closed.
 */
#include "pg/catalog.h"
#include "pg/conn_intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/mem.h"
#include "core/str.h"

typedef struct Rd2 {
    PGconn *pg;
    CatalogInfo *cat;
    Err *err;
} Rd2;

static void *pool_keep(CatalogInfo *cat, void *p)
{
    if ((cat->pool_count & (cat->pool_count - 1)) == 0 || cat->pool_count == 0) {
        size_t n = cat->pool_count ? cat->pool_count * 2 : 16;
        cat->pool = xrealloc(cat->pool, n * sizeof *cat->pool);
    }
    cat->pool[cat->pool_count++] = p;
    return p;
}

static const char *pool_str(CatalogInfo *cat, const char *s)
{
    return pool_keep(cat, xstrdup(s));
}


static PGresult *query(Rd2 *r, const char *what, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *res = PQexecParams(r->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[ERR_MSG_MAX - 96];
        pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
        PQclear(res);
        err_set(r->err, ERR_PG, "reading the catalog (%s): %s", what, msg);
        return NULL;
    }
    return res;
}

static const char *val(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

static bool val_bool(PGresult *res, int row, int col)
{
    return val(res, row, col)[0] == 't';
}

static bool val_u32(Rd2 *r, PGresult *res, int row, int col, uint32_t *out)
{
    uint64_t v;
    if (!str_to_u64(val(res, row, col), UINT32_MAX, &v))
        return err_set(r->err, ERR_PROTOCOL, "unexpected catalog value \"%s\" (expected an oid)",
                       val(res, row, col));
    *out = (uint32_t)v;
    return true;
}

static bool val_i32(Rd2 *r, PGresult *res, int row, int col, int32_t *out)
{
    int64_t v;
    if (!str_to_i64(val(res, row, col), &v) || v < INT32_MIN || v > INT32_MAX)
        return err_set(r->err, ERR_PROTOCOL, "unexpected catalog value \"%s\" (expected an int4)",
                       val(res, row, col));
    *out = (int32_t)v;
    return true;
}

static const char table_sql[] =
    "SELECT c.oid, c.relkind, c.relreplident,"
    "       EXISTS (SELECT 1 FROM pg_publication_tables p"
    "                WHERE p.pubname = $3 AND p.schemaname = n.nspname AND p.tablename = c.relname)"
    "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')";

static const char columns_sql[] =
    "SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod),"
    "       a.attnotnull, a.attgenerated <> ''"
    "  FROM pg_attribute a"
    " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

static const char indexes_sql[] =
    "SELECT ic.relname, i.indisunique, i.indisprimary, i.indisreplident,"
    "       i.indpred IS NOT NULL, i.indexprs IS NOT NULL, i.indnkeyatts, i.indkey::text"
    "  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
    " WHERE i.indrelid = $1 AND i.indisvalid ORDER BY ic.relname";

static const char type_sql[] =
    "SELECT n.nspname, t.typname, format_type(t.oid, NULL), t.typtype, t.typcategory,"
    "       t.typbasetype, t.typtypmod, t.typelem, t.typdelim, t.typrelid"
    "  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1";

static const char enum_sql[] =
    "SELECT enumlabel FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder";

static const char attrs_sql[] =
    "SELECT attname, atttypid, atttypmod FROM pg_attribute"
    " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

static bool read_columns(Rd2 *r, CatTable *t, const char *oid_text)
{
    const char *params[] = {oid_text};
    PGresult *res = query(r, "columns", columns_sql, 1, params);
    if (!res)
        return false;
    int n = PQntuples(res);
    CatColumn *cols = n ? pool_keep(r->cat, xcalloc((size_t)n, sizeof *cols)) : NULL;
    for (int i = 0; i < n; i++) {
        CatColumn *c = &cols[i];
        int32_t attnum;
        if (!val_i32(r, res, i, 0, &attnum) || !val_u32(r, res, i, 2, &c->type_oid) ||
            !val_i32(r, res, i, 3, &c->typmod)) {
            PQclear(res);
            return false;
        }
        c->attnum = (int16_t)attnum;
        c->name = pool_str(r->cat, val(res, i, 1));
        c->type_name = pool_str(r->cat, val(res, i, 4));
        c->not_null = val_bool(res, i, 5);
        c->generated = val_bool(res, i, 6);
    }
    PQclear(res);
    t->cols = cols;
    t->col_count = (size_t)n;
    return true;
}

/* indkey text is space-separated attnums, 0 for an expression. */
static bool read_indexes(Rd2 *r, CatTable *t, const char *oid_text)
{
    const char *params[] = {oid_text};
    PGresult *res = query(r, "indexes", indexes_sql, 1, params);
    if (!res)
        return false;
    int n = PQntuples(res);
    CatIndex *idx = n ? pool_keep(r->cat, xcalloc((size_t)n, sizeof *idx)) : NULL;
    for (int i = 0; i < n; i++) {
        CatIndex *x = &idx[i];
        x->name = pool_str(r->cat, val(res, i, 0));
        x->unique = val_bool(res, i, 1);
        x->primary = val_bool(res, i, 2);
        x->replident = val_bool(res, i, 3);
        x->partial = val_bool(res, i, 4);
        x->expression = val_bool(res, i, 5);
        int32_t nkey;
        if (!val_i32(r, res, i, 6, &nkey) || nkey < 0 || nkey > 32) {
            PQclear(res);
            return err_set(r->err, ERR_PROTOCOL, "unexpected key count of index \"%s\"", x->name);
        }
        size_t *cols = pool_keep(r->cat, xcalloc((size_t)nkey + 1, sizeof *cols));
        char *keys = xstrdup(val(res, i, 7));
        char *p = keys;
        size_t got = 0;
        while (*p && got < (size_t)nkey) {
            char *sp = strchr(p, ' ');
            if (sp)
                *sp = '\0';
            int64_t attnum;
            if (!str_to_i64(p, &attnum)) {
                free(keys);
                PQclear(res);
                return err_set(r->err, ERR_PROTOCOL, "unexpected indkey of index \"%s\"", x->name);
            }
            if (attnum > 0) {
                bool found = false;
                for (size_t c = 0; c < t->col_count; c++)
                    if (t->cols[c].attnum == attnum) {
                        cols[got++] = c;
                        found = true;
                        break;
                    }
                if (!found)
                    x->expression = true; /* system column: treat as unusable */
            }
            if (!sp)
                break;
            p = sp + 1;
        }
        free(keys);
        x->cols = cols;
        x->col_count = got;
    }
    PQclear(res);
    t->indexes = idx;
    t->index_count = (size_t)n;
    return true;
}

/* "schema.name" → owned schema ("public" when unqualified) and the borrowed name part. */
static char *split_qualname(const char *qualname, const char **name)
{
    const char *dot = strchr(qualname, '.');
    *name = dot ? dot + 1 : qualname;
    return dot ? xstrndup(qualname, (size_t)(dot - qualname)) : xstrdup("public");
}

/* table_sql for one table: *res NULL when it does not exist; else one row, PQclear'ed by the caller. */
static bool lookup_table(Rd2 *r, const char *schema, const char *name, const char *publication, PGresult **res,
                         uint32_t *oid)
{
    const char *params[] = {schema, name, publication};
    *res = query(r, "tables", table_sql, 3, params);
    if (!*res)
        return false;
    if (PQntuples(*res) == 1 && val_u32(r, *res, 0, 0, oid))
        return true;
    bool missing = PQntuples(*res) != 1;
    PQclear(*res);
    *res = NULL;
    return missing;
}

static bool read_table(Rd2 *r, CatTable *t, const char *qualname, const char *publication)
{
    t->qualname = pool_str(r->cat, qualname);
    const char *name;
    t->schema = pool_keep(r->cat, split_qualname(qualname, &name));
    t->name = pool_str(r->cat, name);
    PGresult *res;
    if (!lookup_table(r, t->schema, t->name, publication, &res, &t->oid))
        return false;
    if (!res)
        return true; /* exists = false */
    t->exists = true;
    t->relkind = val(res, 0, 1)[0];
    t->replident = val(res, 0, 2)[0];
    t->in_publication = val_bool(res, 0, 3);
    char oid_text[16];
    snprintf(oid_text, sizeof oid_text, "%u", t->oid);
    PQclear(res);
    return read_columns(r, t, oid_text) && read_indexes(r, t, oid_text);
}

typedef struct OidList {
    uint32_t *v;
    size_t n, cap;
} OidList;

static void oid_push(OidList *l, uint32_t oid)
{
    if (oid == 0)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == oid)
            return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = oid;
}

static bool read_type(Rd2 *r, CatType *ty, OidList *work)
{
    char oid_text[16];
    snprintf(oid_text, sizeof oid_text, "%u", ty->oid);
    const char *params[] = {oid_text};
    PGresult *res = query(r, "types", type_sql, 1, params);
    if (!res)
        return false;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return err_set(r->err, ERR_PROTOCOL, "type oid %u is not in pg_type", ty->oid);
    }
    ty->schema = pool_str(r->cat, val(res, 0, 0));
    ty->name = pool_str(r->cat, val(res, 0, 1));
    ty->formatted = pool_str(r->cat, val(res, 0, 2));
    ty->typtype = val(res, 0, 3)[0];
    ty->category = val(res, 0, 4)[0];
    ty->delim = val(res, 0, 8)[0] ? val(res, 0, 8)[0] : ',';
    uint32_t elem, relid;
    bool ok = val_u32(r, res, 0, 5, &ty->base_oid) && val_i32(r, res, 0, 6, &ty->base_typmod) &&
              val_u32(r, res, 0, 7, &elem) && val_u32(r, res, 0, 9, &relid);
    PQclear(res);
    if (!ok)
        return false;
    if (ty->category == 'A' && elem)
        ty->elem_oid = elem;
    oid_push(work, ty->base_oid);
    oid_push(work, ty->elem_oid);
    if (ty->typtype == 'e') {
        res = query(r, "enum labels", enum_sql, 1, params);
        if (!res)
            return false;
        int n = PQntuples(res);
        const char **labels = n ? pool_keep(r->cat, xcalloc((size_t)n, sizeof *labels)) : NULL;
        for (int i = 0; i < n; i++)
            labels[i] = pool_str(r->cat, val(res, i, 0));
        ty->labels = (const char *const *)labels;
        ty->label_count = (size_t)n;
        PQclear(res);
    } else if (ty->typtype == 'c' && relid) {
        char rel_text[16];
        snprintf(rel_text, sizeof rel_text, "%u", relid);
        const char *rp[] = {rel_text};
        res = query(r, "composite attributes", attrs_sql, 1, rp);
        if (!res)
            return false;
        int n = PQntuples(res);
        CatAttr *attrs = n ? pool_keep(r->cat, xcalloc((size_t)n, sizeof *attrs)) : NULL;
        for (int i = 0; i < n; i++) {
            attrs[i].name = pool_str(r->cat, val(res, i, 0));
            if (!val_u32(r, res, i, 1, &attrs[i].type_oid) ||
                !val_i32(r, res, i, 2, &attrs[i].typmod)) {
                PQclear(res);
                return false;
            }
            oid_push(work, attrs[i].type_oid);
        }
        ty->attrs = attrs;
        ty->attr_count = (size_t)n;
        PQclear(res);
    }
    return true;
}

static bool read_all(Rd2 *r, const char *publication, const char *const *qualnames, size_t count)
{
    CatalogInfo *cat = r->cat;
    PGresult *res = NULL;
    const char *params[] = {publication};
    res = query(r, "publication",
                "SELECT current_setting('server_version_num'),"
                "       EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)",
                1, params);
    if (!res)
        return false;
    int32_t version;
    bool ok = val_i32(r, res, 0, 0, &version);
    cat->server_version_num = version;
    cat->publication_exists = val_bool(res, 0, 1);
    PQclear(res);
    if (!ok)
        return false;
    cat->publication = pool_str(cat, publication);

    CatTable *tables = count ? pool_keep(cat, xcalloc(count, sizeof *tables)) : NULL;
    cat->tables = tables;
    OidList work = {0};
    for (size_t i = 0; i < count; i++) {
        if (!read_table(r, &tables[i], qualnames[i], publication)) {
            free(work.v);
            return false;
        }
        cat->table_count = i + 1;
        for (size_t c = 0; c < tables[i].col_count; c++)
            oid_push(&work, tables[i].cols[c].type_oid);
    }
    /* work grows while we read: domains, arrays and composites add their parts */
    CatType *types = NULL;
    for (size_t i = 0; i < work.n; i++) {
        if (i >= CATALOG_MAX_TYPES) {
            free(work.v);
            free(types);
            return err_set(r->err, ERR_TOO_LARGE, "the mapped tables use more than %d types",
                           CATALOG_MAX_TYPES);
        }
        types = xrealloc(types, (i + 1) * sizeof *types);
        memset(&types[i], 0, sizeof types[i]);
        types[i].oid = work.v[i];
        if (!read_type(r, &types[i], &work)) {
            free(work.v);
            free(types);
            return false;
        }
    }
    cat->types = types ? pool_keep(cat, types) : NULL;
    cat->type_count = work.n;
    free(work.v);
    return true;
}

CatalogInfo *catalog_read(const Secret *dsn, const char *publication,
                          const char *const *qualnames, size_t count, Err *err)
{
    PgConn *conn = pgconn_open(dsn, err);
    if (!conn)
        return NULL;
    PGconn *pg = pgconn_raw(conn);
    CatalogInfo *cat = xcalloc(1, sizeof *cat);
    Rd2 r = {pg, cat, err};
    bool ok = read_all(&r, publication, qualnames, count);
    pgconn_close(conn);
    if (!ok) {
        catalog_free(cat);
        return NULL;
    }
    return cat;
}

bool catalog_table_ids(PgConn *conn, const char *publication, const char *const *qualnames, size_t count,
                       CatTableId *out, bool *publication_exists, Err *err)
{
    Rd2 r = {pgconn_raw(conn), NULL, err};
    const char *pub_params[] = {publication};
    PGresult *res = query(&r, "publication", "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", 1,
                          pub_params);
    if (!res)
        return false;
    *publication_exists = val_bool(res, 0, 0);
    PQclear(res);
    for (size_t i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        const char *name;
        char *schema = split_qualname(qualnames[i], &name);
        bool ok = lookup_table(&r, schema, name, publication, &res, &out[i].oid);
        free(schema);
        if (!ok)
            return false;
        if (res) {
            out[i].exists = true;
            out[i].in_publication = val_bool(res, 0, 3);
            PQclear(res);
        }
    }
    return true;
}

void catalog_free(CatalogInfo *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->pool_count; i++)
        free(cat->pool[i]);
    free(cat->pool);
    free(cat);
}

const CatTable *catalog_table(const CatalogInfo *cat, const char *qualname)
{
    for (size_t i = 0; cat && i < cat->table_count; i++)
        if (strcmp(cat->tables[i].qualname, qualname) == 0)
            return &cat->tables[i];
    return NULL;
}

const CatType *catalog_type(const CatalogInfo *cat, uint32_t oid)
{
    for (size_t i = 0; cat && i < cat->type_count; i++)
        if (cat->types[i].oid == oid)
            return &cat->types[i];
    return NULL;
}

long catalog_column_index(const CatTable *t, const char *name)
{
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

const CatIndex *catalog_primary_key(const CatTable *t)
{
    for (size_t i = 0; i < t->index_count; i++)
        if (t->indexes[i].primary)
            return &t->indexes[i];
    return NULL;
}

const CatIndex *catalog_replident_index(const CatTable *t)
{
    for (size_t i = 0; i < t->index_count; i++)
        if (t->indexes[i].replident)
            return &t->indexes[i];
    return NULL;
}
