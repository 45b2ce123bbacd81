/*
 * Unit tests for value/pgtype and value/render. Every input is the text output of a real PostgreSQL 15
 * server in the replication session's settings (DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex), captured with
 * psql from the local cluster (scripts/pg-local.sh).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "value/render.h"

/* A hand-built catalog: a domain over int8, an enum, a composite, arrays of them. */
static const char *const labels[] = {"pending", "paid"};
static const CatAttr pair_attrs[] = {{"a", 23, -1}, {"b", 25, -1}, {"c", 1184, -1}, {"d", 25, -1}, {"e", 25, -1}};
static const CatType types[] = {
    {.oid = 90001, .schema = "public", .name = "money_cents", .formatted = "money_cents",
     .typtype = 'd', .category = 'N', .base_oid = 20, .base_typmod = -1},
    {.oid = 90002, .schema = "public", .name = "order_status", .formatted = "order_status",
     .typtype = 'e', .category = 'E', .labels = labels, .label_count = 2},
    {.oid = 90003, .schema = "public", .name = "pair", .formatted = "pair", .typtype = 'c',
     .category = 'C', .attrs = pair_attrs, .attr_count = 5},
    {.oid = 90004, .schema = "public", .name = "_pair", .formatted = "pair[]", .typtype = 'b',
     .category = 'A', .elem_oid = 90003, .delim = ','},
    {.oid = 90005, .schema = "public", .name = "point", .formatted = "point", .typtype = 'b',
     .category = 'G'},
    {.oid = 90006, .schema = "public", .name = "_order_status", .formatted = "order_status[]",
     .typtype = 'b', .category = 'A', .elem_oid = 90002, .delim = ','},
};
static const CatalogInfo cat = {.types = types, .type_count = sizeof types / sizeof types[0]};

static D1Type *ty(uint32_t oid, const char *override)
{
    Err err;
    D1Type *t = d1_type_resolve(&cat, oid, override, &err);
    cr_assert_not_null(t, "resolving %u: %s", oid, err.msg);
    return t;
}

static void expect_value(uint32_t oid, const char *override, const char *pg_text, D1ValKind kind,
                         const char *d1_text)
{
    D1Type *t = ty(oid, override);
    D1Value v;
    Err err;
    cr_assert(d1_value_from_text(t, pg_text, strlen(pg_text), &v, &err), "%s: %s", pg_text, err.msg);
    cr_expect_eq(v.kind, kind, "%s: kind %d, expected %d", pg_text, v.kind, kind);
    cr_expect_str_eq(v.data, d1_text, "%s -> %s, expected %s", pg_text, v.data, d1_text);
    d1_value_clear(&v);
    d1_type_free(t);
}

static void expect_bad(uint32_t oid, const char *pg_text, const char *msg)
{
    D1Type *t = ty(oid, NULL);
    D1Value v;
    Err err;
    cr_expect_not(d1_value_from_text(t, pg_text, strlen(pg_text), &v, &err), "%s accepted", pg_text);
    cr_expect_eq(err.code, ERR_PROTOCOL);
    if (msg)
        cr_expect_str_eq(err.msg, msg);
    d1_type_free(t);
}

static void expect_affinity(uint32_t oid, D1Affinity a)
{
    D1Type *t = ty(oid, NULL);
    cr_expect_eq(t->affinity, a, "type %u: %s", oid, d1_affinity_name(t->affinity));
    d1_type_free(t);
}

Test(d1_types, column_types)
{
    expect_affinity(21, D1_INTEGER);   /* smallint */
    expect_affinity(23, D1_INTEGER);   /* integer */
    expect_affinity(20, D1_INTEGER);   /* bigint */
    expect_affinity(1700, D1_TEXT);    /* numeric */
    expect_affinity(700, D1_REAL);     /* real */
    expect_affinity(701, D1_REAL);     /* double precision */
    expect_affinity(16, D1_INTEGER);   /* boolean */
    expect_affinity(25, D1_TEXT);
    expect_affinity(1043, D1_TEXT);
    expect_affinity(1042, D1_TEXT);
    expect_affinity(17, D1_BLOB);
    expect_affinity(2950, D1_TEXT);
    expect_affinity(1082, D1_TEXT);
    expect_affinity(1083, D1_TEXT);
    expect_affinity(1114, D1_TEXT);
    expect_affinity(1184, D1_TEXT);
    expect_affinity(1186, D1_TEXT);
    expect_affinity(114, D1_TEXT);
    expect_affinity(3802, D1_TEXT);
    expect_affinity(1009, D1_TEXT);    /* text[] */
    expect_affinity(869, D1_TEXT);
    expect_affinity(650, D1_TEXT);
    expect_affinity(829, D1_TEXT);
    expect_affinity(790, D1_TEXT);
    expect_affinity(90001, D1_INTEGER); /* domain over bigint */
    expect_affinity(90002, D1_TEXT);   /* enum */
    expect_affinity(90003, D1_TEXT);   /* composite */
    expect_affinity(90004, D1_TEXT);   /* composite[] */
}

