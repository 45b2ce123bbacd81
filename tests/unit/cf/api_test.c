/* Unit tests for cf/api: URLs, the envelope, API errors as Err. */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/api.h"
#include "core/mem.h"
#include "cf_test_util.h"

Test(cf_api, urls_escape_every_segment_and_drop_a_trailing_slash)
{
    const char *segs[] = {"storage", "kv", "namespaces", "ns1", "values", "user:42/a b?c#d%"};
    char *u = cf_api_url("https://api.cloudflare.com/client/v4/", "acc id", segs, 6);
    cr_assert_str_eq(u, "https://api.cloudflare.com/client/v4/accounts/acc%20id/storage/kv/"
                        "namespaces/ns1/values/user%3A42%2Fa%20b%3Fc%23d%25");
    free(u);
    const char *d1[] = {"d1", "database", "0f1e-..~_", "query"};
    u = cf_api_url("http://127.0.0.1:8787/client/v4", "a", d1, 4);
    cr_assert_str_eq(u, "http://127.0.0.1:8787/client/v4/accounts/a/d1/database/0f1e-..~_/query");
    free(u);
}

Test(cf_api, query_parameters_are_escaped_and_chained)
{
    char *u = xstrdup("https://h/x");
    u = cf_url_add_query(u, "prefix", "user:é&=");
    u = cf_url_add_query(u, "cursor", "abc+/=");
    cr_assert_str_eq(u, "https://h/x?prefix=user%3A%C3%A9%26%3D&cursor=abc%2B%2F%3D");
    free(u);
}

Test(cf_api, envelope_success_with_result_info_cursor)
{
    size_t n;
    char *body = cf_fixture("cf/kv_keys_page.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e), "%s", e.msg);
    cr_assert(env.success);
    cr_assert(json_is_array(env.result));
    cr_assert_not_null(env.cursor);
    cr_assert_eq(strncmp(env.cursor, "6Ck1la0", 7), 0);
    cr_assert_eq(env.error_code, 0);
    cf_envelope_free(&env);
    free(body);

    body = cf_fixture("cf/kv_keys_last.json", &n);
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cr_assert_null(env.cursor, "an empty cursor means the last page");
    cf_envelope_free(&env);
    free(body);
}

Test(cf_api, envelope_errors_and_error_chain)
{
    size_t n;
    char *body = cf_fixture("cf/auth_6003_chain.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cr_assert_not(env.success);
    cr_assert_eq(env.error_code, 6003);
    cr_assert_str_eq(env.error_message, "Invalid request headers");
    cr_assert_eq(env.chain_code, 6111);
    cr_assert_not(cf_api_error_transient(&env));
    cr_assert_not(cf_api_fail(&e, "d1 query", "D1 Edit", 400, &env, false, "8a1b2c3d4e5f-AMS"));
    cr_assert_eq(e.code, ERR_CF_API);
    cr_assert_eq(e.detail, 6003);
    cr_assert(strstr(e.msg, "d1 query: [6003] Invalid request headers ([6111] Invalid format"),
              "%s", e.msg);
    cr_assert(strstr(e.msg, "cf-ray 8a1b2c3d4e5f-AMS"), "%s", e.msg);
    cr_assert(strstr(e.msg, "'D1 Edit' permission"), "%s", e.msg);
    cf_envelope_free(&env);
    free(body);
}

Test(cf_api, d1_sql_error_is_permanent_with_the_code_as_detail)
{
    size_t n;
    char *body = cf_fixture("cf/d1_error_7500.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cr_assert_not(cf_api_error_transient(&env));
    cf_api_fail(&e, "d1 query", "D1 Edit", 400, &env, false, NULL);
    cr_assert_eq(e.code, ERR_CF_API);
    cr_assert_eq(e.detail, 7500);
    cr_assert_str_eq(e.msg,
                     "d1 query: [7500] near \"INSERTZ\": syntax error at offset 0: SQLITE_ERROR "
                     "(http 400)");
    cr_assert_not(err_retryable(&e));
    cf_envelope_free(&env);
    free(body);
}

Test(cf_api, throttling_and_d1_overload_are_transient)
{
    const char *files[] = {"cf/throttled_971.json", "cf/d1_error_transient.json"};
    for (size_t i = 0; i < 2; i++) {
        size_t n;
        char *body = cf_fixture(files[i], &n);
        CfEnvelope env;
        Err e;
        cr_assert(cf_envelope_parse(body, n, &env, &e));
        cr_assert(cf_api_error_transient(&env), "%s", files[i]);
        cf_api_fail(&e, "kv bulk write", "Workers KV Storage Edit", 429, &env, true, NULL);
        cr_assert_eq(e.code, ERR_HTTP, "retries exhausted → retryable later");
        cr_assert(err_retryable(&e));
        cr_assert_eq(e.detail, 429);
        cr_assert(strstr(e.msg, "retries exhausted"));
        cf_envelope_free(&env);
        free(body);
    }
}

Test(cf_api, auth_errors_carry_a_permission_hint)
{
    size_t n;
    char *body = cf_fixture("cf/auth_10000.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cf_api_fail(&e, "queue send batch", "Queues Edit", 403, &env, false, NULL);
    cr_assert_eq(e.code, ERR_CF_API);
    cr_assert_eq(e.detail, 10000);
    cr_assert(strstr(e.msg, "[10000] Authentication error (http 403); hint:"), "%s", e.msg);
    cr_assert(strstr(e.msg, "'Queues Edit'"));
    cr_assert(cf_api_code_is_auth(9109));
    cf_envelope_free(&env);
    free(body);
}

Test(cf_api, non_envelopes_are_protocol_errors)
{
    CfEnvelope env;
    Err e;
    size_t n;
    char *body = cf_fixture("cf/not_envelope.json", &n);
    cr_assert_not(cf_envelope_parse(body, n, &env, &e));
    cr_assert_eq(e.code, ERR_PROTOCOL);
    cr_assert_null(env.root);
    free(body);
    cr_assert_not(cf_envelope_parse("<html>502 Bad Gateway</html>", 28, &env, &e));
    cr_assert_eq(e.code, ERR_PROTOCOL);
    cr_assert_not(cf_envelope_parse("", 0, &env, &e));
    cr_assert_not(cf_envelope_parse("{\"success\":true,\"success\":false}", 33, &env, &e),
                  "duplicate keys are refused");
    cr_assert_not(cf_envelope_parse("[1,2]", 5, &env, &e));
}

Test(cf_api, html_5xx_without_envelope_still_gives_a_message)
{
    Err e;
    cf_api_fail(&e, "d1 query", "D1 Edit", 502, NULL, true, NULL);
    cr_assert_eq(e.code, ERR_HTTP);
    cr_assert_str_eq(e.msg, "d1 query: request failed (http 502); retries exhausted");
}

Test(cf_api, server_messages_are_sanitised)
{
    const char *j = "{\"success\":false,\"errors\":[{\"code\":1001,\"message\":\"a\\nb\\u001b[31mc\"}]}";
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(j, strlen(j), &env, &e));
    cf_api_fail(&e, "x", NULL, 400, &env, false, NULL);
    cr_assert_str_eq(e.msg, "x: [1001] a?b?[31mc (http 400)");
    cf_envelope_free(&env);
}

Test(cf_api, import_style_error_field_is_read)
{
    size_t n;
    char *body = cf_fixture("cf/import_error.json", &n);
    CfEnvelope env;
    Err e;
    cr_assert(cf_envelope_parse(body, n, &env, &e));
    cr_assert_str_eq(env.error_message, "Not currently importing anything.");
    cf_envelope_free(&env);
    free(body);
}
