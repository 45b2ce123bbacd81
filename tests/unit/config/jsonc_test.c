/* Unit tests for config/jsonc: JSON with comments and trailing commas, with positions. */
#include <criterion/criterion.h>
#include <string.h>

#include "config/jsonc.h"

static JsoncNode *parse(const char *text, Err *err)
{
    return jsonc_parse(text, strlen(text), "t.jsonc", err);
}

Test(jsonc, comments_trailing_commas_and_positions)
{
    const char *text = "// leading comment\n"
                       "{\n"
                       "  /* block\n     comment */ \"a\": [1, 2.5e3, -0,],\n"
                       "  \"b\": {\"c\": true, \"d\": null,}, // trailing\n"
                       "  \"é\": \"x\\u00e9\\ud83d\\ude00\\n\",\n"
                       "}\n";
    Err err;
    JsoncNode *root = parse(text, &err);
    cr_assert_not_null(root, "%s", err.msg);
    cr_assert_eq(root->type, JSONC_OBJECT);
    cr_assert_eq(root->line, 2);
    cr_assert_eq(root->member_count, 3);
    const JsoncMember *a = jsonc_member(root, "a");
    cr_assert_eq(a->line, 4);
    cr_assert_eq(a->col, 17);
    cr_assert_eq(a->value->item_count, 3);
    cr_assert_str_eq(a->value->items[1]->text, "2.5e3");
    int64_t v;
    cr_assert(jsonc_int64(a->value->items[0], &v) && v == 1);
    cr_assert_not(jsonc_int64(a->value->items[1], &v));
    const JsoncMember *b = jsonc_member(root, "b");
    cr_assert(jsonc_member(b->value, "c")->value->boolean);
    cr_assert_eq(jsonc_member(b->value, "d")->value->type, JSONC_NULL);
    const JsoncMember *e = jsonc_member(root, "é");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->value->text, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    cr_assert_eq(e->col, 3);
    jsonc_free(root);
}

static void expect_error(const char *text, const char *message)
{
    Err err;
    JsoncNode *root = parse(text, &err);
    cr_assert_null(root, "parsed: %s", text);
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert_str_eq(err.msg, message);
}

Test(jsonc, errors_name_line_and_column)
{
    expect_error("{\n  \"a\": 1\n  \"b\": 2\n}", "t.jsonc:3:3: invalid JSON: expected ',' or '}' after object member");
    expect_error("{\"a\" 1}", "t.jsonc:1:6: invalid JSON: expected ':' after object key");
    expect_error("{\"a\": tru}", "t.jsonc:1:7: invalid JSON: unexpected character 't'");
    expect_error("{\"a\": 1, \"a\": 2}", "t.jsonc:1:10: invalid JSON: duplicate or invalid key \"a\"");
    expect_error("[1, 2", "t.jsonc:1:1: invalid JSON: unterminated array");
    expect_error("{\"a\": \"x", "t.jsonc:1:7: invalid JSON: unterminated string");
    expect_error("{\"a\": \"x\ty\"}", "t.jsonc:1:9: invalid JSON: control character in string (write it as an escape)");
    expect_error("/* never closed", "t.jsonc:1:1: invalid JSON: unterminated comment");
    expect_error("", "t.jsonc:1:1: invalid JSON: unexpected end of input, expected a value");
    expect_error("{} {}", "t.jsonc:1:4: invalid JSON: unexpected content after the top-level value");
    expect_error("{\"a\": 01}", "t.jsonc:1:8: invalid JSON: expected ',' or '}' after object member");
    expect_error("{\"a\": \"\\x\"}", "t.jsonc:1:8: invalid JSON: invalid escape sequence in string");
    expect_error("{\"a\": \"\\ud800\"}", "t.jsonc:1:8: invalid JSON: unpaired UTF-16 surrogate in \\u escape");
    expect_error("{a: 1}", "t.jsonc:1:2: invalid JSON: expected a string key in double quotes");
    expect_error("{,}", "t.jsonc:1:2: invalid JSON: expected a string key in double quotes");
}

Test(jsonc, depth_is_capped)
{
    char text[200];
    memset(text, '[', 100);
    text[100] = '\0';
    Err err;
    cr_assert_null(parse(text, &err));
    cr_assert(strstr(err.msg, "nesting deeper than 64 levels"), "%s", err.msg);
}

Test(jsonc, nul_in_keys_is_refused_and_in_values_kept_with_length)
{
    Err err;
    JsoncNode *root = parse("{\"a\": \"x\\u0000y\"}", &err);
    cr_assert_not_null(root);
    cr_assert_eq(jsonc_member(root, "a")->value->text_len, 3);
    jsonc_free(root);
    cr_assert_null(parse("{\"a\\u0000b\": 1}", &err));
}
