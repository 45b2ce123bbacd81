/*
 * Unit tests for d1_value_append_json on the types rendered straight into the
 * output (integers, booleans, numerics, dates and times): the exact JSON, and a
 * malformed value leaves the output as it was; json/jsonb values that would be
 * ambiguous (JSON null, a one-key "$json" object) are wrapped, and float -0
 * keeps its sign. Inputs are PostgreSQL 15 text output in the stream's pinned
 * settings.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../d1/d1_test_util.h"
#include "value/render.h"

static void expect_json_in(const CatalogInfo *cat, uint32_t oid, const char *pg, const char *want)
{
    Err err;
    D1Type *t = d1_type_resolve(cat, oid, NULL, &err);
    cr_assert_not_null(t, "type %u: %s", oid, err.msg);
    Buf b;
    buf_init(&b, 1 << 16);
    cr_assert(buf_append_str(&b, "[", &err));
    cr_assert(d1_value_append_json(t, pg, strlen(pg), &b, &err), "%s: %s", pg, err.msg);
    cr_assert_str_eq(b.data + 1, want, "type %u: %s", oid, pg);
    buf_free(&b);
    d1_type_free(t);
}

static void expect_json(uint32_t oid, const char *pg, const char *want) { expect_json_in(&test_cat, oid, pg, want); }

static void expect_rejected(uint32_t oid, const char *pg)
{
    Err err;
    D1Type *t = d1_type_resolve(&test_cat, oid, NULL, &err);
    cr_assert_not_null(t);
    Buf b;
    buf_init(&b, 1 << 16);
    cr_assert(buf_append_str(&b, "{\"a\":", &err));
    cr_assert_not(d1_value_append_json(t, pg, strlen(pg), &b, &err), "%s accepted", pg);
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert_eq(b.len, 5);
    cr_assert_str_eq(b.data, "{\"a\":", "the output is left as it was");
    buf_free(&b);
    d1_type_free(t);
}

Test(value_json, integers)
{
    expect_json(23, "-2147483648", "-2147483648");
    expect_json(21, "0", "0");
    expect_json(20, "9007199254740992", "9007199254740992");
    expect_json(20, "-9007199254740992", "-9007199254740992");
    expect_json(20, "9007199254740993", "\"9007199254740993\"");
    expect_json(20, "-9223372036854775808", "\"-9223372036854775808\"");
    expect_json(20, "9223372036854775807", "\"9223372036854775807\"");
}

/* Postgres' own integer text is written back as it is; any other spelling is parsed and printed */
Test(value_json, integers_not_in_postgres_own_text)
{
    expect_json(23, "007", "7");
    expect_json(23, "-0", "0");
    expect_json(23, "-007", "-7");
    expect_json(20, "123456789012345678", "\"123456789012345678\"");
    expect_json(20, "0001234567890123456", "1234567890123456");
    expect_rejected(23, "12a");
    expect_rejected(23, "-");
    expect_rejected(23, "");
}

Test(value_json, booleans_and_numerics)
{
    expect_json(16, "t", "true");
    expect_json(16, "f", "false");
    expect_json(1700, "12345678901234567890.123456789012345678", "\"12345678901234567890.123456789012345678\"");
    expect_json(1700, "NaN", "\"NaN\"");
    expect_json(1700, "-0.5", "\"-0.5\"");
}

Test(value_json, dates_and_times)
{
    expect_json(1082, "2026-11-02", "\"2026-11-02\"");
    expect_json(1082, "0044-03-15 BC", "\"-0043-03-15\"");
    expect_json(1082, "infinity", "\"infinity\"");
    expect_json(1083, "10:00:00.5", "\"10:00:00.5\"");
    expect_json(1266, "23:59:59.999999-12", "\"23:59:59.999999-12:00\"");
    expect_json(1114, "2026-11-02 10:00:00.123456", "\"2026-11-02T10:00:00.123456\"");
    expect_json(1184, "2026-11-02 10:00:00.5+02", "\"2026-11-02T08:00:00.5Z\"");
    expect_json(1184, "0044-03-15 10:00:00+00 BC", "\"-0043-03-15T10:00:00Z\"");
    expect_json(1184, "-infinity", "\"-infinity\"");
}

Test(value_json, malformed_values_leave_the_output_unchanged)
{
    expect_rejected(20, "12x");
    expect_rejected(16, "yes");
    expect_rejected(1700, "1,5");
    expect_rejected(1082, "2026-13-01");
    expect_rejected(1184, "2026-11-02 10:00:00");
}

/* JSON null must not read as SQL NULL (`null`), nor a "$json" object as the wrapper. */
Test(value_json, json_null_is_wrapped_and_the_wrapper_is_never_ambiguous)
{
    expect_json(3802, "null", "{\"$json\":null}");
    expect_json(114, "null", "{\"$json\":null}");
    expect_json(114, " null ", "{\"$json\": null }"); /* json keeps its text as it was */
    expect_json(3802, "\"null\"", "\"null\"");
    expect_json(3802, "{\"$json\": 1}", "{\"$json\":{\"$json\": 1}}");
    expect_json(114, "{\"$json\":null}", "{\"$json\":{\"$json\":null}}");
    expect_json(114, "{\"\\u0024json\":1}", "{\"$json\":{\"\\u0024json\":1}}"); /* the same key, escaped */
    /* everything else is embedded as before */
    expect_json(3802, "{\"$json\": 1, \"a\": 2}", "{\"$json\": 1, \"a\": 2}");
    expect_json(3802, "{\"a\": null}", "{\"a\": null}");
    expect_json(3802, "[null]", "[null]");
    expect_json(3802, "{}", "{}");
    expect_json(3802, "0", "0");
    /* arrays: a JSON null element vs a NULL element */
    expect_json(3807, "{\"null\",NULL,\"\\\"null\\\"\"}", "[{\"$json\":null},null,\"null\"]");
    expect_json(199, "{\"{\\\"$json\\\": 2}\"}", "[{\"$json\":{\"$json\": 2}}]");
}

Test(value_json, a_record_whose_only_attribute_is_the_wrapper_key_is_wrapped)
{
    static const CatAttr one[] = {{"$json", 3802, -1}};
    static const CatAttr two[] = {{"$json", 3802, -1}, {"b", 23, -1}};
    static const CatType types[] = {
        {.oid = 90101, .schema = "public", .name = "w", .formatted = "w", .typtype = 'c', .attrs = one, .attr_count = 1},
        {.oid = 90102, .schema = "public", .name = "w2", .formatted = "w2", .typtype = 'c', .attrs = two, .attr_count = 2},
    };
    static const CatalogInfo cat = {.types = types, .type_count = 2};
    expect_json_in(&cat, 90101, "(null)", "{\"$json\":{\"$json\":{\"$json\":null}}}");
    expect_json_in(&cat, 90101, "()", "{\"$json\":{\"$json\":null}}");
    expect_json_in(&cat, 90102, "(1,2)", "{\"$json\":1,\"b\":2}");
}

/* Postgres keeps the sign of a zero float; so does the JSON number. */
Test(value_json, negative_zero_floats_keep_their_sign)
{
    expect_json(701, "-0", "-0");
    expect_json(700, "-0", "-0");
    expect_json(701, "0", "0");
    expect_json(1022, "{-0,0}", "[-0,0]");
    expect_json(1021, "{-0}", "[-0]");
}
