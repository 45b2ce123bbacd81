/*
 * Unit tests for pg/resync_key (the key types a resync reads by, their order, a key's text
 * form) and pg/resync's chunk statement for keys of one and more columns.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pg/resync.h"
#include "pg/resync_key.h"

Test(resync_key, the_supported_types)
{
    ResyncKeyType t;
    cr_assert(resync_key_type_of(20, &t) && t == RESYNC_KEY_INTEGER);
    cr_assert(resync_key_type_of(21, &t) && t == RESYNC_KEY_INTEGER);
    cr_assert(resync_key_type_of(23, &t) && t == RESYNC_KEY_INTEGER);
    cr_assert(resync_key_type_of(25, &t) && t == RESYNC_KEY_TEXT);
    cr_assert(resync_key_type_of(1043, &t) && t == RESYNC_KEY_TEXT);
    cr_assert(resync_key_type_of(2950, &t) && t == RESYNC_KEY_UUID);
    cr_assert_not(resync_key_type_of(1700, &t), "numeric is not one");
    cr_assert_not(resync_key_type_of(1082, &t), "date is not one");
    cr_assert_not(resync_key_type_of(1042, &t), "char(n) (trailing blanks) is not one");
    for (ResyncKeyType k = RESYNC_KEY_INTEGER; k <= RESYNC_KEY_UUID; k++)
        cr_assert(resync_key_type_parse(resync_key_type_name(k), &t) && t == k);
    cr_assert_not(resync_key_type_parse("numeric", &t));
    cr_assert_not(resync_key_type_parse(NULL, &t));
}

Test(resync_key, integers_order_as_numbers_text_as_bytes)
{
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_INTEGER, "9", "10"), 0);
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_INTEGER, "-20", "-3"), 0);
    cr_assert_eq(resync_key_cmp1(RESYNC_KEY_INTEGER, "9223372036854775807", "9223372036854775807"), 0);
    cr_assert_gt(resync_key_cmp1(RESYNC_KEY_INTEGER, "9223372036854775807", "-9223372036854775808"), 0);
    /* text: COLLATE "C" / BINARY, not a language's order */
    cr_assert_gt(resync_key_cmp1(RESYNC_KEY_TEXT, "9", "10"), 0, "as text, '9' is after '10'");
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_TEXT, "B", "a"), 0, "upper case first");
    cr_assert_gt(resync_key_cmp1(RESYNC_KEY_TEXT, "\xc3\xa9", "z"), 0, "é (U+00E9) after z: code point order");
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_TEXT, "ab", "abc"), 0);
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_TEXT, "", "a"), 0);
    /* uuids as their lowercase text: the order of their bytes */
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_UUID, "0fffffff-ffff-ffff-ffff-ffffffffffff",
                                 "a0000000-0000-0000-0000-000000000000"),
                 0);
    cr_assert_lt(resync_key_cmp1(RESYNC_KEY_UUID, "9fffffff-0000-0000-0000-000000000000",
                                 "a0000000-0000-0000-0000-000000000000"),
                 0);
}

Test(resync_key, composite_keys_compare_first_column_first)
{
    ResyncKeyType types[] = {RESYNC_KEY_TEXT, RESYNC_KEY_INTEGER};
    const char *a[] = {"acme", "10"}, *b[] = {"acme", "9"}, *c[] = {"beta", "1"}, *d[] = {"acme", "10"};
    cr_assert_gt(resync_key_cmp(types, 2, a, b), 0, "10 > 9 as integers in the second column");
    cr_assert_lt(resync_key_cmp(types, 2, a, c), 0, "the first column decides");
    cr_assert_eq(resync_key_cmp(types, 2, a, d), 0);
}

Test(resync_key, the_text_form_of_a_key)
{
    const char *one[] = {"42"};
    char *k = resync_key_encode(one, 1);
    cr_assert_str_eq(k, "42", "one column: its value, as before composite keys");
    free(k);
    const char *two[] = {"a \"q\" \\", "7"};
    k = resync_key_encode(two, 2);
    cr_assert_str_eq(k, "[\"a \\\"q\\\" \\\\\",\"7\"]");
    free(k);
    const char *other[] = {"a \"q\" \\", "07"};
    char *k2 = resync_key_encode(other, 2);
    cr_assert_str_neq(k2, "[\"a \\\"q\\\" \\\\\",\"7\"]", "the text, not the value: the stream's and a chunk's agree");
    free(k2);
}

Test(resync_key, the_chunk_statement_of_a_composite_key)
{
    const char *keys[] = {"tenant", "n"}, *cols[] = {"tenant", "n", "v"};
    ResyncKeyType types[] = {RESYNC_KEY_TEXT, RESYNC_KEY_INTEGER};
    PgResyncChunk c = {"public", "we\"ird", keys, types, 2, cols, 3, NULL, 100, "{}"};
    Buf sql;
    buf_init(&sql, 1 << 16);
    Err err;
    cr_assert(pgresync_chunk_sql(&c, &sql, &err), "%s", err.msg);
    cr_assert_not_null(strstr(sql.data, "FROM \"public\".\"we\"\"ird\" WHERE $1::jsonb IS NULL OR (\"tenant\" COLLATE "
                                        "\"C\", \"n\") > (($1::jsonb->>0) COLLATE \"C\", ($1::jsonb->>1)::int8) "
                                        "ORDER BY \"tenant\" COLLATE \"C\", \"n\" LIMIT $2)"),
                       "%s", sql.data);
    cr_assert_not_null(strstr(sql.data, "SELECT jsonb_build_array(c.\"tenant\"::text, c.\"n\"::text) AS k FROM c "
                                        "ORDER BY c.\"tenant\" COLLATE \"C\" DESC, c.\"n\" DESC LIMIT 1"),
                       "the last key: %s", sql.data);
    cr_assert_not_null(strstr(sql.data, "jsonb_agg(jsonb_build_array(c.\"tenant\"::text, c.\"n\"::text, "
                                        "c.\"v\"::text) ORDER BY c.\"tenant\" COLLATE \"C\", c.\"n\")"),
                       "the rows in key order: %s", sql.data);
    buf_free(&sql);

    const char *ukey[] = {"id"};
    ResyncKeyType utype[] = {RESYNC_KEY_UUID};
    PgResyncChunk u = {"public", "docs", ukey, utype, 1, ukey, 1, "[\"0a\"]", 10, "{}"};
    buf_init(&sql, 1 << 16);
    cr_assert(pgresync_chunk_sql(&u, &sql, &err), "%s", err.msg);
    cr_assert_not_null(strstr(sql.data, "(\"id\") > (($1::jsonb->>0)::uuid) ORDER BY \"id\" LIMIT $2"), "%s",
                       sql.data);
    buf_free(&sql);

    PgResyncChunk none = {"public", "t", keys, types, 0, cols, 3, NULL, 10, "{}"};
    buf_init(&sql, 1 << 16);
    cr_assert_not(pgresync_chunk_sql(&none, &sql, &err), "a key of no column");
    buf_free(&sql);
}
