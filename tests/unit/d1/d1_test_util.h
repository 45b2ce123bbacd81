/* Shared fixtures for the d1 unit tests: a hand-built catalog, mappings, Rels and tuples. */
#ifndef WAL2EDGE_TESTS_D1_TEST_UTIL_H
#define WAL2EDGE_TESTS_D1_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "d1/ddl.h"
#include "core/log.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/change.h"

/* public.users (id bigint pk, email text unique, name text, password_hash text, avatar bytea,
 * score float8, total int4 generated, tags text[]) */
static const CatColumn users_cols[] = {
    {"id", 1, 20, -1, "bigint", true, false},
    {"email", 2, 25, -1, "text", true, false},
    {"name", 3, 25, -1, "text", false, false},
    {"password_hash", 4, 25, -1, "text", true, false},
    {"avatar", 5, 17, -1, "bytea", false, false},
    {"score", 6, 701, -1, "double precision", false, false},
    {"total", 7, 23, -1, "integer", false, true},
    {"tags", 8, 1009, -1, "text[]", false, false},
};
static const size_t pk_cols[] = {0}, email_cols[] = {1}, name_cols[] = {2}, name_email_cols[] = {2, 1};
static const CatIndex users_indexes[] = {
    {"users_email_key", true, false, false, false, false, email_cols, 1},
    {"users_lower_idx", false, false, false, false, true, NULL, 0},
    {"users_name_email_idx", false, false, false, false, false, name_email_cols, 2},
    {"users_name_idx", false, false, false, false, false, name_cols, 1},
    {"users_pkey", true, true, false, false, false, pk_cols, 1},
};
static const CatColumn nokey_cols[] = {{"a", 1, 23, -1, "integer", false, false}};
static const CatColumn geo_cols[] = {{"id", 1, 23, -1, "integer", true, false},
                                     {"where", 2, 600, -1, "point", false, false}};
static const size_t geo_pk[] = {0};
static const CatIndex geo_indexes[] = {{"geo_pkey", true, true, false, false, false, geo_pk, 1}};
static const CatType test_types[] = {
    {.oid = 600, .schema = "pg_catalog", .name = "point", .formatted = "point", .typtype = 'b', .category = 'G'},
};
static const CatTable test_tables[] = {
    {"public.users", "public", "users", true, 16400, 'r', 'd', true, users_cols, 8, users_indexes, 5},
    {"public.nokey", "public", "nokey", true, 16401, 'r', 'd', true, nokey_cols, 1, NULL, 0},
    {"public.geo", "public", "geo", true, 16402, 'r', 'd', false, geo_cols, 2, geo_indexes, 1},
    {"public.gone", "public", "gone", false, 0, 0, 0, false, NULL, 0, NULL, 0},
};
static const CatalogInfo test_cat = {150000, true, "wal2edge", test_tables, 4, test_types, 1, NULL, 0};

static inline const char *test_env(const char *name, void *user)
{
    (void)user;
    return strcmp(name, "DATABASE_URL") == 0 ? "postgresql://u@127.0.0.1/db" : NULL;
}

static inline Config *test_config(const char *state_dir)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    fprintf(f, "{ \"source\": { \"dsn\": \"${DATABASE_URL}\" }, \"state_dir\": \"%s\",\n"
               "  \"d1\": { \"app\": {}, \"other\": {} }, \"kv\": { \"cache\": {} } }\n", state_dir);
    fclose(f);
    Err err;
    Config *cfg = config_parse(text, n, "wal2edge.jsonc", test_env, NULL, &err);
    free(text);
    cr_assert_not_null(cfg, "%s", err.msg);
    return cfg;
}

static inline MappingSet *test_maps(const Config *cfg, const char *const *texts, size_t n)
{
    MappingSet *set = mapping_set_new();
    Err err;
    for (size_t i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "m%zu.jsonc", i);
        cr_assert(mapping_set_add_text(set, cfg, texts[i], strlen(texts[i]), path, &err), "%s", err.msg);
    }
    cr_assert(mapping_set_check(set, &err), "%s", err.msg);
    return set;
}

static const char users_mapping[] =
    "{ \"table\": \"public.users\",\n"
    "  \"d1\": { \"database\": \"app\", \"table\": \"users\", \"exclude\": [\"password_hash\"],\n"
    "          \"rename\": { \"name\": \"full_name\" } } }";

/* A Rel like relcache_put builds for a catalog table (all columns, generated ones excluded). */
static inline Rel *test_rel(const CatTable *t)
{
    Rel *r = calloc(1, sizeof *r);
    r->oid = t->oid;
    r->nspname = strdup(t->schema);
    r->relname = strdup(t->name);
    r->qualname = strdup(t->qualname);
    r->replident = 'd';
    r->cols = calloc(t->col_count, sizeof *r->cols);
    for (size_t i = 0; i < t->col_count; i++) {
        if (t->cols[i].generated)
            continue;
        RelCol *c = &r->cols[r->ncols++];
        c->name = strdup(t->cols[i].name);
        c->type_oid = t->cols[i].type_oid;
        c->typmod = t->cols[i].typmod;
    }
    return r;
}

static inline void test_rel_free(Rel *r)
{
    for (size_t i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->nspname);
    free(r->relname);
    free(r->qualname);
    free(r);
}

/* A tuple from strings: NULL → 'n', "\x01u" → 'u', else 't'. cols must hold n entries. */
#define TOAST "\x01u"
static inline PgoTuple test_tuple(PgoCol *cols, const char *const *vals, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        if (!vals[i]) {
            cols[i] = (PgoCol){PGO_COL_NULL, 0, NULL};
        } else if (strcmp(vals[i], TOAST) == 0) {
            cols[i] = (PgoCol){PGO_COL_UNCHANGED, 0, NULL};
        } else {
            cols[i] = (PgoCol){PGO_COL_TEXT, (uint32_t)strlen(vals[i]), (const uint8_t *)vals[i]};
        }
    }
    PgoTuple t = {n, cols};
    return t;
}

/* A Change of rel from strings (test_tuple): newv / oldv of n columns, either may be NULL; the
 * tuples live in *buf, which must outlive the Change. */
#define TEST_MAX_COLS 32
typedef struct TestChangeBuf {
    PgoCol nc[TEST_MAX_COLS], oc[TEST_MAX_COLS];
    PgoTuple nt, ot;
} TestChangeBuf;
static inline Change test_change(TestChangeBuf *buf, Rel *rel, ChangeOp op, const char *const *newv,
                                 const char *const *oldv, uint8_t old_kind, uint16_t n)
{
    Change c = {.op = op, .rel = rel};
    if (newv) {
        buf->nt = test_tuple(buf->nc, newv, n);
        c.new_tuple = &buf->nt;
    }
    if (oldv) {
        buf->ot = test_tuple(buf->oc, oldv, n);
        c.old_tuple = &buf->ot;
        c.old_kind = old_kind;
    }
    return c;
}

/* The schema of one mapping has no table and its first problem is `problem`. */
static inline void d1_expect_problem(const char *mapping, const char *problem)
{
    Config *cfg = test_config("state");
    const char *texts[] = {mapping};
    MappingSet *maps = test_maps(cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &test_cat, NULL);
    cr_expect_eq(s->table_count, 0);
    cr_assert_geq(s->problem_count, 1, "no problem for %s", mapping);
    cr_expect_str_eq(s->problems[0], problem);
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(cfg);
}

#endif
