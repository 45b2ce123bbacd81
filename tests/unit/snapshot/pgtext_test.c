/* Unit tests for snapshot/pgtext: snapshot JSON values back to Postgres text, and whole rows. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../d1/d1_test_util.h"
#include "snapshot/pgtext.h"

typedef struct Case {
    uint32_t oid;
    const char *pg;            /* Postgres's text output (the stream's pinned settings) */
} Case;

/* Render pg as the snapshot does, read it back: the same text, and the same JSON again. */
static void round_trip_in(const CatalogInfo *cat, const Case *c)
{
    Err err;
    D1Type *t = d1_type_resolve(cat, c->oid, NULL, &err);
    cr_assert_not_null(t, "type %u: %s", c->oid, err.msg);
    Buf json, text, again;
    buf_init(&json, 1 << 20);
    buf_init(&text, 1 << 20);
    buf_init(&again, 1 << 20);
    cr_assert(d1_value_append_json(t, c->pg, strlen(c->pg), &json, &err), "%s: %s", c->pg, err.msg);
    cr_assert(pgtext_from_json(t, json.data, json.len, &text, &err), "%s (%s): %s", c->pg, json.data, err.msg);
    cr_assert_str_eq(text.data ? text.data : "", c->pg, "type %u: %s -> %s", c->oid, json.data, text.data);
    cr_assert(d1_value_append_json(t, text.data ? text.data : "", text.len, &again, &err), "%s", err.msg);
    cr_assert_str_eq(again.data, json.data);
    buf_free(&json);
    buf_free(&text);
    buf_free(&again);
    d1_type_free(t);
}

static void round_trip(const Case *c) { round_trip_in(&test_cat, c); }