Test(d1_types, unsupported_needs_override)
{
    Err err;
    cr_expect_null(d1_type_resolve(&cat, 90005, NULL, &err));
    cr_expect_eq(err.code, ERR_CONFIG);
    cr_expect_str_eq(err.msg, "type \"point\" has no D1 equivalent");
    cr_expect_null(d1_type_resolve(&cat, 3904, NULL, &err)); /* int4range, not in the catalog */
    cr_expect_null(d1_type_resolve(&cat, 25, "VARCHAR", &err));
    D1Type *t = ty(90005, "TEXT");
    cr_expect_eq(t->conv, D1C_RAW);
    cr_expect_eq(t->affinity, D1_TEXT);
    d1_type_free(t);
    expect_value(90005, "TEXT", "(1,2)", D1V_TEXT, "(1,2)");
}

Test(d1_types, integers)
{
    expect_value(21, NULL, "-32768", D1V_INTEGER, "-32768");
    expect_value(23, NULL, "42", D1V_INTEGER, "42");
    expect_value(23, NULL, "042", D1V_INTEGER, "42");
    expect_value(23, NULL, "-0", D1V_INTEGER, "0");
    expect_value(20, NULL, "9223372036854775807", D1V_INTEGER, "9223372036854775807");
    expect_value(20, NULL, "-9223372036854775808", D1V_INTEGER, "-9223372036854775808");
    expect_value(90001, NULL, "9007199254740993", D1V_INTEGER, "9007199254740993");
    expect_bad(23, "4x", "invalid integer value \"4x\"");
    expect_bad(20, "", NULL);
    expect_bad(20, "99999999999999999999", NULL);
    D1Type *t = ty(20, NULL);
    D1Value v;
    Err err;
    cr_assert(d1_value_from_text(t, "9223372036854775807", 19, &v, &err));
    cr_expect_eq(v.i, INT64_MAX);
    d1_value_clear(&v);
    d1_type_free(t);
}

Test(d1_types, numeric_and_floats)
{
    expect_value(1700, NULL, "12345678901234567890.123456789", D1V_TEXT, "12345678901234567890.123456789");
    expect_value(1700, NULL, "NaN", D1V_TEXT, "NaN");
    expect_value(1700, NULL, "-Infinity", D1V_TEXT, "-Infinity");
    expect_value(701, NULL, "0.1", D1V_REAL, "0.1");
    expect_value(701, NULL, "1e+300", D1V_REAL, "1e+300");
    expect_value(701, NULL, "1.5e-07", D1V_REAL, "1.5e-07");
    expect_value(700, NULL, "0.1", D1V_REAL, "0.1");
    expect_value(701, NULL, "NaN", D1V_TEXT, "NaN");
    expect_value(701, NULL, "Infinity", D1V_TEXT, "Infinity");
    expect_value(701, NULL, "-Infinity", D1V_TEXT, "-Infinity");
    expect_bad(701, "nan", NULL);
    expect_bad(1700, "1;drop", NULL);
    D1Type *t = ty(701, NULL);
    D1Value v;
    Err err;
    cr_assert(d1_value_from_text(t, "0.1", 3, &v, &err));
    cr_expect_eq(v.r, 0.1);
    d1_value_clear(&v);
    d1_type_free(t);
}

Test(d1_types, booleans_text_uuid_network_money)
{
    expect_value(16, NULL, "t", D1V_INTEGER, "1");
    expect_value(16, NULL, "f", D1V_INTEGER, "0");
    expect_bad(16, "yes", NULL);
    expect_value(25, NULL, "héllo \"world\"", D1V_TEXT, "héllo \"world\"");
    expect_value(1042, NULL, "ab  ", D1V_TEXT, "ab  ");
    expect_value(2950, NULL, "b622f8fb-9988-4869-8b55-4c7aa3d570f3", D1V_TEXT, "b622f8fb-9988-4869-8b55-4c7aa3d570f3");
    expect_value(869, NULL, "192.168.0.1/24", D1V_TEXT, "192.168.0.1/24");
    expect_value(650, NULL, "10.0.0.0/8", D1V_TEXT, "10.0.0.0/8");
    expect_value(829, NULL, "08:00:2b:01:02:03", D1V_TEXT, "08:00:2b:01:02:03");
    expect_value(790, NULL, "$1,234.56", D1V_TEXT, "$1,234.56");
    expect_value(90002, NULL, "paid", D1V_TEXT, "paid");
    expect_value(3802, NULL, "{\"a\": \"x\", \"b\": 1}", D1V_TEXT, "{\"a\": \"x\", \"b\": 1}");
    expect_value(114, NULL, "{\"a\": [1, 2]}", D1V_TEXT, "{\"a\": [1, 2]}");
    expect_bad(3802, "{oops", NULL);
}

