/* Unit tests for config/config: the wal2edge.jsonc contract, its errors and its secrets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"

#define CANARY "canary-7Hq2-do-not-print"

static const char *fake_env(const char *name, void *user)
{
    (void)user;
    static const char *const vars[][2] = {
        {"DATABASE_URL", "postgresql://app:" CANARY "@127.0.0.1:5432/shop"},
        {"CLOUDFLARE_API_TOKEN", CANARY "-token"},
        {"CLOUDFLARE_ACCOUNT_ID", "acc123"},
        {"R2_SECRET_ACCESS_KEY", CANARY "-r2"},
        {"R2_ACCESS_KEY_ID", "AKIDEXAMPLE"},
        {"EMPTY", ""},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strcmp(name, vars[i][0]) == 0)
            return vars[i][1];
    return NULL;
}

static const char *no_env(const char *name, void *user)
{
    (void)name;
    (void)user;
    return NULL;
}

static Config *parse_with(const char *text, EnvLookup env, Err *err)
{
    return config_parse(text, strlen(text), WAL2EDGE_FIXTURES "/config/wal2edge.jsonc", env, NULL, err);
}

static void teardown(void) { log_redact_clear(); }
TestSuite(config, .fini = teardown);

static const char full_config[] =
    "// the PRODUCT.md example, with comments and trailing commas\n"
    "{\n"
    "  \"source\": { \"dsn\": \"${DATABASE_URL}\", \"publication\": \"pub1\", \"slot\": \"slot_1\", },\n"
    "  \"state_dir\": \"state\",\n"
    "  \"cloudflare\": { \"account_id\": \"${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"${CLOUDFLARE_API_TOKEN}\",\n"
    "                  \"api_base_url\": \"${CLOUDFLARE_API_BASE_URL:-https://api.cloudflare.com/client/v4/}\" },\n"
    "  \"d1\":     { \"app\":     { \"database_id\": \"d1-uuid\" }, \"local\": { \"migrations_dir\": \"migrations\" } },\n"
    "  \"kv\":     { \"cache\":   { \"namespace_id\": \"${EMPTY:-}\" } },\n"
    "  \"queues\": { \"changes\": { \"queue_id\": \"q1\" } },\n"
    "  \"r2\":     { \"lake\":    { \"bucket\": \"lake\", \"endpoint\": \"https://acc123.r2.cloudflarestorage.com\" } },\n"
    "  \"mappings\": [\"mappings/*.jsonc\", \"mappings/a.jsonc\"],\n"
    "}\n";

Test(config, full_example_loads_with_env_and_defaults)
{
    Err err;
    Config *cfg = parse_with(full_config, fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_str_eq(secret_reveal(cfg->source.dsn), "postgresql://app:" CANARY "@127.0.0.1:5432/shop");
    cr_assert_str_eq(cfg->source.publication, "pub1");
    cr_assert_str_eq(cfg->source.slot, "slot_1");
    cr_assert_str_eq(cfg->state_dir, WAL2EDGE_FIXTURES "/config/state");
    cr_assert_str_eq(cfg->cloudflare.account_id, "acc123");
    cr_assert_str_eq(secret_reveal(cfg->cloudflare.api_token), CANARY "-token");
    cr_assert_str_eq(cfg->cloudflare.api_base_url, "https://api.cloudflare.com/client/v4");
    cr_assert_eq(cfg->target_count, 5);
    const ConfigTarget *app = config_target(cfg, TARGET_D1, "app");
    cr_assert_str_eq(app->remote_id, "d1-uuid");
    cr_assert_not(target_is_embedded(app));
    const ConfigTarget *local = config_target(cfg, TARGET_D1, "local");
    cr_assert(target_is_embedded(local));
    cr_assert_str_eq(local->embedded_path, WAL2EDGE_FIXTURES "/config/state/d1/local.sqlite");
    cr_assert_str_eq(local->migrations_dir, WAL2EDGE_FIXTURES "/config/migrations", "relative to the config file");
    cr_assert_null(app->migrations_dir);
    const ConfigTarget *cache = config_target(cfg, TARGET_KV, "cache");
    cr_assert(target_is_embedded(cache), "an empty id means embedded");
    cr_assert_str_eq(cache->embedded_path, WAL2EDGE_FIXTURES "/config/state/kv/cache.sqlite");
    cr_assert_str_eq(config_target(cfg, TARGET_QUEUE, "changes")->embedded_path,
                     WAL2EDGE_FIXTURES "/config/state/queues/changes.ndjson");
    const ConfigTarget *lake = config_target(cfg, TARGET_R2, "lake");
    cr_assert_str_eq(lake->access_key_id, "AKIDEXAMPLE", "R2 keys fall back to the environment");
    cr_assert_str_eq(secret_reveal(lake->secret_access_key), CANARY "-r2");
    cr_assert_eq(cfg->mapping_file_count, 2, "globs resolve relative to the config and dedupe");
    cr_assert_str_eq(cfg->mapping_files[0], WAL2EDGE_FIXTURES "/config/mappings/a.jsonc");
    cr_assert_str_eq(cfg->mapping_files[1], WAL2EDGE_FIXTURES "/config/mappings/b.jsonc");
    cr_assert_eq(cfg->warning_count, 0);
    config_free(cfg);
}

Test(config, defaults_for_a_minimal_file)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"host=/tmp dbname=x\"}}", no_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_str_eq(cfg->source.publication, "wal2edge");
    cr_assert_str_eq(cfg->source.slot, "wal2edge");
    cr_assert_str_eq(cfg->state_dir, WAL2EDGE_FIXTURES "/config/.wal2edge");
    cr_assert_str_eq(cfg->cloudflare.api_base_url, CONFIG_DEFAULT_API_BASE_URL);
    cr_assert_null(cfg->cloudflare.api_token);
    cr_assert_eq(cfg->target_count, 0);
    config_free(cfg);
}

static void expect_error(const char *text, const char *message)
{
    Err err;
    Config *cfg = parse_with(text, fake_env, &err);
    cr_assert_null(cfg, "accepted: %s", text);
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert_eq(err_exit_code(&err), 2);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s/config/wal2edge.jsonc:%s", WAL2EDGE_FIXTURES, message);
    cr_assert_str_eq(err.msg, expected);
}

Test(config, every_error_form)
{
    /* bad JSON, with line:column */
    expect_error("{\n  \"source\": {\n    \"dsn\": \"x\"\n    \"slot\": \"s\"\n  }\n}",
                 "4:5: invalid JSON: expected ',' or '}' after object member");
    /* unknown key, with a suggestion */
    expect_error("{\"source\": {\"dsn\": \"x\"},\n  \"d1\": {\n    \"app\": {\n    \"databse_id\": \"x\" } } }",
                 "4:5: d1.app: unknown key \"databse_id\" (did you mean \"database_id\"?)");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"zzz\": 1}", "1:26: unknown key \"zzz\"");
    /* missing required key */
    expect_error("{}", "1:1: missing required key \"source\"");
    expect_error("{\"source\": {\"slot\": \"s\"}}", "1:12: source: missing required key \"dsn\"");
    /* wrong type */
    expect_error("{\"source\": {\"dsn\": 5}}", "1:20: source.dsn: expected a string, got number");
    expect_error("{\"source\": []}", "1:12: source: expected an object, got array");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"d1\": {\"app\": \"id\"}}", "1:40: d1.app: expected an object, got string");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"mappings\": [1]}", "1:39: mappings[0]: expected a string, got number");
    /* unset variable without a default */
    expect_error("{\"source\": {\"dsn\": \"${NOT_SET_ANYWHERE}\"}}",
                 "1:20: source.dsn: environment variable \"NOT_SET_ANYWHERE\" is not set (use "
                 "${NOT_SET_ANYWHERE:-default} to give a default)");
    /* values */
    expect_error("{\"source\": {\"dsn\": \"x\", \"slot\": \"Bad-Slot\"}}",
                 "1:33: source.slot: \"Bad-Slot\" is not a valid replication slot name (1-63 of a-z, 0-9, _)");
    expect_error("{\"source\": {\"dsn\": \"\"}}", "1:20: source.dsn: is empty (set it to a libpq connection string or URI)");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"cloudflare\": {\"api_base_url\": \"http://api.example.com\"}}",
                 "1:57: cloudflare.api_base_url: \"http://api.example.com\" must be an https:// URL "
                 "(plain http only to 127.0.0.1 or localhost)");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"mappings\": [\"nope/missing.jsonc\"]}",
                 "1:39: mappings[0]: mapping file \"nope/missing.jsonc\" not found");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"kv\": {\"bad name\": {}}}",
                 "1:33: kv: \"bad name\" is not a valid target name (1-64 of A-Z, a-z, 0-9, _, -)");
}

