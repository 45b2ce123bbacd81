/* pipeline/keytemplate: parsing, rendering against a row, the key escaping rule, key validity. */
#include <criterion/criterion.h>
#include <string.h>

#include "pipeline/keytemplate.h"

static char n_id[] = "id", n_email[] = "email", n_bio[] = "bio", n_tenant[] = "tenant", n_rel[] = "public.users";
static RelCol cols[] = {{.name = n_id}, {.name = n_email}, {.name = n_bio}, {.name = n_tenant}};
static Rel rel = {.qualname = n_rel, .ncols = 4, .cols = cols};

static PgoCol text(const char *s) { return (PgoCol){.kind = PGO_COL_TEXT, .len = (uint32_t)strlen(s), .data = (const uint8_t *)s}; }

static char *render(const char *tpl, KtMode mode, const PgoCol *vals, KtResult *res)
{
    Err err;
    KeyTemplate *t = keytemplate_parse(tpl, &err);
    cr_assert(t, "%s", err.msg);
    Buf b;
    buf_init(&b, 4096);
    PgoTuple tup = {.ncols = 4, .cols = vals};
    *res = keytemplate_render(t, mode, &rel, &tup, &b, NULL, &err);
    keytemplate_free(t);
    char *s = buf_take(&b);
    buf_free(&b);
    return s;
}

Test(keytemplate, parse_and_columns)
{
    Err err;
    KeyTemplate *t = keytemplate_parse("tenant:{tenant}:user:{email}", &err);
    cr_assert(t);
    cr_assert_eq(keytemplate_column_count(t), 2);
    cr_assert_str_eq(keytemplate_column(t, 0), "tenant");
    cr_assert_str_eq(keytemplate_column(t, 1), "email");
    cr_assert(!keytemplate_is_literal(t));
    keytemplate_free(t);
    cr_assert_null(keytemplate_parse("a{}", &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert_null(keytemplate_parse("a}b", &err));
    cr_assert_null(keytemplate_parse("a{b", &err));
    t = keytemplate_parse("const", &err);
    cr_assert(keytemplate_is_literal(t));
    keytemplate_free(t);
}

Test(keytemplate, escapes_separators_controls_and_bad_utf8)
{
    PgoCol vals[4] = {text("7"), text("a:b/c%d\n\x01 é\xff"), {.kind = PGO_COL_NULL}, text("3")};
    KtResult r;
    char *s = render("t:{tenant}:u:{email}", KT_ESCAPE_KEY, vals, &r);
    cr_assert_eq(r, KT_OK);
    cr_assert_str_eq(s, "t:3:u:a%3Ab%2Fc%25d%0A%01 é%FF");
    free(s);
    s = render("v={email}", KT_RAW, vals, &r);
    cr_assert_eq(r, KT_OK);
    cr_assert_str_eq(s, "v=a:b/c%d\n\x01 é\xff");
    free(s);
}

Test(keytemplate, null_and_unchanged)
{
    PgoCol vals[4] = {text("7"), {.kind = PGO_COL_NULL}, {.kind = PGO_COL_UNCHANGED}, text("3")};
    KtResult r;
    free(render("u:{email}", KT_ESCAPE_KEY, vals, &r));
    cr_assert_eq(r, KT_NULL);
    char *s = render("[{email}]", KT_RAW, vals, &r);
    cr_assert_eq(r, KT_OK);
    cr_assert_str_eq(s, "[]");
    free(s);
    free(render("b:{bio}", KT_ESCAPE_KEY, vals, &r));
    cr_assert_eq(r, KT_MISSING);
    free(render("x:{nosuch}", KT_ESCAPE_KEY, vals, &r));
    cr_assert_eq(r, KT_MISSING);
}

Test(keytemplate, key_rules)
{
    char big[600];
    memset(big, 'k', sizeof big);
    cr_assert(kt_key_valid("user:1", 6, NULL));
    cr_assert(kt_key_valid(big, 512, NULL));
    cr_assert(!kt_key_valid(big, 513, NULL));
    cr_assert(!kt_key_valid("", 0, NULL));
    cr_assert(!kt_key_valid(".", 1, NULL));
    cr_assert(!kt_key_valid("..", 2, NULL));
    cr_assert(kt_utf8_valid("é✓", strlen("é✓")));
    cr_assert(!kt_utf8_valid("\xc3", 1));
    cr_assert(!kt_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
}
