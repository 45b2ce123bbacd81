/*
 * Unit tests for daemon/standby's rule: wait while a walsender holds the slot, take it when it
 * is free or missing, and say which.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "daemon/standby.h"

Test(standby, waits_while_a_walsender_holds_the_slot)
{
    PgSlotFacts f = {.exists = true, .active = true, .active_pid = 4242};
    char why[256];
    cr_assert_eq(standby_judge(&f, "wal2edge", why, sizeof why), STANDBY_WAIT);
    cr_assert(strstr(why, "\"wal2edge\" is held by the walsender of PID 4242"), "%s", why);
    f.active_pid = 0; /* active without a pid (an older server's view): still held */
    cr_assert_eq(standby_judge(&f, "wal2edge", why, sizeof why), STANDBY_WAIT);
    cr_assert(strstr(why, "held by another instance"), "%s", why);
}

Test(standby, takes_a_free_or_missing_slot)
{
    PgSlotFacts f = {.exists = true, .active = false};
    char why[256];
    cr_assert_eq(standby_judge(&f, "s1", why, sizeof why), STANDBY_TAKE);
    cr_assert_str_eq(why, "replication slot \"s1\" is free");
    PgSlotFacts none = {.exists = false};
    cr_assert_eq(standby_judge(&none, "s1", why, sizeof why), STANDBY_TAKE);
    cr_assert(strstr(why, "does not exist"), "%s", why);
}

Test(standby, a_short_buffer_is_cut_not_overrun)
{
    PgSlotFacts f = {.exists = true, .active = true, .active_pid = 1};
    char why[12];
    memset(why, 'x', sizeof why);
    cr_assert_eq(standby_judge(&f, "a-long-slot-name", why, sizeof why), STANDBY_WAIT);
    cr_assert_eq(strlen(why), sizeof why - 1);
}

static const char *env(const char *name, void *user)
{
    (void)user;
    return strcmp(name, "DATABASE_URL") == 0 ? "postgresql://u@h/db" : strcmp(name, "T") == 0 ? "tok" : NULL;
}

static Config *parse(const char *text)
{
    Err err;
    Config *cfg = config_parse(text, strlen(text), "w.jsonc", env, NULL, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    return cfg;
}

#define CF "\"cloudflare\": { \"account_id\": \"a\", \"api_token\": \"${T}\" }, "

Test(standby, a_group_of_rest_targets_is_accepted)
{
    Config *cfg = parse("{ \"source\": { \"dsn\": \"${DATABASE_URL}\" }, " CF
                        "\"d1\": { \"app\": { \"database_id\": \"x\" } }, \"queues\": { \"q\": { \"queue_id\": \"y\" } },"
                        " \"r2\": { \"lake\": {} } }");
    Err err;
    cr_assert(standby_check_config(cfg, NULL, &err), "%s", err.msg);
    cr_assert_not(standby_check_config(cfg, "changes.ndjson", &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert(strstr(err.msg, "the change log (changes.ndjson) is a file of this machine"), "%s", err.msg);
    config_free(cfg);
}

Test(standby, an_embedded_target_is_named)
{
    Config *cfg = parse("{ \"source\": { \"dsn\": \"${DATABASE_URL}\" }, " CF
                        "\"d1\": { \"app\": { \"database_id\": \"x\" } }, \"kv\": { \"cache\": {} } }");
    Err err;
    cr_assert_not(standby_check_config(cfg, NULL, &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert(strstr(err.msg, "kv.cache is the embedded store"), "%s", err.msg);
    config_free(cfg);
}
