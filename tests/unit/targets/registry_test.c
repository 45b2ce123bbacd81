/* Unit tests for targets/registry: which configured targets the mappings use (with a --mapping
 * selection), and building only those, of the kinds asked for, in the config's order. */
#define _XOPEN_SOURCE 700
#include "../d1/d1_test_util.h"

#include <ftw.h>
#include <unistd.h>

#include "targets/registry.h"

static char dir[256];
static Config *cfg;
static MappingSet *maps;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/w2e-registry-XXXXXX", base && base[0] ? base : ".");
    cr_assert_not_null(mkdtemp(dir));
    char state[300];
    snprintf(state, sizeof state, "%s/state", dir);
    cfg = test_config(state); /* d1: app, other; kv: cache */
    const char *texts[] = {users_mapping};
    maps = test_maps(cfg, texts, 1); /* public.users -> d1.app */
}

static void teardown(void)
{
    mapping_set_free(maps);
    config_free(cfg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    log_redact_clear();
}

TestSuite(registry, .init = setup, .fini = teardown);

Test(registry, uses_only_what_a_selected_mapping_names)
{
    const ConfigTarget *app = config_target(cfg, TARGET_D1, "app");
    const ConfigTarget *other = config_target(cfg, TARGET_D1, "other");
    const ConfigTarget *cache = config_target(cfg, TARGET_KV, "cache");
    cr_assert(registry_mapping_uses(maps, app, NULL, 0));
    cr_assert_not(registry_mapping_uses(maps, other, NULL, 0));
    cr_assert_not(registry_mapping_uses(maps, cache, NULL, 0));
    char sel_users[] = "public.users", sel_none[] = "public.nobody";
    char *users[] = {sel_users}, *nobody[] = {sel_none};
    cr_assert(registry_mapping_uses(maps, app, users, 1));
    cr_assert_not(registry_mapping_uses(maps, app, nobody, 1), "a mapping left out by --mapping");
}

Test(registry, builds_the_used_targets_of_the_kinds_asked)
{
    Err err;
    TargetSet ts = {.count = 0};
    RegistryWant kv_only = {.kinds = 1u << TARGET_KV};
    cr_assert(registry_build(&ts, cfg, maps, &test_cat, &kv_only, &err), "%s", err.msg);
    cr_assert_eq(ts.count, 0, "no mapping uses kv.cache");
    cr_assert(registry_build(&ts, cfg, maps, &test_cat, NULL, &err), "%s", err.msg);
    cr_assert_eq(ts.count, 1, "d1.app only: d1.other is not mapped");
    cr_assert_str_eq(ts.items[0]->name, "d1.app");
    cr_assert_null(ts.client, "an embedded target needs no Cloudflare client");
    registry_free_targets(&ts);
    cr_assert_eq(ts.count, 0);
    registry_free_client(&ts);
}

Test(registry, a_failed_maker_is_not_added)
{
    Err err;
    TargetSet ts = {.count = 0};
    err_set(&err, ERR_IO, "made up");
    cr_assert_not(registry_add(&ts, NULL, &err));
    cr_assert_eq(ts.count, 0);
    cr_assert_str_eq(err.msg, "made up", "the maker's error stays");
}
