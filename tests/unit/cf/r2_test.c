/* Unit tests for cf/r2's pure parts: multipart rules and the S3 XML reader. */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/r2.h"
#include "cf/r2_multipart.h"

#define MIB (1024ull * 1024ull)
#define E(s) ((char *)(s))

Test(r2, multipart_rules_are_enforced_client_side)
{
    Err e;
    R2Part ok[3] = {{1, E("\"a\""), 5 * MIB}, {2, E("\"b\""), 5 * MIB}, {3, E("\"c\""), 1}};
    cr_assert(r2_parts_check(ok, 3, &e), "%s", e.msg);
    R2Part single[1] = {{1, E("\"a\""), 10}};
    cr_assert(r2_parts_check(single, 1, &e), "one small part is fine");
    R2Part small[2] = {{1, E("\"a\""), 5 * MIB - 1}, {2, E("\"b\""), 1}};
    cr_assert_not(r2_parts_check(small, 2, &e));
    cr_assert(strstr(e.msg, "at least"), "%s", e.msg);
    R2Part unequal[3] = {{1, E("\"a\""), 6 * MIB}, {2, E("\"b\""), 5 * MIB}, {3, E("\"c\""), 1}};
    cr_assert_not(r2_parts_check(unequal, 3, &e));
    cr_assert(strstr(e.msg, "same size"), "%s", e.msg);
    R2Part biglast[2] = {{1, E("\"a\""), 5 * MIB}, {2, E("\"b\""), 5 * MIB + 1}};
    cr_assert_not(r2_parts_check(biglast, 2, &e));
    R2Part order[2] = {{2, E("\"a\""), 5 * MIB}, {1, E("\"b\""), 1}};
    cr_assert_not(r2_parts_check(order, 2, &e));
    R2Part zero[1] = {{0, E("\"a\""), 1}};
    cr_assert_not(r2_parts_check(zero, 1, &e));
    R2Part noetag[1] = {{1, NULL, 1}};
    cr_assert_not(r2_parts_check(noetag, 1, &e));
    cr_assert_not(r2_parts_check(ok, 0, &e));
}

Test(r2, part_counts_respect_10000_parts)
{
    size_t n;
    Err e;
    cr_assert(r2_part_count(0, 5 * MIB, &n, &e));
    cr_assert_eq(n, 1);
    cr_assert(r2_part_count(10 * MIB, 5 * MIB, &n, &e));
    cr_assert_eq(n, 2);
    cr_assert(r2_part_count(10 * MIB + 1, 5 * MIB, &n, &e));
    cr_assert_eq(n, 3);
    cr_assert(r2_part_count(10000ull * 5 * MIB, 5 * MIB, &n, &e));
    cr_assert_eq(n, 10000);
    cr_assert_not(r2_part_count(10000ull * 5 * MIB + 1, 5 * MIB, &n, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert_not(r2_part_count(100, 5 * MIB - 1, &n, &e));
}

Test(r2, list_xml_is_parsed_with_entities)
{
    const char *x =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
        "<IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok&amp;1</NextContinuationToken>"
        "<Contents><Key>p/a&lt;b&gt;&#233;&#x20AC;</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>p/c</Key><ETag>\"d\"</ETag><Size>0</Size></Contents>"
        "<CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes>"
        "</ListBucketResult>";
    R2ListResult r;
    Err e;
    cr_assert(r2_xml_parse_list(x, strlen(x), &r, &e), "%s", e.msg);
    cr_assert_eq(r.count, 2);
    cr_assert_str_eq(r.items[0].key, "p/a<b>\xc3\xa9\xe2\x82\xac");
    cr_assert_str_eq(r.items[0].etag, "\"abc\"");
    cr_assert_eq(r.items[0].size, 12);
    cr_assert_str_eq(r.items[1].key, "p/c");
    cr_assert_eq(r.prefix_count, 1);
    cr_assert_str_eq(r.common_prefixes[0], "p/sub/");
    cr_assert(r.truncated);
    cr_assert_str_eq(r.next_token, "tok&1");
    r2_list_result_free(&r);
}

Test(r2, malformed_list_xml_is_refused)
{
    R2ListResult r;
    Err e;
    const char *bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        cr_assert_not(r2_xml_parse_list(bad[i], strlen(bad[i]), &r, &e), "%s", bad[i]);
        cr_assert_eq(e.code, ERR_PROTOCOL);
    }
    const char *unterminated = "<ListBucketResult><Contents><Key>a</Key>";
    cr_assert(r2_xml_parse_list(unterminated, strlen(unterminated), &r, &e));
    cr_assert_eq(r.count, 0, "an unterminated element is not read");
    r2_list_result_free(&r);
}

Test(r2, xml_text_reads_error_codes)
{
    const char *x = "<Error><Code>SignatureDoesNotMatch</Code><Message>a &amp; b&#0;</Message></Error>";
    char *code = r2_xml_text(x, strlen(x), 0, "Code", NULL);
    char *msg = r2_xml_text(x, strlen(x), 0, "Message", NULL);
    cr_assert_str_eq(code, "SignatureDoesNotMatch");
    cr_assert_str_eq(msg, "a & b&#0;", "NUL references are not decoded");
    free(code);
    free(msg);
    cr_assert_null(r2_xml_text(x, strlen(x), 0, "Nope", NULL));
}
