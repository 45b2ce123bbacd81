/* Unit tests for mapping/mapping: the mapping file contract and its file:line:col errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/log.h"
#include "mapping/mapping.h"

static const char *test_env(const char *name, void *user)
{
    (void)user;
    if (strcmp(name, "DATABASE_URL") == 0)
        return "postgresql://u@127.0.0.1/db";
    return NULL;
}

static Config *test_config(void)
{
    static const char text[] =
        "{ \"source\": { \"dsn\": \"${DATABASE_URL}\" },\n"
        "  \"d1\": { \"app\": {}, \"other\": {} }, \"kv\": { \"cache\": {} },\n"
        "  \"queues\": { \"changes\": {} }, \"r2\": { \"lake\": {} } }\n";
    Err err;
    Config *cfg = config_parse(text, strlen(text), "wal2edge.jsonc", test_env, NULL, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    return cfg;
}

static void fini(void) { log_redact_clear(); }
TestSuite(mapping, .fini = fini);

/* Parse one file; returns the set (NULL on error, message in err). */
static MappingSet *parse_one(const Config *cfg, const char *text, Err *err)
{
    MappingSet *set = mapping_set_new();
    if (!mapping_set_add_text(set, cfg, text, strlen(text), "mappings/t.jsonc", err) ||
        !mapping_set_check(set, err)) {
        mapping_set_free(set);
        return NULL;
    }
    return set;
}

static void expect_error(const char *text, const char *msg)
{
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, text, &err);
    cr_assert_null(set, "expected an error for %s", text);
    cr_expect_eq(err.code, ERR_CONFIG);
    cr_expect_str_eq(err.msg, msg);
    config_free(cfg);
}

Test(mapping, product_example_loads)
{
    static const char text[] =
        "// users\n"
        "{\n"
        "  \"table\": \"public.users\",\n"
        "  \"d1\": { \"database\": \"app\", \"table\": \"users\", \"exclude\": [\"password_hash\"],\n"
        "          \"rename\": {\"name\": \"full_name\"}, \"types\": {\"id\": \"text\"}, "
        "\"primary_key\": [\"id\"] },\n"
        "  \"kv\": [ { \"namespace\": \"cache\", \"key\": \"user:{id}\", \"value\": \"row\", \"ttl\": 3600 },\n"
        "          { \"namespace\": \"cache\", \"key\": \"user:email:{email}\", \"value\": \"{id}\" }, ],\n"
        "  \"queue\": { \"queue\": \"changes\" },\n"
        "  \"snapshot\": { \"bucket\": \"lake\", \"prefix\": \"bronze/users\" },\n"
        "}\n";
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, text, &err);
    cr_assert_not_null(set, "%s", err.msg);
    const Mapping *m = mapping_set_find(set, "public.users");
    cr_assert_not_null(m);
    cr_expect_null(mapping_set_find(set, "public.other"));
    cr_expect_str_eq(m->schema, "public");
    cr_expect_str_eq(m->relname, "users");
    cr_expect(m->d1.present);
    cr_expect_str_eq(m->d1.database, "app");
    cr_expect_str_eq(m->d1.table, "users");
    cr_expect(mapping_d1_excludes(m, "password_hash"));
    cr_expect_not(mapping_d1_excludes(m, "id"));
    cr_expect_str_eq(mapping_d1_column_name(m, "name"), "full_name");
    cr_expect_str_eq(mapping_d1_column_name(m, "email"), "email");
    cr_expect_str_eq(mapping_d1_type_override(m, "id"), "TEXT");
    cr_expect_null(mapping_d1_type_override(m, "email"));
    cr_expect_eq(m->d1.primary_key_count, 1);
    cr_expect_eq(m->kv_count, 2);
    cr_expect_eq(m->kv[0].ttl, 3600);
    cr_expect_str_eq(m->kv[1].value, "{id}");
    cr_expect_str_eq(m->queue, "changes");
    cr_expect_str_eq(m->snapshot_bucket, "lake");
    cr_expect_str_eq(m->snapshot_prefix, "bronze/users");
    cr_expect_not_null(m->queue_node);
    mapping_set_free(set);
    config_free(cfg);
}

Test(mapping, d1_table_defaults_to_relname)
{
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, "{\"table\":\"s.t\",\"d1\":{\"database\":\"app\"}}", &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_str_eq(set->items[0].d1.table, "t");
    mapping_set_free(set);
    config_free(cfg);
}

