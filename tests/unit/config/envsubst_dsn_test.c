/* Unit tests for config/envsubst (${VAR} expansion) and config/dsn (finding passwords). */
#include <criterion/criterion.h>
#include <string.h>

#include "config/dsn.h"
#include "config/envsubst.h"

static const char *fake_env(const char *name, void *user)
{
    (void)user;
    if (strcmp(name, "HOST") == 0)
        return "db.internal";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static char *expand_ok(const char *in, bool *used)
{
    char *out;
    Err err;
    cr_assert(envsubst(in, fake_env, NULL, &out, used, &err), "%s: %s", in, err.msg);
    return out;
}

Test(envsubst, forms)
{
    bool used;
    char *s = expand_ok("postgres://${HOST}:5432/x", &used);
    cr_assert_str_eq(s, "postgres://db.internal:5432/x");
    cr_assert(used);
    free(s);
    s = expand_ok("${MISSING:-fallback}|${EMPTY:-e}|${EMPTY-kept}|${MISSING-m}|${EMPTY}", &used);
    cr_assert_str_eq(s, "fallback|e||m|");
    free(s);
    s = expand_ok("cost $5, literal $${HOST}, end $", &used);
    cr_assert_str_eq(s, "cost $5, literal ${HOST}, end $");
    cr_assert_not(used);
    free(s);
    s = expand_ok("${MISSING:-}", &used);
    cr_assert_str_eq(s, "");
    free(s);
}

Test(envsubst, errors)
{
    char *out;
    Err err;
    cr_assert_not(envsubst("${DATABASE_URL}", fake_env, NULL, &out, NULL, &err));
    cr_assert_str_eq(err.msg, "environment variable \"DATABASE_URL\" is not set (use ${DATABASE_URL:-default} to give a default)");
    cr_assert_not(envsubst("${1BAD}", fake_env, NULL, &out, NULL, &err));
    cr_assert_not(envsubst("${HOST", fake_env, NULL, &out, NULL, &err));
    cr_assert_not(envsubst("${HOST:-x", fake_env, NULL, &out, NULL, &err));
    cr_assert(strstr(err.msg, "missing '}'"), "%s", err.msg);
}

static void expect_redacted(const char *dsn, const char *redacted, const char *password)
{
    char *r = dsn_redacted(dsn);
    cr_assert_str_eq(r, redacted);
    free(r);
    DsnPasswords found;
    dsn_find_passwords(dsn, &found);
    if (!password) {
        cr_assert_eq(found.count, 0, "%s", dsn);
        return;
    }
    cr_assert_geq(found.count, 1, "%s", dsn);
    char *pw = dsn_password_decoded(dsn, &found, 0);
    cr_assert_str_eq(pw, password);
    free(pw);
}

Test(dsn, uri_and_keyword_forms)
{
    expect_redacted("postgresql://app:s3cret@db:5432/shop", "postgresql://app:[redacted]@db:5432/shop", "s3cret");
    expect_redacted("postgres://app:p%40ss%2Fw@db/shop?sslmode=require",
                    "postgres://app:[redacted]@db/shop?sslmode=require", "p@ss/w");
    expect_redacted("postgresql://app@db/shop", "postgresql://app@db/shop", NULL);
    expect_redacted("postgresql://db/shop?user=a&password=xyz123&sslmode=verify-full",
                    "postgresql://db/shop?user=a&password=[redacted]&sslmode=verify-full", "xyz123");
    expect_redacted("host=db user=app password=plain123 dbname=shop",
                    "host=db user=app password=[redacted] dbname=shop", "plain123");
    expect_redacted("host=db password='a b\\'c' port=5",
                    "host=db password=[redacted] port=5", "a b'c");
    expect_redacted("host=db dbname=shop", "host=db dbname=shop", NULL);
}