Test(pgtext, every_builtin_value_comes_back_as_postgres_printed_it)
{
    static const Case cases[] = {
        {20, "9223372036854775807"}, {20, "-9223372036854775808"}, {20, "42"}, {23, "-2147483648"},
        {21, "0"}, {26, "4294967295"},
        {701, "0.1"}, {701, "1e+20"}, {701, "NaN"}, {701, "-Infinity"}, {700, "3.4028235e+38"},
        {1700, "12345678901234567890.123456789012345678"}, {1700, "NaN"}, {1700, "-Infinity"},
        {16, "t"}, {16, "f"},
        {25, "ünïcode ✓ \"dq\" 'sq' back\\slash\nnewline\ttab \x01"}, {25, ""}, {1042, "ab  "},
        {17, "\\x000a00ff0a"}, {17, "\\x"}, {2950, "b622f8fb-9988-4869-8b55-4c7aa3d570f3"},
        {1082, "2026-11-02"}, {1082, "0044-03-15 BC"}, {1082, "0001-01-01 BC"}, {1082, "infinity"},
        {1082, "12345-06-07"},
        {1083, "10:00:00.5"}, {1083, "24:00:00"},
        {1266, "10:00:00+05:30"}, {1266, "23:59:59.999999-12"}, {1266, "10:00:00+00"}, {1266, "01:02:03+01:02:03"},
        {1114, "2026-11-02 10:00:00.123456"}, {1114, "0044-03-15 10:00:00 BC"}, {1114, "-infinity"},
        {1184, "2026-11-02 08:00:00.5+00"}, {1184, "0044-03-15 10:00:00+00 BC"}, {1184, "infinity"},
        {1186, "P1Y2M3DT4H5M6.5S"}, {1186, "P-1D"},
        {114, "{\"a\": [1, 2.50, \"x\"]}"}, {3802, "{\"a\": \"x\", \"b\": 1}"}, {3802, "\"s\""}, {3802, "[]"},
        {869, "192.168.0.1/24"}, {829, "08:00:2b:01:02:03"}, {142, "<a>b &amp; c</a>"}, {790, "$1,234.56"},
        {1007, "{1,NULL,3}"}, {1007, "{{1,2},{3,4}}"}, {1007, "{}"},
        {1009, "{a,\"b c\",\"q\\\"uote\",NULL,\"NULL\",\"\",\"back\\\\slash\"}"}, {1009, "{\"{}\",\",\"}"},
        {1001, "{\"\\\\x00ff\",NULL}"}, {1185, "{\"2026-11-02 08:00:00+00\",infinity}"},
        {1182, "{\"0044-03-15 BC\",2026-01-01}"}, {3807, "{\"{\\\"a\\\": 1}\",NULL}"},
        {1000, "{t,f,NULL}"}, {1022, "{0.1,NaN,-Infinity}"}, {1231, "{1.50,NaN}"},
        /* JSON null and the wrapper key (docs/types.md, "JSON null"); float -0 */
        {3802, "null"}, {114, "null"}, {114, " null "}, {3802, "\"null\""}, {3802, "{\"$json\": 1}"},
        {114, "{\"$json\":null}"}, {114, "{ \"$json\" : [null] }"}, {3802, "{\"$json\": 1, \"a\": null}"},
        {3807, "{\"null\",NULL,\"\\\"null\\\"\"}"}, {199, "{\"{\\\"$json\\\":null}\",NULL}"},
        {701, "-0"}, {700, "-0"}, {1022, "{-0,0}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        round_trip(&cases[i]);
}

Test(pgtext, malformed_values_are_errors_that_name_the_type)
{
    Err err;
    D1Type *t = d1_type_resolve(&test_cat, 16, NULL, &err);
    Buf b;
    buf_init(&b, 1024);
    cr_assert_not(pgtext_from_json(t, "\"yes\"", 5, &b, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "boolean"), "%s", err.msg);
    d1_type_free(t);
    t = d1_type_resolve(&test_cat, 1007, NULL, &err);
    cr_assert_not(pgtext_from_json(t, "[1,2", 4, &b, &err));
    cr_assert_not(pgtext_from_json(t, "{}", 2, &b, &err));
    d1_type_free(t);
    t = d1_type_resolve(&test_cat, 25, NULL, &err);
    cr_assert_not(pgtext_from_json(t, "42", 2, &b, &err), "a text value is a JSON string");
    cr_assert_not(pgtext_from_json(t, "\"a\\q\"", 5, &b, &err), "bad escape");
    d1_type_free(t);
    buf_free(&b);
}

Test(pgtext, rows_come_back_by_column_name_with_nulls)
{
    Err err;
    D1Type *types[3] = {d1_type_resolve(&test_cat, 20, NULL, &err), d1_type_resolve(&test_cat, 25, NULL, &err),
                        d1_type_resolve(&test_cat, 1184, NULL, &err)};
    const char *names[3] = {"id", "name", "at"};
    PgTextRow *r = pgtext_row_new(names, (const D1Type *const *)types, 3);
    PgoCol vals[3];
    const char *line = "{\"name\":\"a \\\"b\\\" \\u00e9\\ud83d\\ude00\", \"at\":\"2026-11-02T08:00:00Z\",\"id\":\"9007199254740993\"}";
    cr_assert(pgtext_row_parse(r, line, strlen(line), vals, &err), "%s", err.msg);
    cr_assert_eq(vals[0].kind, PGO_COL_TEXT);
    cr_assert_eq(vals[0].len, 16);
    cr_assert_eq(memcmp(vals[0].data, "9007199254740993", 16), 0);
    cr_assert_eq(vals[1].len, strlen("a \"b\" é😀"));
    cr_assert_eq(memcmp(vals[1].data, "a \"b\" é😀", vals[1].len), 0);
    cr_assert_eq(memcmp(vals[2].data, "2026-11-02 08:00:00+00", vals[2].len), 0);
    line = "{\"id\":1,\"name\":null,\"at\":null}";
    cr_assert(pgtext_row_parse(r, line, strlen(line), vals, &err), "%s", err.msg);
    cr_assert_eq(vals[1].kind, PGO_COL_NULL);
    cr_assert_eq(vals[2].kind, PGO_COL_NULL);

    static const char *const bad[] = {
        "{\"id\":1,\"name\":null}",                          /* a column missing */
        "{\"id\":1,\"name\":null,\"at\":null,\"x\":1}",      /* a column the table lacks */
        "{\"id\":1,\"id\":2,\"name\":null,\"at\":null}",     /* twice */
        "{\"id\":1,\"name\":null,\"at\":null} x",            /* trailing bytes */
        "[1,2,3]",
        "{\"id\":1,\"name\":\"unterminated,\"at\":null}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_not(pgtext_row_parse(r, bad[i], strlen(bad[i]), vals, &err), "accepted %s", bad[i]);
        cr_assert_eq(err.code, ERR_PROTOCOL, "%s: %s", bad[i], err.msg);
    }
    pgtext_row_free(r);
    for (int i = 0; i < 3; i++)
        d1_type_free(types[i]);
}

/* A row: SQL NULL is `null`, JSON null the wrapper; the two never read back alike. */
Test(pgtext, sql_null_and_json_null_come_back_apart)
{
    Err err;
    D1Type *types[3] = {d1_type_resolve(&test_cat, 3802, NULL, &err), d1_type_resolve(&test_cat, 114, NULL, &err),
                        d1_type_resolve(&test_cat, 701, NULL, &err)};
    const char *names[3] = {"jb", "j", "f"};
    PgTextRow *r = pgtext_row_new(names, (const D1Type *const *)types, 3);
    PgoCol vals[3];
    const char *line = "{\"jb\":null,\"j\":{\"$json\":null},\"f\":-0}";
    cr_assert(pgtext_row_parse(r, line, strlen(line), vals, &err), "%s", err.msg);
    cr_assert_eq(vals[0].kind, PGO_COL_NULL);
    cr_assert_eq(vals[1].kind, PGO_COL_TEXT);
    cr_assert_eq(vals[1].len, 4);
    cr_assert_eq(memcmp(vals[1].data, "null", 4), 0);
    cr_assert_eq(vals[2].len, 2);
    cr_assert_eq(memcmp(vals[2].data, "-0", 2), 0);
    line = "{\"jb\":{\"$json\":null},\"j\":null,\"f\":null}";
    cr_assert(pgtext_row_parse(r, line, strlen(line), vals, &err), "%s", err.msg);
    cr_assert_eq(vals[0].kind, PGO_COL_TEXT);
    cr_assert_eq(memcmp(vals[0].data, "null", 4), 0);
    cr_assert_eq(vals[1].kind, PGO_COL_NULL);
    cr_assert_eq(vals[2].kind, PGO_COL_NULL);
    line = "{\"jb\":\"null\",\"j\":{\"$json\":{\"$json\":1}},\"f\":0}";
    cr_assert(pgtext_row_parse(r, line, strlen(line), vals, &err), "%s", err.msg);
    cr_assert_eq(vals[0].len, 6);
    cr_assert_eq(memcmp(vals[0].data, "\"null\"", 6), 0);
    cr_assert_eq(vals[1].len, strlen("{\"$json\":1}"));
    cr_assert_eq(memcmp(vals[1].data, "{\"$json\":1}", vals[1].len), 0);
    pgtext_row_free(r);
    /* a bare JSON null inside a value is not how a snapshot renders JSON null */
    Buf b;
    buf_init(&b, 1024);
    cr_assert_not(pgtext_from_json(types[0], "null", 4, &b, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    buf_free(&b);
    for (int i = 0; i < 3; i++)
        d1_type_free(types[i]);
}

Test(pgtext, a_record_whose_only_attribute_is_the_wrapper_key_round_trips)
{
    static const CatAttr one[] = {{"$json", 3802, -1}};
    static const CatType types[] = {
        {.oid = 90101, .schema = "public", .name = "w", .formatted = "w", .typtype = 'c', .attrs = one, .attr_count = 1},
        {.oid = 90102, .schema = "public", .name = "_w", .formatted = "w[]", .typtype = 'b', .category = 'A',
         .elem_oid = 90101, .delim = ','},
    };
    static const CatalogInfo cat = {.types = types, .type_count = 2};
    static const Case cases[] = {{90101, "(null)"}, {90101, "()"}, {90101, "(\"{\"\"$json\"\": 1}\")"},
                                 {90102, "{(null),NULL,()}"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        round_trip_in(&cat, &cases[i]);
    Err err;
    D1Type *t = d1_type_resolve(&cat, 90101, NULL, &err);
    Buf b;
    buf_init(&b, 1024);
    cr_assert_not(pgtext_from_json(t, "{\"$json\":1}", 11, &b, &err), "an unwrapped record is refused");
    buf_free(&b);
    d1_type_free(t);
}
