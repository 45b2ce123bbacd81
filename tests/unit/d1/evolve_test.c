/* Unit tests for d1/evolve: a schema plan carried out on a D1 table (statements, the table, the refusals). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "d1/evolve.h"

/* users(id bigint key, email text, name text) with a unique index on email */
static D1Table users(void)
{
    D1Table t = {0};
    t.database = xstrdup("app");
    t.name = xstrdup("users");
    t.source = xstrdup("public.users");
    const char *names[] = {"id", "email", "name"};
    const uint32_t oids[] = {20, 25, 25};
    t.col_count = 3;
    t.cols = xcalloc(3, sizeof *t.cols);
    for (size_t i = 0; i < 3; i++) {
        Err err;
        t.cols[i] = (D1Column){xstrdup(names[i]), xstrdup(names[i]), d1_type_resolve(NULL, oids[i], NULL, &err),
                               xstrdup(oids[i] == 20 ? "bigint" : "text"), -1, i == 0, i == 0};
    }
    t.key_count = 1;
    t.key = xcalloc(1, sizeof *t.key);
    t.index_count = 1;
    t.indexes = xcalloc(1, sizeof *t.indexes);
    t.indexes[0] = (D1Index){xstrdup("users_email_key"), true, xcalloc(1, sizeof(size_t)), 1};
    t.indexes[0].cols[0] = 1;
    return t;
}

static ShapeCol plan_col = {5, (char *)"plan", (char *)"text", 25, -1, true, (char *)"'free'::text", false};
static ShapeCol point_col = {6, (char *)"spot", (char *)"point", 600, -1, false, NULL, false};

static PlanStep step(PlanKind kind, const char *column, const char *new_name, const ShapeCol *col)
{
    return (PlanStep){kind, column ? xstrdup(column) : NULL, new_name ? xstrdup(new_name) : NULL, col, NULL,
                      false, NULL, NULL};
}

static bool nothing_there(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return false;
}

Test(evolve, add_rename_drop)
{
    D1Table t = users();
    PlanStep steps[3] = {step(PLAN_ADD_COLUMN, "plan", NULL, &plan_col), step(PLAN_RENAME_COLUMN, "name", "full_name", NULL),
                         step(PLAN_DROP_COLUMN, "email", NULL, NULL)};
    steps[0].has_default = true;
    steps[0].default_value = xstrdup("it's free");
    ShapeCol renamed = {3, (char *)"full_name", (char *)"text", 25, -1, false, NULL, false};
    steps[1].col = &renamed;
    /* email is in a unique index: D1 cannot drop it */
    SchemaPlan plan = {steps, 3};
    D1Evolution ev;
    Err err;
    cr_assert_not(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err));
    cr_assert_eq(err.code, ERR_CHECK);
    cr_assert_not_null(strstr(err.msg, "index users_email_key"), "%s", err.msg);
    cr_assert_eq(t.col_count, 3, "a refused plan leaves the table alone");
    d1_table_clear(&t);

    t = users();
    free(t.indexes[0].cols);
    free(t.indexes[0].name);
    t.index_count = 0;
    cr_assert(d1_evolve(&t, &plan, "add column plan (text), rename column name to full_name, drop column email", NULL,
                        NULL, &ev, &err),
              "%s", err.msg);
    cr_assert_eq(ev.count, 3);
    cr_expect_str_eq(ev.sql[0], "ALTER TABLE \"users\" ADD COLUMN \"plan\" TEXT DEFAULT 'it''s free'");
    cr_expect_str_eq(ev.sql[1], "ALTER TABLE \"users\" RENAME COLUMN \"name\" TO \"full_name\"");
    cr_expect_str_eq(ev.sql[2], "ALTER TABLE \"users\" DROP COLUMN \"email\"");
    cr_expect_not_null(strstr(ev.migration, "-- wal2edge: public.users: add column plan (text)"));
    cr_expect_not_null(strstr(ev.migration, "DROP COLUMN \"email\";\n"));
    cr_assert_eq(t.col_count, 3);
    cr_expect_str_eq(t.cols[0].d1_name, "id");
    cr_expect_str_eq(t.cols[1].d1_name, "full_name");
    cr_expect_str_eq(t.cols[1].pg_name, "full_name");
    cr_expect_str_eq(t.cols[2].d1_name, "plan");
    cr_expect_eq(t.key[0], 0);
    d1_evolution_clear(&ev);
    d1_table_clear(&t);
    for (size_t i = 0; i < 3; i++) {
        free(steps[i].column);
        free(steps[i].new_name);
        free(steps[i].default_value);
    }
}

Test(evolve, replayed_change_runs_no_statement_twice)
{
    D1Table t = users();
    PlanStep s = step(PLAN_ADD_COLUMN, "plan", NULL, &plan_col);
    SchemaPlan plan = {&s, 1};
    D1Evolution ev;
    Err err;
    /* the D1Table already has it (built from today's catalog) and D1 too: nothing to run */
    cr_assert(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err), "%s", err.msg);
    cr_assert_eq(ev.count, 1, "first time: D1 lacks it");
    d1_evolution_clear(&ev);
    cr_assert(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err), "%s", err.msg);
    cr_assert_eq(ev.count, 0, "the table has it now");
    cr_assert_null(ev.migration);
    cr_assert_eq(t.col_count, 4, "added once");
    /* a D1 file that lacks it although the table has it: the statement runs */
    cr_assert(d1_evolve(&t, &plan, "x", nothing_there, NULL, &ev, &err), "%s", err.msg);
    cr_assert_eq(ev.count, 1);
    cr_assert_eq(t.col_count, 4);
    d1_evolution_clear(&ev);
    d1_table_clear(&t);
    free(s.column);
}

Test(evolve, refusals_name_the_way_back)
{
    D1Table t = users();
    D1Evolution ev;
    Err err;
    PlanStep s = step(PLAN_ADD_COLUMN, "spot", NULL, &point_col);
    SchemaPlan plan = {&s, 1};
    cr_assert_not(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err));
    cr_assert_not_null(strstr(err.msg, "new column spot of public.users is of type point, which has no D1 equivalent"),
                       "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "\"types\": {\"spot\": \"TEXT\"}"), "%s", err.msg);
    free(s.column);

    s = step(PLAN_DROP_COLUMN, "id", NULL, NULL);
    cr_assert_not(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err));
    cr_assert_not_null(strstr(err.msg, "dropped column id is in the key"), "%s", err.msg);
    free(s.column);

    s = step(PLAN_RESYNC, NULL, NULL, NULL);
    s.message = xstrdup("Postgres rewrote public.users");
    cr_assert_not(d1_evolve(&t, &plan, "x", NULL, NULL, &ev, &err));
    cr_assert_not_null(strstr(err.msg, "must be copied again: copy the table again with `wal2edge migrate`"), "%s",
                       err.msg);
    free(s.message);
    cr_assert_eq(t.col_count, 3);
    d1_table_clear(&t);
}
