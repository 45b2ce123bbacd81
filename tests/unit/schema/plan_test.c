/* Unit tests for schema/plan: the D1 steps and KV stops per mapping, for the captured DDL kinds. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "schema/plan.h"
#include "schema_util.h"

static const char *test_env(const char *name, void *user)
{
    (void)user;
    return strcmp(name, "DATABASE_URL") == 0 ? "postgresql://u@127.0.0.1/db" : NULL;
}

static Config *cfg;
static MappingSet *set;

/* The mapping of public.users given by `text` (replaces the last one). */
static const Mapping *mapping(const char *text)
{
    if (!cfg) {
        static const char c[] = "{ \"source\": { \"dsn\": \"${DATABASE_URL}\" }, \"d1\": { \"app\": {} }, "
                                "\"kv\": { \"cache\": {} } }";
        Err err;
        cfg = config_parse(c, strlen(c), "wal2edge.jsonc", test_env, NULL, &err);
        cr_assert_not_null(cfg, "%s", err.msg);
    }
    mapping_set_free(set);
    set = mapping_set_new();
    Err err;
    cr_assert(mapping_set_add_text(set, cfg, text, strlen(text), "mappings/users.jsonc", &err), "%s", err.msg);
    return &set->items[0];
}

static void fini(void)
{
    mapping_set_free(set);
    set = NULL;
    config_free(cfg);
    cfg = NULL;
    log_redact_clear();
}

TestSuite(plan, .fini = fini);

typedef struct Case {
    Shape *before, *after;
    SchemaDiff diff;
    SchemaPlan plan;
} Case;

static void run_d1(Case *c, const Mapping *m, Shape *before, Shape *after, bool rewritten)
{
    c->before = before;
    c->after = after;
    schema_diff(before, after, rewritten, &c->diff);
    plan_d1(m, &c->diff, &c->plan);
}

static void run_kv(Case *c, const Mapping *m, Shape *before, Shape *after)
{
    c->before = before;
    c->after = after;
    schema_diff(before, after, false, &c->diff);
    plan_kv(m, &c->diff, after, &c->plan);
}

static void done(Case *c)
{
    schema_plan_free(&c->plan);
    schema_diff_free(&c->diff);
    shape_free(c->before);
    shape_free(c->after);
}

#define D1_MAPPING "{\"table\": \"public.users\", \"d1\": {\"database\": \"app\"}}"

Test(plan, add_column_with_a_constant_default)
{
    Case c;
    run_d1(&c, mapping(D1_MAPPING), fixture_base_shape(), fixture_shape("add_default"), false);
    cr_assert_eq(c.plan.count, 1);
    cr_assert_eq(c.plan.steps[0].kind, PLAN_ADD_COLUMN);
    cr_assert_str_eq(c.plan.steps[0].column, "plan");
    cr_assert(c.plan.steps[0].has_default);
    cr_assert_str_eq(c.plan.steps[0].default_value, "free");
    cr_assert_eq(c.plan.steps[0].col->type_oid, 25);
    cr_assert_null(schema_plan_blocker(&c.plan));
    done(&c);
}

Test(plan, exclude_rename_and_types_apply_to_new_columns)
{
    Case c;
    run_d1(&c, mapping("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"exclude\": [\"plan\"]}}"),
           fixture_base_shape(), fixture_shape("add_default"), false);
    cr_assert_eq(c.plan.count, 0, "an excluded new column stays out");
    done(&c);
    run_d1(&c,
           mapping("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"rename\": {\"plan\": \"tier\"}, "
                   "\"types\": {\"plan\": \"BLOB\"}}}"),
           fixture_base_shape(), fixture_shape("add_default"), false);
    cr_assert_str_eq(c.plan.steps[0].column, "tier");
    cr_assert_str_eq(c.plan.steps[0].type_override, "BLOB");
    done(&c);
}

Test(plan, rename_and_drop)
{
    Case c;
    run_d1(&c, mapping(D1_MAPPING), fixture_shape("add_default"), fixture_shape("rename"), false);
    cr_assert_eq(c.plan.count, 1);
    cr_assert_eq(c.plan.steps[0].kind, PLAN_RENAME_COLUMN);
    cr_assert_str_eq(c.plan.steps[0].column, "name");
    cr_assert_str_eq(c.plan.steps[0].new_name, "full_name");
    done(&c);
    run_d1(&c, mapping(D1_MAPPING), fixture_shape("rename"), fixture_shape("drop_column"), false);
    cr_assert_eq(c.plan.count, 1);
    cr_assert_eq(c.plan.steps[0].kind, PLAN_DROP_COLUMN);
    cr_assert_str_eq(c.plan.steps[0].column, "score");
    done(&c);
}