Test(config, loopback_http_is_allowed_for_the_local_edge)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"x\"}, \"cloudflare\": {\"api_base_url\": "
                             "\"http://127.0.0.1:8787/client/v4\"}}",
                             fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    config_free(cfg);
}

Test(config, warnings_for_literal_secrets_and_empty_globs)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"postgresql://u:literalpw@h/db\"},\n"
                             " \"cloudflare\": {\"api_token\": \"literal-token\"},\n"
                             " \"mappings\": \"none/*.jsonc\"}",
                             no_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->warning_count, 3);
    cr_assert(strstr(cfg->warnings[0], ":1:20: source.dsn: contains a password written in the file"), "%s", cfg->warnings[0]);
    cr_assert(strstr(cfg->warnings[1], ":2:30: cloudflare.api_token: written in the file"), "%s", cfg->warnings[1]);
    cr_assert(strstr(cfg->warnings[2], ":3:14: mappings[0]: no file matches \"none/*.jsonc\""), "%s", cfg->warnings[2]);
    for (size_t i = 0; i < cfg->warning_count; i++)
        cr_assert_null(strstr(cfg->warnings[i], "literalpw"));
    config_free(cfg);
}

Test(config, dump_redacts_every_secret)
{
    Err err;
    Config *cfg = parse_with(full_config, fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    char *dump = config_dump_json(cfg);
    cr_assert_null(strstr(dump, CANARY), "secret in dump: %s", dump);
    cr_assert_not_null(strstr(dump, "postgresql://app:[redacted]@127.0.0.1:5432/shop"), "%s", dump);
    cr_assert_not_null(strstr(dump, "\"api_token\": \"[redacted]\""), "%s", dump);
    cr_assert_not_null(strstr(dump, "\"secret_access_key\": \"[redacted]\""), "%s", dump);
    free(dump);
    /* and the logger knows every one of them */
    char *line = log_redact("dsn " CANARY " token " CANARY "-token r2 " CANARY "-r2");
    cr_assert_null(strstr(line, CANARY), "%s", line);
    free(line);
    config_free(cfg);
}

Test(config, load_reports_a_missing_file_as_config_error)
{
    Err err;
    cr_assert_null(config_load("/nonexistent/wal2edge.jsonc", no_env, NULL, &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert(strstr(err.msg, "config file \"/nonexistent/wal2edge.jsonc\" not found"), "%s", err.msg);
}

Test(config, run_intervals)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"x\"}, \"run\": {\"flush_interval_ms\": 50}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->run.flush_interval_ms, 50);
    cr_assert_eq(cfg->run.status_interval_ms, 10000);
    config_free(cfg);
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"run\": {\"flush_interval_ms\": 0}}",
                 "1:55: run.flush_interval_ms: must be an integer from 10 to 60000");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"run\": {\"flush_intervall_ms\": 5}}",
                 "1:34: run: unknown key \"flush_intervall_ms\" (did you mean \"flush_interval_ms\"?)");
}

