/* Unit tests for cf/sigv4 against AWS's published vectors (tests/fixtures/sigv4). */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/sigv4.h"
#include "core/hex.h"
#include "cf_test_util.h"

static const SigV4Creds SUITE = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 "us-east-1", "service"};
#define SUITE_DATE "20150830T123600Z"

static void check_case(const char *dir, const SigV4Request *req)
{
    char path[256];
    Err e;
    Buf creq, sh, sts;
    buf_init(&creq, 1 << 20);
    buf_init(&sh, 1 << 20);
    buf_init(&sts, 1 << 20);

    snprintf(path, sizeof path, "sigv4/%s/canonical-request.txt", dir);
    char *want = cf_fixture(path, NULL);
    cr_assert(sigv4_canonical_request(req, &creq, &sh, &e), "%s", e.msg);
    cr_assert_str_eq(creq.data, want, "%s canonical request", dir);
    free(want);

    snprintf(path, sizeof path, "sigv4/%s/string-to-sign.txt", dir);
    want = cf_fixture(path, NULL);
    cr_assert(sigv4_string_to_sign(req, &SUITE, SUITE_DATE, &sts, &e));
    cr_assert_str_eq(sts.data, want, "%s string to sign", dir);
    free(want);

    snprintf(path, sizeof path, "sigv4/%s/signature.txt", dir);
    want = cf_fixture(path, NULL);
    char *auth, sig[65];
    SigV4KeyCache cache = {0};
    cr_assert(sigv4_sign(req, &SUITE, SUITE_DATE, &cache, &auth, sig, &e));
    cr_assert_str_eq(sig, want, "%s signature", dir);
    char expect_auth[512];
    snprintf(expect_auth, sizeof expect_auth,
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             sh.data, want);
    cr_assert_str_eq(auth, expect_auth);
    free(auth);
    /* again through the cached key */
    cr_assert(cache.valid);
    cr_assert(sigv4_sign(req, &SUITE, SUITE_DATE, &cache, &auth, sig, &e));
    cr_assert_str_eq(sig, want);
    free(auth);
    sigv4_cache_clear(&cache);
    cr_assert_not(cache.valid);
    free(want);
    buf_free(&creq);
    buf_free(&sh);
    buf_free(&sts);
}

static const SigV4Header BASE[] = {{"Host", "example.amazonaws.com"},
                                   {"X-Amz-Date", SUITE_DATE}};

Test(sigv4, aws_suite_get_vanilla)
{
    SigV4Request r = {"GET", "/", NULL, BASE, 2, SIGV4_EMPTY_SHA256};
    check_case("get-vanilla", &r);
}

Test(sigv4, aws_suite_get_vanilla_query_order_key_case)
{
    SigV4Request r = {"GET", "/", "Param2=value2&Param1=value1", BASE, 2, SIGV4_EMPTY_SHA256};
    check_case("get-vanilla-query-order-key-case", &r);
}

Test(sigv4, aws_suite_post_x_www_form_urlencoded)
{
    char h[65];
    sha256_hex("Param1=value1", 13, h);
    cr_assert_str_eq(h, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    SigV4Header hs[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Host", "example.amazonaws.com"},
                        {"Content-Length", "13"},
                        {"x-amz-content-sha256", h},
                        {"X-Amz-Date", SUITE_DATE}};
    SigV4Request r = {"POST", "/", NULL, hs, 5, h};
    check_case("post-x-www-form-urlencoded", &r);
}

Test(sigv4, aws_suite_get_header_value_trim)
{
    SigV4Header hs[] = {{"Host", "example.amazonaws.com"},
                        {"My-Header1", " value1"},
                        {"My-Header2", " \"a   b   c\""},
                        {"X-Amz-Date", SUITE_DATE}};
    SigV4Request r = {"GET", "/", NULL, hs, 4, SIGV4_EMPTY_SHA256};
    check_case("get-header-value-trim", &r);
}

static const SigV4Creds S3DOC = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                 "us-east-1", "s3"};

Test(sigv4, s3_doc_get_object_with_range)
{
    SigV4Header hs[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                        {"Range", "bytes=0-9"},
                        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                        {"x-amz-date", "20130524T000000Z"}};
    SigV4Request r = {"GET", "/test.txt", NULL, hs, 4, SIGV4_EMPTY_SHA256};
    char *auth, sig[65];
    Err e;
    cr_assert(sigv4_sign(&r, &S3DOC, "20130524T000000Z", NULL, &auth, sig, &e));
    cr_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                           "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
                           "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48"
                           "dd91039c6036bdb41");
    free(auth);
}

