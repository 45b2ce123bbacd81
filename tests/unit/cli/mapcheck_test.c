/* Unit tests for cli/mapcheck: the problems run would refuse, from every mapping part, in one list. */
#include "../d1/d1_test_util.h"

#include "cli/mapcheck.h"

static Config *queue_config(void)
{
    static const char text[] = "{ \"source\": { \"dsn\": \"${DATABASE_URL}\" }, \"state_dir\": \"/nonexistent\",\n"
                               "  \"d1\": { \"app\": {} }, \"kv\": { \"cache\": {} }, \"queues\": { \"changes\": {} } }\n";
    Err err;
    Config *cfg = config_parse(text, sizeof text - 1, "wal2edge.jsonc", test_env, NULL, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    return cfg;
}

static bool has(const MapCheck *mc, const char *text)
{
    for (size_t i = 0; i < mc->problem_count; i++)
        if (strstr(mc->problems[i], text))
            return true;
    return false;
}

Test(mapcheck, every_part_of_a_mapping_is_checked)
{
    Config *cfg = queue_config();
    const char *texts[] = {
        ("{ \"table\": \"public.users\", \"queue\": { \"queue\": \"changes\", \"exclude\": [\"pasword_hash\"],"
         " \"route\": { \"column\": \"regoin\", \"queues\": { \"eu\": \"changes\" } } } }"),
        "{ \"table\": \"public.geo\", \"kv\": [ { \"namespace\": \"cache\", \"key\": \"geo:{idd}\", \"value\": \"row\" } ] }",
        "{ \"table\": \"public.gone\", \"queue\": { \"queue\": \"changes\" } }",
    };
    MappingSet *maps = test_maps(cfg, texts, 3);
    MapCheck mc;
    mapcheck_run(cfg, maps, &test_cat, &mc);
    cr_assert(has(&mc, "queue.exclude: table public.users has no column \"pasword_hash\""));
    cr_assert(has(&mc, "queue.route.column: table public.users has no column \"regoin\""));
    cr_assert(has(&mc, "unknown column \"idd\""));
    cr_assert(has(&mc, "table: table \"public.gone\" does not exist in the source database"));
    cr_assert_eq(mc.problem_count, 4, "%zu problems", mc.problem_count);
    mapcheck_clear(&mc);
    mapping_set_free(maps);
    config_free(cfg);
}

Test(mapcheck, a_good_mapping_has_no_problems)
{
    Config *cfg = queue_config();
    const char *texts[] = {
        ("{ \"table\": \"public.users\", \"d1\": { \"database\": \"app\" },"
         " \"kv\": [ { \"namespace\": \"cache\", \"key\": \"user:{id}\", \"value\": \"row\" } ],"
         " \"queue\": { \"queue\": \"changes\", \"exclude\": [\"password_hash\"] } }"),
    };
    MappingSet *maps = test_maps(cfg, texts, 1);
    MapCheck mc;
    mapcheck_run(cfg, maps, &test_cat, &mc);
    for (size_t i = 0; i < mc.problem_count; i++)
        cr_log_error("%s", mc.problems[i]);
    cr_assert_eq(mc.problem_count, 0);
    cr_assert_not_null(mc.schema);
    cr_assert_eq(mc.schema->table_count, 1);
    mapcheck_clear(&mc);
    mapping_set_free(maps);
    config_free(cfg);
}