Test(mapping, errors_name_file_line_col_and_key)
{
    expect_error("{\n  \"table\": \"public.users\",\n  \"d1\": { \"database\": \"app\", \"tabel\": \"u\" }\n}",
                 "mappings/t.jsonc:3:30: d1: unknown key \"tabel\" (did you mean \"table\"?)");
    expect_error("{\n  \"table\": \"users\",\n  \"queue\": {\"queue\": \"changes\"}\n}",
                 "mappings/t.jsonc:2:12: table: \"users\" is not \"schema.name\" (for example "
                 "\"public.users\")");
    expect_error("{\"table\": \"a.b\",\n \"d1\": {\"database\": \"nope\"}}",
                 "mappings/t.jsonc:2:21: d1.database: \"nope\" is not a d1 target of wal2edge.jsonc "
                 "(it has \"app\", \"other\")");
    expect_error("{\"table\": \"a.b\", \"kv\": [{\"namespace\": \"cache\", \"key\": \"k:{id\", \"value\": \"row\"}]}",
                 "mappings/t.jsonc:1:55: kv[0].key: bad placeholder in \"k:{id\" (write {column})");
    expect_error("{\"table\": \"a.b\", \"kv\": [{\"namespace\": \"cache\", \"key\": \"k\", \"value\": \"row\", \"ttl\": 5}]}",
                 "mappings/t.jsonc:1:83: kv[0].ttl: must be a whole number of seconds, at least 60 "
                 "(the KV minimum)");
    expect_error("{\"table\": \"a.b\", \"queue\": {\"queue\": \"q2\"}}",
                 "mappings/t.jsonc:1:37: queue.queue: \"q2\" is not a queues target of wal2edge.jsonc "
                 "(it has \"changes\")");
    expect_error("{\"table\": \"a.b\", \"snapshot\": {\"prefix\": \"x\"}}",
                 "mappings/t.jsonc:1:30: snapshot: missing required key \"bucket\"");
    expect_error("{\"table\": \"a.b\"}",
                 "mappings/t.jsonc:1:1: the mapping sends \"a.b\" nowhere (add \"d1\", \"kv\", "
                 "\"queue\" or \"snapshot\")");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"types\": {\"x\": \"VARCHAR\"}}}",
                 "mappings/t.jsonc:1:59: d1.types.x: \"VARCHAR\" is not a D1 type (use INTEGER, REAL, "
                 "TEXT or BLOB)");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"table\": \"_wal2edge_state\"}}",
                 "mappings/t.jsonc:1:53: d1.table: \"_wal2edge_state\" is reserved (sqlite_*, _cf_*, "
                 "_wal2edge_state and d1_migrations belong to SQLite, D1, wal2edge and wrangler)");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"exclude\": [\"x\"], \"primary_key\": [\"x\"]}}",
                 "mappings/t.jsonc:1:78: d1.primary_key: column \"x\" is also in d1.exclude");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"exclude\": \"x\"}}",
                 "mappings/t.jsonc:1:55: d1.exclude: expected an array, got string");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\"}, \"extra\": 1}",
                 "mappings/t.jsonc:1:45: unknown key \"extra\"");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"rename\": {\"x\": \"y\", \"z\": \"Y\"}}}",
                 "mappings/t.jsonc:1:65: d1.rename: columns \"x\" and \"z\" are both renamed to \"Y\"");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\"}",
                 "mappings/t.jsonc:1:1: invalid JSON: unterminated object");
}

Test(mapping, on_error_per_target_section)
{
    static const char text[] =
        "{\"table\": \"a.b\",\n"
        " \"d1\": {\"database\": \"app\", \"on_error\": \"skip\"},\n"
        " \"kv\": [{\"namespace\": \"cache\", \"key\": \"k:{id}\", \"value\": \"row\"},\n"
        "        {\"namespace\": \"cache\", \"key\": \"e:{id}\", \"value\": \"row\", \"on_error\": \"skip\"}],\n"
        " \"queue\": {\"queue\": \"changes\", \"on_error\": \"stop\"}}\n";
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, text, &err);
    cr_assert_not_null(set, "%s", err.msg);
    const Mapping *m = &set->items[0];
    cr_expect_eq(m->d1.on_error, MAP_ON_ERROR_SKIP);
    cr_expect_eq(m->kv[0].on_error, MAP_ON_ERROR_STOP, "the default is stop");
    cr_expect_eq(m->kv[1].on_error, MAP_ON_ERROR_SKIP);
    cr_expect_eq(m->queue_on_error, MAP_ON_ERROR_STOP);
    cr_expect_str_eq(mapping_on_error_name(m->d1.on_error), "skip");
    mapping_set_free(set);
    set = parse_one(cfg, "{\"table\": \"a.b\", \"queue\": {\"queue\": \"changes\"}}", &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_eq(set->items[0].queue_on_error, MAP_ON_ERROR_STOP);
    cr_expect_eq(set->items[0].d1.on_error, MAP_ON_ERROR_STOP);
    mapping_set_free(set);
    config_free(cfg);

    expect_error("{\"table\": \"a.b\",\n \"d1\": {\"database\": \"app\", \"on_error\": \"ignore\"}}",
                 "mappings/t.jsonc:2:40: d1.on_error: \"ignore\" is not an on_error policy (use \"stop\" or "
                 "\"skip\")");
    expect_error("{\"table\": \"a.b\", \"kv\": [{\"namespace\": \"cache\", \"key\": \"k\", \"value\": \"row\", "
                 "\"on_error\": true}]}",
                 "mappings/t.jsonc:1:88: kv[0].on_error: expected a string, got boolean");
    expect_error("{\"table\": \"a.b\", \"queue\": {\"queue\": \"changes\", \"on_error\": \"Skip\"}}",
                 "mappings/t.jsonc:1:60: queue.on_error: \"Skip\" is not an on_error policy (use \"stop\" or "
                 "\"skip\")");
}