Test(sigv4, s3_doc_list_objects)
{
    SigV4Header hs[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                        {"x-amz-date", "20130524T000000Z"}};
    SigV4Request r = {"GET", "/", "prefix=J&max-keys=2", hs, 3, SIGV4_EMPTY_SHA256};
    char *auth, sig[65];
    Err e;
    cr_assert(sigv4_sign(&r, &S3DOC, "20130524T000000Z", NULL, &auth, sig, &e));
    cr_assert_str_eq(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(auth);
}

Test(sigv4, query_values_are_reencoded_and_valueless_names_get_an_empty_value)
{
    SigV4Request r = {"POST", "/b/k", "uploads&x=a%2fb&y=a b", BASE, 2, SIGV4_UNSIGNED_PAYLOAD};
    Buf c, sh;
    Err e;
    buf_init(&c, 1 << 16);
    buf_init(&sh, 1 << 16);
    cr_assert(sigv4_canonical_request(&r, &c, &sh, &e));
    cr_assert(strstr(c.data, "\nuploads=&x=a%2Fb&y=a%20b\n"), "%s", c.data);
    cr_assert(strstr(c.data, "\nUNSIGNED-PAYLOAD") != NULL);
    buf_free(&c);
    buf_free(&sh);
}

Test(sigv4, repeated_headers_are_joined_with_commas)
{
    SigV4Header hs[] = {{"X-B", "2"}, {"x-a", "1"}, {"X-b", " 3 "}};
    SigV4Request r = {"GET", "", NULL, hs, 3, SIGV4_EMPTY_SHA256};
    Buf c, sh;
    Err e;
    buf_init(&c, 1 << 16);
    buf_init(&sh, 1 << 16);
    cr_assert(sigv4_canonical_request(&r, &c, &sh, &e));
    cr_assert_str_eq(c.data, "GET\n/\n\nx-a:1\nx-b:2,3\n\nx-a;x-b\n" SIGV4_EMPTY_SHA256);
    cr_assert_str_eq(sh.data, "x-a;x-b");
    buf_free(&c);
    buf_free(&sh);
}

Test(sigv4, paths_encode_keys_once_keeping_slashes)
{
    Buf b;
    Err e;
    buf_init(&b, 1 << 16);
    cr_assert(sigv4_encode_path(&b, "bronze/users/a b+c$é~.ndjson", &e));
    cr_assert_str_eq(b.data, "/bronze/users/a%20b%2Bc%24%C3%A9~.ndjson");
    buf_free(&b);
}

Test(sigv4, dates_format_in_utc)
{
    char d[17];
    sigv4_format_date(1440938160, d);
    cr_assert_str_eq(d, "20150830T123600Z");
    sigv4_format_date(0, d);
    cr_assert_str_eq(d, "19700101T000000Z");
    sigv4_format_date(951782399, d);
    cr_assert_str_eq(d, "20000228T235959Z");
    sigv4_format_date(951782400 + 86400, d);
    cr_assert_str_eq(d, "20000301T000000Z");
}

Test(sigv4, bad_inputs_are_refused)
{
    SigV4Request r = {"GET", "/", NULL, BASE, 2, SIGV4_EMPTY_SHA256};
    char *auth, sig[65];
    Err e;
    cr_assert_not(sigv4_sign(&r, &SUITE, "2015-08-30T12:36:00Z", NULL, &auth, sig, &e));
    cr_assert_eq(e.code, ERR_USAGE);
    cr_assert_null(auth);
    SigV4Creds none = {"AK", "", "auto", "s3"};
    cr_assert_not(sigv4_sign(&r, &none, SUITE_DATE, NULL, &auth, sig, &e));
    SigV4Creds noregion = {"AK", "s", "", "s3"};
    cr_assert_not(sigv4_sign(&r, &noregion, SUITE_DATE, NULL, &auth, sig, &e));
    SigV4Request nomethod = {NULL, "/", NULL, BASE, 2, SIGV4_EMPTY_SHA256};
    cr_assert_not(sigv4_sign(&nomethod, &SUITE, SUITE_DATE, NULL, &auth, sig, &e));
}

Test(sigv4, a_different_secret_gives_a_different_signature)
{
    SigV4Request r = {"GET", "/", NULL, BASE, 2, SIGV4_EMPTY_SHA256};
    SigV4Creds other = SUITE;
    other.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    char *a1, *a2, s1[65], s2[65];
    Err e;
    SigV4KeyCache cache = {0};
    cr_assert(sigv4_sign(&r, &SUITE, SUITE_DATE, &cache, &a1, s1, &e));
    cr_assert(sigv4_sign(&r, &other, SUITE_DATE, NULL, &a2, s2, &e));
    cr_assert_str_neq(s1, s2);
    free(a1);
    free(a2);
}
