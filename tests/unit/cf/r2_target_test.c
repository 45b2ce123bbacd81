/* Unit tests for cf/r2_target: a client from a config target, and the messages for a target
 * without credentials or with a bad bucket (named, no secret in them). No request is made. */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/r2_target.h"

static Config cfg;
static ConfigTarget target;
static char account[] = "acc123", name[] = "snaps", bucket[] = "bucket-a", bad_bucket[] = "a/b",
            akid[] = "AKID", ftp[] = "ftp://example.com";

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    memset(&target, 0, sizeof target);
    cfg.cloudflare.account_id = account;
    target.kind = TARGET_R2;
    target.name = name;
    target.remote_id = bucket;
    target.access_key_id = akid;
    target.secret_access_key = secret_new("canary-secret-r2");
}

static void teardown(void) { secret_free(target.secret_access_key); }

TestSuite(r2_target, .init = setup, .fini = teardown);

Test(r2_target, builds_a_client_from_the_account_endpoint)
{
    Err e = {0};
    R2Client *c = r2_client_for_target(&cfg, &target, NULL, &e);
    cr_assert_not_null(c, "%s", e.msg);
    r2_client_free(c);
}

Test(r2_target, missing_credentials_name_the_target_and_the_variables)
{
    Err e = {0};
    target.access_key_id = NULL;
    cr_assert_null(r2_client_for_target(&cfg, &target, NULL, &e));
    cr_assert_eq(e.code, ERR_CONFIG);
    cr_assert_str_eq(e.msg, "r2.snaps: no credentials (set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or the "
                            "target's access_key_id / secret_access_key)");
    target.access_key_id = akid;
    secret_free(target.secret_access_key);
    target.secret_access_key = secret_new("");
    cr_assert_null(r2_client_for_target(&cfg, &target, NULL, &e));
    cr_assert(strstr(e.msg, "r2.snaps: no credentials") == e.msg, "%s", e.msg);
}

Test(r2_target, client_errors_are_prefixed_with_the_target)
{
    Err e = {0};
    target.remote_id = bad_bucket;
    cr_assert_null(r2_client_for_target(&cfg, &target, NULL, &e));
    cr_assert_str_eq(e.msg, "r2.snaps: r2: bucket name 'a/b' contains '/'");
    target.remote_id = bucket;
    target.endpoint = ftp;
    cr_assert_null(r2_client_for_target(&cfg, &target, NULL, &e));
    cr_assert(strstr(e.msg, "r2.snaps: r2 endpoint") == e.msg, "%s", e.msg);
    cr_assert_null(strstr(e.msg, "canary-secret-r2"));
}