Test(d1_types, bytea)
{
    D1Type *t = ty(17, NULL);
    D1Value v;
    Err err;
    cr_assert(d1_value_from_text(t, "\\x0102ff", 8, &v, &err), "%s", err.msg);
    cr_expect_eq(v.kind, D1V_BLOB);
    cr_expect_eq(v.len, 3);
    cr_expect_eq(memcmp(v.data, "\x01\x02\xff", 3), 0);
    d1_value_clear(&v);
    cr_assert(d1_value_from_text(t, "\\x", 2, &v, &err));
    cr_expect_eq(v.len, 0);
    d1_value_clear(&v);
    /* escape format */
    cr_assert(d1_value_from_text(t, "a\\\\b\\000", 8, &v, &err), "%s", err.msg);
    cr_expect_eq(v.len, 4);
    cr_expect_eq(memcmp(v.data, "a\\b\0", 4), 0);
    d1_value_clear(&v);
    d1_type_free(t);
    expect_bad(17, "\\x012", NULL);
    expect_bad(17, "\\xzz", NULL);
    expect_value(17, "TEXT", "\\x0102ff", D1V_TEXT, "\\x0102ff");
}

Test(d1_types, dates_and_times)
{
    expect_value(1082, NULL, "2026-11-02", D1V_TEXT, "2026-11-02");
    expect_value(1082, NULL, "0044-03-15 BC", D1V_TEXT, "-0043-03-15");
    expect_value(1082, NULL, "0001-01-01 BC", D1V_TEXT, "0000-01-01");
    expect_value(1082, NULL, "infinity", D1V_TEXT, "infinity");
    expect_value(1083, NULL, "10:00:00.5", D1V_TEXT, "10:00:00.5");
    expect_value(1266, NULL, "10:00:00.5+05:30", D1V_TEXT, "10:00:00.5+05:30");
    expect_value(1266, NULL, "10:00:00+00", D1V_TEXT, "10:00:00+00:00");
    expect_value(1114, NULL, "2026-11-02 10:00:00.5", D1V_TEXT, "2026-11-02T10:00:00.5");
    expect_value(1184, NULL, "2026-11-02 10:00:00.5+00", D1V_TEXT, "2026-11-02T10:00:00.5Z");
    expect_value(1184, NULL, "2026-11-02 10:00:00+00", D1V_TEXT, "2026-11-02T10:00:00Z");
    expect_value(1184, NULL, "12026-11-02 10:00:00+00", D1V_TEXT, "12026-11-02T10:00:00Z");
    expect_value(1184, NULL, "0100-01-01 00:00:00+00 BC", D1V_TEXT, "-0099-01-01T00:00:00Z");
    expect_value(1184, NULL, "-infinity", D1V_TEXT, "-infinity");
    /* another session time zone: still UTC out */
    expect_value(1184, NULL, "2026-01-01 03:30:00.25+05:30", D1V_TEXT, "2025-12-31T22:00:00.25Z");
    expect_value(1184, NULL, "2026-02-28 23:00:00-02", D1V_TEXT, "2026-03-01T01:00:00Z");
    expect_value(1184, NULL, "1900-01-01 00:00:00+00:19:32", D1V_TEXT, "1899-12-31T23:40:28Z");
    expect_value(1186, NULL, "P1Y2M3DT4H5M6.5S", D1V_TEXT, "P1Y2M3DT4H5M6.5S");
    expect_value(1186, NULL, "P-1DT-1S", D1V_TEXT, "P-1DT-1S");
    expect_value(1186, NULL, "PT0S", D1V_TEXT, "PT0S");
    expect_bad(1186, "1 year 2 mons", "interval value \"1 year 2 mons\" is not in ISO 8601 form (the "
                                      "source session needs IntervalStyle=iso_8601)");
    expect_bad(1184, "11/02/2026 10:00:00 UTC", NULL);
    expect_bad(1082, "2026-13-02", NULL);
    expect_bad(1184, "2026-11-02 10:00:00", NULL);
}