Test(mapping, on_schema_change_per_mapping)
{
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, "{\"table\": \"a.b\", \"d1\": {\"database\": \"app\"}}", &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_eq(set->items[0].on_schema_change, MAP_SCHEMA_EVOLVE, "the default is evolve");
    cr_expect_str_eq(mapping_on_schema_change_name(set->items[0].on_schema_change), "evolve");
    mapping_set_free(set);
    set = parse_one(cfg, "{\"table\": \"a.b\", \"on_schema_change\": \"stop\", \"d1\": {\"database\": \"app\"}}",
                    &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_eq(set->items[0].on_schema_change, MAP_SCHEMA_STOP);
    mapping_set_free(set);
    config_free(cfg);
    expect_error("{\"table\": \"a.b\", \"on_schema_change\": \"ignore\", \"d1\": {\"database\": \"app\"}}",
                 "mappings/t.jsonc:1:38: on_schema_change: \"ignore\" is not an on_schema_change policy (use "
                 "\"evolve\" or \"stop\")");
    expect_error("{\"table\": \"a.b\", \"on_schema_change\": 1, \"d1\": {\"database\": \"app\"}}",
                 "mappings/t.jsonc:1:38: on_schema_change: expected a string, got number");
}

Test(mapping, two_writers_of_one_d1_table_name_both_files)
{
    Config *cfg = test_config();
    Err err;
    MappingSet *set = mapping_set_new();
    static const char a[] = "{\"table\": \"public.a\", \"d1\": {\"database\": \"app\", \"table\": \"t\"}}";
    static const char b[] = "{\n\"table\": \"public.b\",\n\"d1\": {\"database\": \"app\", \"table\": \"T\"}}";
    static const char c[] = "{\"table\": \"public.a\", \"queue\": {\"queue\": \"changes\"}}";
    cr_assert(mapping_set_add_text(set, cfg, a, strlen(a), "mappings/a.jsonc", &err), "%s", err.msg);
    cr_assert(mapping_set_add_text(set, cfg, b, strlen(b), "mappings/b.jsonc", &err), "%s", err.msg);
    cr_assert_not(mapping_set_check(set, &err));
    cr_expect_str_eq(err.msg, "mappings/b.jsonc:3:36: d1.table: D1 table \"T\" of database \"app\" is "
                              "also written by mappings/a.jsonc:1:58 (public.a); one source table per "
                              "D1 table");
    mapping_set_free(set);

    set = mapping_set_new();
    cr_assert(mapping_set_add_text(set, cfg, a, strlen(a), "mappings/a.jsonc", &err), "%s", err.msg);
    cr_assert(mapping_set_add_text(set, cfg, c, strlen(c), "mappings/c.jsonc", &err), "%s", err.msg);
    cr_assert_not(mapping_set_check(set, &err));
    cr_expect(strstr(err.msg, "mappings/c.jsonc:1:11: table: \"public.a\" is already mapped by "
                              "mappings/a.jsonc:1:11") != NULL, "%s", err.msg);
    mapping_set_free(set);
    config_free(cfg);
}

Test(mapping, load_reads_the_configured_files)
{
    Config *cfg = test_config();
    Err err;
    cfg->mapping_files = calloc(1, sizeof(char *));
    cfg->mapping_files[0] = strdup(WAL2EDGE_FIXTURES "/../../mappings/users.jsonc");
    cfg->mapping_file_count = 1;
    MappingSet *set = mapping_set_load(cfg, &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_not_null(mapping_set_find(set, "public.users"));
    mapping_set_free(set);
    cfg->mapping_files[0][strlen(cfg->mapping_files[0]) - 1] = 'x';
    cr_expect_null(mapping_set_load(cfg, &err));
    cr_expect(strstr(err.msg, "cannot open mapping file") != NULL, "%s", err.msg);
    config_free(cfg);
}

Test(mapping, d1_database_list_with_shard_by)
{
    Config *cfg = test_config();
    Err err;
    MappingSet *set = parse_one(cfg, "{\"table\":\"s.t\",\"d1\":{\"database\":[\"app\",\"other\"],"
                                     "\"shard_by\":[\"tenant_id\", \"id\"]}}", &err);
    cr_assert_not_null(set, "%s", err.msg);
    const Mapping *m = &set->items[0];
    cr_expect_str_eq(m->d1.database, "app");
    cr_assert_eq(m->d1.database_count, 2);
    cr_expect_str_eq(m->d1.databases[1], "other");
    cr_assert_eq(m->d1.shard_by_count, 2);
    cr_expect_str_eq(m->d1.shard_by[0].name, "tenant_id");
    cr_expect(mapping_d1_sharded(m));
    cr_expect_eq(mapping_d1_database_index(m, "other"), 1);
    cr_expect_eq(mapping_d1_database_index(m, "nope"), -1);
    mapping_set_free(set);
    /* a list of one database is the single-database form */
    set = parse_one(cfg, "{\"table\":\"s.t\",\"d1\":{\"database\":[\"other\"]}}", &err);
    cr_assert_not_null(set, "%s", err.msg);
    cr_expect_not(mapping_d1_sharded(&set->items[0]));
    cr_expect_eq(mapping_d1_database_index(&set->items[0], "other"), 0);
    cr_expect_eq(mapping_d1_database_index(&set->items[0], "app"), -1);
    mapping_set_free(set);
    config_free(cfg);
}

Test(mapping, d1_shard_errors)
{
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"other\"]}}",
                 "mappings/t.jsonc:1:37: d1.database: 2 databases need \"shard_by\": the columns whose values "
                 "pick a row's database (docs/sharding.md)");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": \"app\", \"shard_by\": [\"id\"]}}",
                 "mappings/t.jsonc:1:44: d1.shard_by: needs a list of at least two databases in d1.database "
                 "to spread the rows over");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"app\"], \"shard_by\": [\"id\"]}}",
                 "mappings/t.jsonc:1:45: d1.database[1]: \"app\" is listed twice (each shard is its own database)");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"nope\"], \"shard_by\": [\"id\"]}}",
                 "mappings/t.jsonc:1:45: d1.database[1]: \"nope\" is not a d1 target of wal2edge.jsonc "
                 "(it has \"app\", \"other\")");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": []}}",
                 "mappings/t.jsonc:1:37: d1.database: a list of 0 databases (name 1 to 1024)");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": 3}}",
                 "mappings/t.jsonc:1:37: d1.database: expected a d1 target's name or a list of them (shards), "
                 "got number");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": []}}",
                 "mappings/t.jsonc:1:67: d1.shard_by: must name 1 to 64 columns");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": [\"id\", \"id\"]}}",
                 "mappings/t.jsonc:1:74: d1.shard_by[1]: \"id\" is listed twice");
    expect_error("{\"table\": \"a.b\", \"d1\": {\"database\": [\"app\", \"other\"], \"exclude\": [\"t\"], "
                 "\"shard_by\": [\"t\"]}}",
                 "mappings/t.jsonc:1:86: d1.shard_by: column \"t\" is also in d1.exclude (D1 rows must carry "
                 "their shard key)");
    /* one D1 table, two writers: also when one of them is a shard */
    Config *cfg = test_config();
    MappingSet *set = mapping_set_new();
    Err err;
    const char *x = "{\"table\": \"a.x\", \"d1\": {\"database\": [\"app\", \"other\"], \"table\": \"t\", \"shard_by\": [\"id\"]}}";
    const char *y = "{\"table\": \"a.y\", \"d1\": {\"database\": \"other\", \"table\": \"T\"}}";
    cr_assert(mapping_set_add_text(set, cfg, x, strlen(x), "x.jsonc", &err), "%s", err.msg);
    cr_assert(mapping_set_add_text(set, cfg, y, strlen(y), "y.jsonc", &err), "%s", err.msg);
    cr_assert_not(mapping_set_check(set, &err));
    cr_expect(strstr(err.msg, "D1 table \"T\" of database \"other\" is also written by x.jsonc") != NULL, "%s", err.msg);
    mapping_set_free(set);
    config_free(cfg);
}