Test(plan, renamed_out_of_an_exclusion_stops)
{
    Case c;
    run_d1(&c, mapping("{\"table\": \"public.users\", \"d1\": {\"database\": \"app\", \"exclude\": [\"name\"]}}"),
           fixture_shape("add_default"), fixture_shape("rename"), false);
    const PlanStep *b = schema_plan_blocker(&c.plan);
    cr_assert_not_null(b);
    cr_assert_eq(b->kind, PLAN_STOP);
    cr_assert_not_null(strstr(b->message, "add \"full_name\" to d1.exclude in mappings/users.jsonc"), "%s",
                       b->message);
    done(&c);
}

Test(plan, binary_coercible_type_change_keeps_d1)
{
    Case c;
    run_d1(&c, mapping(D1_MAPPING), fixture_shape("drop_column"), fixture_shape("type_change"), false);
    cr_assert_eq(c.plan.count, 0);
    done(&c);
}

Test(plan, rewrite_and_key_change_need_a_resync)
{
    Case c;
    run_d1(&c, mapping(D1_MAPPING), fixture_shape("pk_add"), fixture_shape("rewrite_shape"), true);
    const PlanStep *b = schema_plan_blocker(&c.plan);
    cr_assert_not_null(b);
    cr_assert_eq(b->kind, PLAN_RESYNC);
    cr_assert_not_null(strstr(b->message, "rewrote public.users"), "%s", b->message);
    done(&c);
    run_d1(&c, mapping(D1_MAPPING), fixture_shape("type_change"), fixture_shape("pk_drop"), false);
    cr_assert_eq(schema_plan_blocker(&c.plan)->kind, PLAN_RESYNC);
    done(&c);
}

Test(plan, stop_policy_stops_on_any_change)
{
    Case c;
    run_d1(&c, mapping("{\"table\": \"public.users\", \"on_schema_change\": \"stop\", \"d1\": {\"database\": \"app\"}}"),
           fixture_base_shape(), fixture_shape("add_default"), false);
    cr_assert_eq(c.plan.count, 1);
    cr_assert_eq(c.plan.steps[0].kind, PLAN_STOP);
    cr_assert_not_null(strstr(c.plan.steps[0].message, "add column plan (text)"));
    cr_assert_not_null(strstr(c.plan.steps[0].message, "\"on_schema_change\": \"stop\""));
    cr_assert_not_null(strstr(c.plan.steps[0].message, "wal2edge migrate"));
    done(&c);
}

Test(plan, kv_template_naming_a_renamed_or_dropped_column_stops)
{
    static const char m[] = "{\"table\": \"public.users\", \"kv\": [{\"namespace\": \"cache\", \"key\": \"u:{id}\", "
                            "\"value\": \"row\"}, {\"namespace\": \"cache\", \"key\": \"n:{name}\", \"value\": \"{id}\"}]}";
    Case c;
    run_kv(&c, mapping(m), fixture_shape("add_default"), fixture_shape("rename"));
    cr_assert_eq(c.plan.count, 1);
    cr_assert_str_eq(c.plan.steps[0].message,
                     "kv[1] of mappings/users.jsonc: the key template \"n:{name}\" names column name, which "
                     "public.users renamed to full_name: write {full_name} in the template, then `wal2edge warm "
                     "--mapping public.users` rebuilds the keys and `wal2edge run` goes on");
    done(&c);
    run_kv(&c, mapping(m), fixture_base_shape(), fixture_shape("add_default"));
    cr_assert_eq(c.plan.count, 0, "an added column changes no template");
    done(&c);
    /* with no known shape before (a restart after the change), the new shape alone tells */
    Shape *after = fixture_shape("rename");
    SchemaDiff none = {0};
    SchemaPlan p;
    plan_kv(mapping(m), &none, after, &p);
    cr_assert_eq(p.count, 1);
    cr_assert_not_null(strstr(p.steps[0].message, "which public.users no longer has (dropped or renamed)"), "%s",
                       p.steps[0].message);
    schema_plan_free(&p);
    shape_free(after);
}

Test(plan, constant_defaults)
{
    static const struct {
        const char *expr, *value;
        bool constant;
    } cases[] = {
        {"'free'::text", "free", true},
        {"'it''s'::character varying", "it's", true},
        {"7", "7", true},
        {"'-1'::integer", "-1", true},
        {"0.5", "0.5", true},
        {"1e10", "1e10", true},
        {"true", "t", true},
        {"NULL::text", NULL, true},
        {"'2020-01-01 00:00:00'::timestamp without time zone", "2020-01-01 00:00:00", true},
        {"now()", NULL, false},
        {"nextval('users_id_seq'::regclass)", NULL, false},
        {"'a'::text || 'b'::text", NULL, false},
        {"1e", NULL, false},
        {"'open", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *value = NULL;
        cr_expect_eq(schema_default_constant(cases[i].expr, &value), cases[i].constant, "%s", cases[i].expr);
        if (cases[i].value)
            cr_expect_str_eq(value, cases[i].value, "%s", cases[i].expr);
        else
            cr_expect_null(value, "%s", cases[i].expr);
        free(value);
    }
}
