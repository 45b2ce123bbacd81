/* Unit tests for d1/ddl: mappings + catalog -> D1 tables, the checks `plan` reports, the DDL. */
#include "d1_test_util.h"

#include "d1/ddl.h"

static void fini(void) { log_redact_clear(); }
TestSuite(d1_ddl, .fini = fini);

Test(d1_ddl, users_table_ddl)
{
    Config *cfg = test_config("state");
    const char *texts[] = {users_mapping};
    MappingSet *maps = test_maps(cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &test_cat, NULL);
    cr_assert_eq(s->problem_count, 0, "%s", s->problem_count ? s->problems[0] : "");
    cr_assert_eq(s->table_count, 1);
    cr_assert_eq(s->warning_count, 1);
    cr_expect(strstr(s->warnings[0], "generated column \"total\"") != NULL, "%s", s->warnings[0]);
    const D1Table *t = d1_schema_table(s, "public.users");
    cr_assert_not_null(t);
    cr_expect_eq(t->col_count, 6);
    cr_expect_str_eq(t->unbounded, "email, full_name, avatar, tags");
    char *ddl = d1_ddl_table(t);
    cr_expect_str_eq(ddl,
                     "CREATE TABLE IF NOT EXISTS \"users\" (\n"
                     "  \"id\" INTEGER NOT NULL,\n"
                     "  \"email\" TEXT NOT NULL,\n"
                     "  \"full_name\" TEXT,\n"
                     "  \"avatar\" BLOB,\n"
                     "  \"score\" REAL,\n"
                     "  \"tags\" TEXT,\n"
                     "  PRIMARY KEY (\"id\"),\n"
                     "  UNIQUE (\"email\")\n"
                     ");\n"
                     "CREATE INDEX IF NOT EXISTS \"users_full_name_email_idx\" ON \"users\" (\"full_name\", \"email\");\n"
                     "CREATE INDEX IF NOT EXISTS \"users_full_name_idx\" ON \"users\" (\"full_name\");\n");
    free(ddl);
    ddl = d1_ddl_state_table();
    cr_expect(strstr(ddl, "\"_wal2edge_state\"") && strstr(ddl, "\"slot\" TEXT NOT NULL PRIMARY KEY"));
    cr_expect(strstr(ddl, "\"position\" TEXT NOT NULL DEFAULT ''") != NULL, "%s", ddl);
    free(ddl);
    size_t n;
    char **dbs = d1_schema_databases(s, &n);
    cr_expect_eq(n, 1);
    cr_expect_str_eq(dbs[0], "app");
    free(dbs[0]);
    free(dbs);
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(cfg);
}

Test(d1_ddl, excluded_index_column_drops_the_index)
{
    Config *cfg = test_config("state");
    const char *texts[] = {"{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", "
                           "\"exclude\": [\"email\"]}}"};
    MappingSet *maps = test_maps(cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &test_cat, "app");
    cr_assert_eq(s->problem_count, 0);
    cr_expect_eq(s->tables[0].index_count, 1); /* only users_name_idx */
    cr_expect_str_eq(s->tables[0].indexes[0].name, "users_name_idx");
    d1_schema_free(s);
    s = d1_schema_build(maps, &test_cat, "other");
    cr_expect_eq(s->table_count, 0);
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(cfg);
}


Test(d1_ddl, problems_name_file_line_col)
{
    d1_expect_problem("{\"table\": \"public.gone\", \"d1\": {\"database\": \"app\"}}",
                   "m0.jsonc:1:11: table: table \"public.gone\" does not exist in the source database");
    d1_expect_problem("{\"table\": \"public.users\",\n \"d1\": {\"database\": \"app\", \"exclude\": [\"nope\"]}}",
                   "m0.jsonc:2:40: d1.exclude[0]: public.users has no column \"nope\"");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"rename\": {\"x\": \"y\"}}}",
                   "m0.jsonc:1:64: d1.rename: public.users has no column \"x\"");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"exclude\": [\"id\"]}}",
                   "m0.jsonc:1:33: d1: primary key column \"id\" of public.users is excluded; D1 needs "
                   "it to apply updates and deletes (or set d1.primary_key)");
    d1_expect_problem("{\"table\": \"public.nokey\", \"d1\": {\"database\": \"app\"}}",
                   "m0.jsonc:1:33: d1: public.nokey has no primary key and no usable replica identity "
                   "(replica identity default): add a primary key, use ALTER TABLE public.nokey REPLICA "
                   "IDENTITY USING INDEX on a unique index, or set REPLICA IDENTITY FULL and name the "
                   "key in d1.primary_key");
    d1_expect_problem("{\"table\": \"public.nokey\", \"d1\": {\"database\": \"app\", \"primary_key\": [\"a\"]}}",
                   "m0.jsonc:1:68: d1.primary_key: (a) is not covered by the replica identity of "
                   "public.nokey, so deletes and key changes could not find the D1 row; use the "
                   "table's primary key or ALTER TABLE public.nokey REPLICA IDENTITY FULL");
    d1_expect_problem("{\"table\": \"public.geo\", \"d1\": {\"database\": \"app\"}}",
                   "m0.jsonc:1:31: d1: column \"where\" of public.geo has type \"point\", which has no "
                   "D1 equivalent (add \"types\": {\"where\": \"TEXT\"} to store its text, or "
                   "\"exclude\": [\"where\"])");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"rename\": {\"name\": \"EMAIL\"}}}",
                   "m0.jsonc:1:33: d1.rename: columns \"email\" and \"name\" of public.users would both "
                   "be D1 column \"EMAIL\"");
}

Test(d1_ddl, override_and_publication_warning)
{
    Config *cfg = test_config("state");
    const char *texts[] = {"{\"table\": \"public.geo\", \"d1\": {\"database\": \"app\", \"types\": {\"where\": \"TEXT\"}}}"};
    MappingSet *maps = test_maps(cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &test_cat, NULL);
    cr_assert_eq(s->problem_count, 0, "%s", s->problem_count ? s->problems[0] : "");
    cr_assert_eq(s->warning_count, 1);
    cr_expect_str_eq(s->warnings[0], "m0.jsonc:1:11: table: public.geo is not in publication "
                                     "\"wal2edge\", so `run` will not see its changes (ALTER "
                                     "PUBLICATION wal2edge ADD TABLE public.geo)");
    cr_expect_eq(s->tables[0].cols[1].type->affinity, D1_TEXT);
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(cfg);
}

Test(d1_ddl, too_many_columns)
{
    static CatColumn wide[120];
    static char names[120][8];
    for (int i = 0; i < 120; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        wide[i] = (CatColumn){names[i], (int16_t)(i + 1), 23, -1, "integer", true, false};
    }
    static const size_t wide_pk[] = {0};
    static const CatIndex wide_idx[] = {{"wide_pkey", true, true, false, false, false, wide_pk, 1}};
    CatTable tables[] = {{"public.wide", "public", "wide", true, 1, 'r', 'd', true, wide, 120, wide_idx, 1}};
    CatalogInfo cat = {150000, true, "wal2edge", tables, 1, NULL, 0, NULL, 0};
    Config *cfg = test_config("state");
    const char *texts[] = {"{\"table\": \"public.wide\", \"d1\": {\"database\": \"app\"}}"};
    MappingSet *maps = test_maps(cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &cat, NULL);
    cr_assert_eq(s->problem_count, 1);
    cr_expect_str_eq(s->problems[0], "m0.jsonc:1:32: d1: public.wide maps 120 columns to D1, over "
                                     "D1's limit of 100 per table (exclude some)");
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(cfg);
}
