/* Unit tests for schema/diff: each DDL kind captured from PostgreSQL 15, and the Relation fallback. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "schema/diff.h"
#include "schema_util.h"

/* The diff of two fixtures, described ("add column plan (text)"). */
static char *describe(Shape *before, Shape *after, bool rewritten)
{
    SchemaDiff d;
    schema_diff(before, after, rewritten, &d);
    char *text = schema_diff_describe(&d);
    schema_diff_free(&d);
    shape_free(before);
    shape_free(after);
    return text;
}

static void expect(char *text, const char *want)
{
    cr_expect_str_eq(text, want);
    free(text);
}

Test(diff, each_captured_ddl_by_attnum)
{
    expect(describe(fixture_base_shape(), fixture_shape("add_default"), false), "add column plan (text)");
    expect(describe(fixture_shape("add_default"), fixture_shape("rename"), false), "rename column name to full_name");
    expect(describe(fixture_shape("rename"), fixture_shape("drop_column"), false), "drop column score");
    expect(describe(fixture_shape("drop_column"), fixture_shape("type_change"), false),
           "change the type of column full_name from character varying(40) to text");
    expect(describe(fixture_shape("type_change"), fixture_shape("pk_drop"), false), "change the primary key");
    expect(describe(fixture_shape("pk_add"), fixture_shape("rewrite_shape"), true),
           "change the type of column id from bigint to numeric, rewrite");
    expect(describe(fixture_shape("pk_add"), fixture_shape("pk_add"), false), "a schema change");
}

Test(diff, a_new_oid_is_a_recreated_table)
{
    Shape *a = fixture_shape("pk_add"), *b = fixture_shape("pk_add");
    b->oid++;
    SchemaDiff d;
    schema_diff(a, b, false, &d);
    cr_assert_eq(d.count, 1);
    cr_assert_eq(d.ops[0].kind, SCHEMA_RECREATED);
    schema_diff_free(&d);
    shape_free(a);
    shape_free(b);
}

typedef struct ColSpec {
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
    bool key;
} ColSpec;

/* The shape of a Relation message of public.users with these columns. */
static Shape *rel_shape(const ColSpec *spec, uint16_t n)
{
    RelCol cols[8];
    for (uint16_t i = 0; i < n; i++)
        cols[i] = (RelCol){strdup(spec[i].name), spec[i].type_oid, spec[i].typmod, spec[i].key};
    char nsp[] = "public", rel_name[] = "users", qual[] = "public.users";
    Rel rel = {.oid = 60395, .nspname = nsp, .relname = rel_name, .qualname = qual, .ncols = n, .cols = cols};
    Shape *s = shape_from_rel(&rel);
    for (uint16_t i = 0; i < n; i++)
        free(cols[i].name);
    return s;
}

Test(diff, relation_fallback_adds_and_drops_are_clear)
{
    ColSpec base[] = {{"id", 20, -1, true}, {"email", 25, -1, false}};
    ColSpec added[] = {{"id", 20, -1, true}, {"email", 25, -1, false}, {"plan", 25, -1, false}};
    ColSpec dropped[] = {{"id", 20, -1, true}};
    expect(describe(rel_shape(base, 2), rel_shape(added, 3), false), "add column plan (?)");
    expect(describe(rel_shape(base, 2), rel_shape(dropped, 1), false), "drop column email");
    /* the last exact shape against a Relation: names and types compared, the key not */
    Shape *exact = fixture_shape("add_default");
    ColSpec rel_after[] = {{"id", 20, -1, true}, {"email", 25, -1, false}, {"name", 1043, 44, false},
                          {"score", 1700, 655366, false}, {"plan", 25, -1, false}, {"extra", 23, -1, false}};
    Shape *relation = rel_shape(rel_after, 6);
    relation->oid = exact->oid;
    expect(describe(exact, relation, false), "add column extra (?)");
}

Test(diff, relation_fallback_drop_plus_add_is_ambiguous)
{
    ColSpec base[] = {{"id", 20, -1, true}, {"email", 25, -1, false}};
    ColSpec renamed[] = {{"id", 20, -1, true}, {"mail", 25, -1, false}};
    Shape *a = rel_shape(base, 2), *b = rel_shape(renamed, 2);
    SchemaDiff d;
    schema_diff(a, b, false, &d);
    cr_assert_eq(d.count, 1);
    cr_assert_eq(d.ops[0].kind, SCHEMA_AMBIGUOUS);
    cr_assert_str_eq(d.ops[0].before->name, "email");
    cr_assert_str_eq(d.ops[0].after->name, "mail");
    schema_diff_free(&d);
    expect(describe(a, b, false), "drop and add columns (email gone, mail new: a rename?)");
}