Test(d1_types, arrays)
{
    expect_value(1009, NULL, "{a,\"b c\",NULL,\"NULL\",\"q\\\"uote\",\"back\\\\slash\",\"{}\",\"\"}",
                 D1V_TEXT, "[\"a\",\"b c\",null,\"NULL\",\"q\\\"uote\",\"back\\\\slash\",\"{}\",\"\"]");
    expect_value(1007, NULL, "{{1,2},{3,4}}", D1V_TEXT, "[[1,2],[3,4]]");
    expect_value(1007, NULL, "[0:1]={1,2}", D1V_TEXT, "[1,2]");
    expect_value(1007, NULL, "{}", D1V_TEXT, "[]");
    expect_value(1016, NULL, "{1,9007199254740993}", D1V_TEXT, "[1,\"9007199254740993\"]");
    expect_value(1231, NULL, "{1.50,NaN}", D1V_TEXT, "[\"1.50\",\"NaN\"]");
    expect_value(1185, NULL, "{\"2026-11-02 10:00:00+00\"}", D1V_TEXT, "[\"2026-11-02T10:00:00Z\"]");
    expect_value(3807, NULL, "{\"{\\\"a\\\": 1}\"}", D1V_TEXT, "[{\"a\": 1}]");
    expect_value(1001, NULL, "{\"\\\\x01\"}", D1V_TEXT, "[\"\\\\x01\"]");
    expect_value(1022, NULL, "{NaN,1.5}", D1V_TEXT, "[\"NaN\",1.5]");
    expect_value(1000, NULL, "{t,f}", D1V_TEXT, "[true,false]");
    expect_value(90006, NULL, "{paid,pending}", D1V_TEXT, "[\"paid\",\"pending\"]");
    expect_bad(1007, "{1,2", NULL);
    expect_bad(1007, "{1,x}", NULL);
    expect_bad(1007, "{1,2}x", NULL);
    expect_bad(1009, "{\"a}", NULL);
}

Test(d1_types, composites)
{
    expect_value(90003, NULL, "(1,\"x y\",,\"\",\"q\"\"\")", D1V_TEXT,
                 "{\"a\":1,\"b\":\"x y\",\"c\":null,\"d\":\"\",\"e\":\"q\\\"\"}");
    expect_value(90003, NULL, "(1,b,\"2026-11-02 10:00:00+00\",,)", D1V_TEXT,
                 "{\"a\":1,\"b\":\"b\",\"c\":\"2026-11-02T10:00:00Z\",\"d\":null,\"e\":null}");
    expect_value(90004, NULL, "{\"(1,a,,,)\",NULL}", D1V_TEXT,
                 "[{\"a\":1,\"b\":\"a\",\"c\":null,\"d\":null,\"e\":null},null]");
    expect_bad(90003, "(1,a)", NULL);
    expect_bad(90003, "(1,a,,,,)", NULL);
    expect_bad(90003, "1,a,,,", NULL);
}

/* D1 keeps SQL NULL and the text 'null' apart: json values are stored as they were
 * printed, never wrapped (docs/types.md, "JSON null"); -0 is bound as -0. */
Test(d1_types, json_null_and_negative_zero_in_d1)
{
    expect_value(3802, NULL, "null", D1V_TEXT, "null");
    expect_value(114, NULL, " null ", D1V_TEXT, " null ");
    expect_value(3802, NULL, "{\"$json\": 1}", D1V_TEXT, "{\"$json\": 1}");
    expect_value(3807, NULL, "{\"null\",NULL}", D1V_TEXT, "[{\"$json\":null},null]");
    expect_value(701, NULL, "-0", D1V_REAL, "-0");
    expect_value(701, "TEXT", "-0", D1V_TEXT, "-0");
    D1Type *t = ty(700, NULL);
    D1Value v;
    Err err;
    cr_assert(d1_value_from_text(t, "-0", 2, &v, &err), "%s", err.msg);
    cr_expect(v.kind == D1V_REAL && v.r == 0 && signbit(v.r));
    d1_value_clear(&v);
    d1_type_free(t);
}

Test(d1_types, overrides)
{
    expect_value(20, "TEXT", "9223372036854775807", D1V_TEXT, "9223372036854775807");
    expect_value(1700, "REAL", "12.50", D1V_REAL, "12.50");
    expect_value(1700, "INTEGER", "12", D1V_INTEGER, "12");
    expect_value(25, "BLOB", "abc", D1V_BLOB, "abc");
    expect_value(16, "TEXT", "t", D1V_TEXT, "1");
    D1Type *t = ty(1700, "INTEGER");
    D1Value v;
    Err err;
    cr_expect_not(d1_value_from_text(t, "12.5", 4, &v, &err));
    cr_expect_str_eq(err.msg, "numeric value \"12.5\" is not an integer (the mapping stores it as INTEGER)");
    d1_type_free(t);
}

Test(d1_types, max_bytes)
{
    D1Type *t = ty(1043, NULL);
    cr_expect_eq(d1_type_max_bytes(t, 10 + 4), 40);
    cr_expect_eq(d1_type_max_bytes(t, -1), 0);
    d1_type_free(t);
    t = ty(1700, NULL);
    cr_expect_eq(d1_type_max_bytes(t, (12 << 16 | 2) + 4), 15);
    d1_type_free(t);
    t = ty(20, NULL);
    cr_expect_eq(d1_type_max_bytes(t, -1), 8);
    d1_type_free(t);
}
