/* Unit tests for schema/shape: from a DDL message, from a Relation, and through the state store's JSON. */
#include <criterion/criterion.h>
#include <string.h>

#include "schema_util.h"

Test(shape, from_a_ddl_message_keeps_everything)
{
    Shape *s = fixture_shape("add_default");
    cr_assert(s->exact);
    cr_assert_str_eq(s->qualname, "public.users");
    cr_assert_eq(s->ncols, 5);
    const ShapeCol *plan = shape_column(s, "plan");
    cr_assert_not_null(plan);
    cr_assert_eq(plan->attnum, 5);
    cr_assert_str_eq(plan->default_expr, "'free'::text");
    cr_assert_null(shape_column(s, "nope"));
    shape_free(s);
}

Test(shape, json_round_trip_is_identical)
{
    Shape *s = fixture_shape("pk_add");
    char *text = shape_to_json(s);
    Err err;
    Shape *back = shape_from_json(text, &err);
    cr_assert_not_null(back, "%s", err.msg);
    char *again = shape_to_json(back);
    cr_assert_str_eq(text, again);
    cr_assert_eq(back->oid, s->oid);
    cr_assert(back->exact);
    cr_assert(back->cols[1].pk);
    cr_assert_str_eq(back->cols[2].type, "text");
    free(text);
    free(again);
    shape_free(back);
    shape_free(s);
}

Test(shape, from_a_relation_is_not_exact)
{
    char id[] = "id", email[] = "email", nsp[] = "public", name[] = "users", qual[] = "public.users";
    RelCol cols[] = {{id, 20, -1, true}, {email, 25, -1, false}};
    Rel rel = {.oid = 7, .nspname = nsp, .relname = name, .qualname = qual, .ncols = 2, .cols = cols};
    Shape *s = shape_from_rel(&rel);
    cr_assert_not(s->exact);
    cr_assert_eq(s->cols[0].attnum, 0);
    cr_assert(s->cols[0].pk);
    cr_assert_null(s->cols[1].type);
    Shape *copy = shape_copy(s);
    char *a = shape_to_json(s), *b = shape_to_json(copy);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    shape_free(copy);
    shape_free(s);
}

Test(shape, bad_stored_shapes_are_refused)
{
    Err err;
    cr_assert_null(shape_from_json("nope", &err));
    cr_assert_eq(err.code, ERR_STORE);
    cr_assert_null(shape_from_json("{\"oid\":1,\"table\":\"a.b\",\"exact\":true}", &err));
    cr_assert_null(shape_from_json("{\"oid\":1,\"table\":\"a.b\",\"exact\":true,\"columns\":[{\"attnum\":1}]}", &err));
    cr_assert_str_eq(err.msg, "stored table shape of a.b: column 1 is malformed");
}
