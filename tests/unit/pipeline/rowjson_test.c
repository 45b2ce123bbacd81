/* Unit tests for pipeline/rowjson: rows as JSON with lossless values. */
#include <criterion/criterion.h>
#include <jansson.h>

#include "../d1/d1_test_util.h"
#include "pipeline/rowjson.h"

static char n_id[] = "id", n_email[] = "email", n_name[] = "name", n_pw[] = "password_hash", n_avatar[] = "avatar",
            n_score[] = "score", n_tags[] = "tags", n_new[] = "added_later",
            nsp[] = "public", relname[] = "users", qual[] = "public.users";

static RelCol rel_cols[] = {{n_id, 20, -1, true},     {n_email, 25, -1, false}, {n_name, 25, -1, false},
                            {n_pw, 25, -1, false},    {n_avatar, 17, -1, false}, {n_score, 701, -1, false},
                            {n_tags, 1009, -1, false}, {n_new, 25, -1, false}};
static Rel rel = {.oid = 16400, .nspname = nsp, .relname = relname, .qualname = qual, .replident = 'd',
                  .ncols = 8, .cols = rel_cols};

#define T(s) {PGO_COL_TEXT, sizeof(s) - 1, (const uint8_t *)(s)}

static char *render(const RowShape *shape, const PgoCol *cols, RowJsonUnchanged mode, bool *had_unchanged)
{
    PgoTuple tup = {8, cols};
    Buf b;
    Err err;
    buf_init(&b, 1 << 20);
    cr_assert(rowjson_append(shape, &rel, &tup, mode, &b, had_unchanged, &err), "%s", err.msg);
    return buf_take(&b);
}

Test(rowjson, values_render_losslessly_and_excluded_columns_are_left_out)
{
    Err err;
    const char *exclude[] = {"password_hash"};
    RowShape *shape = rowshape_new(&test_cat, &test_tables[0], exclude, 1, &err);
    cr_assert_not_null(shape, "%s", err.msg);
    PgoCol cols[8] = {T("9007199254740993"), T("ada@example.com"), {PGO_COL_NULL, 0, NULL}, T("secret-hash"),
                      T("\\x00ff0a"), T("NaN"), T("{a,\"b c\",NULL}"), T("late")};
    bool had_unchanged = true;
    char *json = render(shape, cols, ROWJSON_MARK_UNCHANGED, &had_unchanged);
    cr_assert_not(had_unchanged);
    cr_assert_str_eq(json, "{\"id\":\"9007199254740993\",\"email\":\"ada@example.com\",\"name\":null,"
                           "\"avatar\":\"\\\\x00ff0a\",\"score\":\"NaN\",\"tags\":[\"a\",\"b c\",null],"
                           "\"added_later\":\"late\"}");
    json_t *doc = json_loads(json, 0, NULL);
    cr_assert_not_null(doc, "valid JSON: %s", json);
    json_decref(doc);
    free(json);

    PgoCol small[8] = {T("42"), T("x"), T("y"), T("z"), {PGO_COL_NULL, 0, NULL}, T("0.1"), T("{}"), T("w")};
    json = render(shape, small, ROWJSON_MARK_UNCHANGED, NULL);
    cr_assert(strstr(json, "\"id\":42,"), "bigint within 2^53 is a number: %s", json);
    cr_assert(strstr(json, "\"score\":0.1,"), "%s", json);
    cr_assert(strstr(json, "\"tags\":[]"), "%s", json);
    free(json);
    rowshape_free(shape);
}

Test(rowjson, unchanged_toast_is_marked_or_skipped_never_null)
{
    Err err;
    RowShape *shape = rowshape_new(&test_cat, &test_tables[0], NULL, 0, &err);
    PgoCol cols[8] = {T("1"), T("e"), {PGO_COL_UNCHANGED, 0, NULL}, T("p"), {PGO_COL_NULL, 0, NULL}, T("1.5"),
                      T("{}"), T("n")};
    bool had = false;
    char *json = render(shape, cols, ROWJSON_MARK_UNCHANGED, &had);
    cr_assert(had);
    cr_assert(strstr(json, "\"name\":{\"unchanged_toast\":true}"), "%s", json);
    free(json);
    json = render(shape, cols, ROWJSON_SKIP_UNCHANGED, &had);
    cr_assert(had);
    cr_assert_null(strstr(json, "\"name\""), "%s", json);
    free(json);
    rowshape_free(shape);
}

Test(rowjson, a_malformed_value_names_its_column)
{
    Err err;
    RowShape *shape = rowshape_new(&test_cat, &test_tables[0], NULL, 0, &err);
    PgoCol cols[8] = {T("12x"), T("e"), T("n"), T("p"), {PGO_COL_NULL, 0, NULL}, T("1"), T("{}"), T("n")};
    PgoTuple tup = {8, cols};
    Buf b;
    buf_init(&b, 4096);
    cr_assert_not(rowjson_append(shape, &rel, &tup, ROWJSON_MARK_UNCHANGED, &b, NULL, &err));
    cr_assert(strstr(err.msg, "column \"id\" of public.users"), "%s", err.msg);
    buf_free(&b);
    rowshape_free(shape);
}