Test(config, metrics_listen)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"x\"}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_null(cfg->metrics.listen, "absent: no listener");
    cr_assert_eq(cfg->metrics.ready_max_lag_seconds, 60);
    config_free(cfg);
    cfg = parse_with("{\"source\": {\"dsn\": \"x\"}, \"metrics\": {\"listen\": \"[::1]:9187\", "
                     "\"ready_max_lag_seconds\": 5}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_str_eq(cfg->metrics.listen, "[::1]:9187");
    cr_assert_eq(cfg->metrics.ready_max_lag_seconds, 5);
    config_free(cfg);
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"metrics\": {\"listen\": \"9187\"}}",
                 "1:48: metrics.listen: \"9187\" is not HOST:PORT (e.g. \"127.0.0.1:9187\" or \"[::1]:9187\")");
    expect_error("{\"source\": {\"dsn\": \"x\"}, \"metrics\": {\"ready_max_lag_seconds\": 0}}",
                 "1:63: metrics.ready_max_lag_seconds: must be an integer from 1 to 86400");
}

Test(config, heartbeat_and_wal_guard)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"x\"}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->source.heartbeat_interval_ms, 10000);
    cr_assert_eq(cfg->source.max_retained_wal_bytes, 10LL * 1024 * 1024 * 1024);
    config_free(cfg);
    cfg = parse_with("{\"source\": {\"dsn\": \"x\", \"heartbeat_interval_ms\": 0, "
                     "\"max_retained_wal_bytes\": 53687091200}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->source.heartbeat_interval_ms, 0, "0 turns heartbeats off");
    cr_assert_eq(cfg->source.max_retained_wal_bytes, 53687091200LL, "above 2^32");
    config_free(cfg);
    expect_error("{\"source\": {\"dsn\": \"x\", \"max_retained_wal_bytes\": 0}}",
                 "1:51: source.max_retained_wal_bytes: must be an integer from 1 to 9223372036854775807");
}

static int failover_slot_of(const char *json)
{
    Err err;
    Config *cfg = parse_with(json, fake_env, &err);
    cr_assert_not_null(cfg, "%s: %s", json, err.msg);
    int v = cfg->source.failover_slot;
    config_free(cfg);
    return v;
}

Test(config, failover_slot)
{
    cr_assert_eq(failover_slot_of("{\"source\": {\"dsn\": \"x\"}}"), -1, "unset: the server's release decides");
    cr_assert_eq(failover_slot_of("{\"source\": {\"dsn\": \"x\", \"failover_slot\": false}}"), 0);
    cr_assert_eq(failover_slot_of("{\"source\": {\"dsn\": \"x\", \"failover_slot\": true}}"), 1);
    expect_error("{\"source\": {\"dsn\": \"x\", \"failover_slot\": \"yes\"}}",
                 "1:42: source.failover_slot: expected a boolean, got string");
}

Test(config, fence_interval)
{
    Err err;
    Config *cfg = parse_with("{\"source\": {\"dsn\": \"x\"}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->run.fence_interval_ms, 5000);
    config_free(cfg);
    cfg = parse_with("{\"source\": {\"dsn\": \"x\"}, \"run\": {\"fence_interval_ms\": 1000}}", fake_env, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(cfg->run.fence_interval_ms, 1000);
    config_free(cfg);
}
