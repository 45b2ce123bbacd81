/* Unit tests for targets/d1_remote_follow with a fake D1: the columns read with the opening
 * request (or the schema's when D1 made the table just now), the kept shapes read once when
 * the shape table exists, the columns kept in step with the plans carried out, the statements
 * handed out for the batch, and forget reading D1 again. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "targets/d1_remote_follow.h"

static int queries;

static bool fake_query(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err)
{
    (void)user;
    (void)err;
    queries++;
    out->count = n;
    out->stmts = calloc(n, sizeof *out->stmts);
    out->root = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *rows = json_array();
        if (strstr(stmts[i].sql, "sqlite_master"))
            json_array_append_new(rows, json_pack("{s:s}", "name", D1_SCHEMA_TABLE));
        else if (strstr(stmts[i].sql, "pragma_table_info") && strcmp(stmts[i].params[0], "users") == 0)
            for (const char *const *c = (const char *const[]){"id", "email", NULL}; *c; c++)
                json_array_append_new(rows, json_pack("{s:s}", "name", *c));
        else if (strstr(stmts[i].sql, "SELECT source, shape"))
            json_array_append_new(rows, json_pack("{s:s,s:s}", "source", "public.users", "shape", "{\"k\":1}"));
        json_array_append_new(out->root, rows);
        out->stmts[i].success = true;
        out->stmts[i].rows = rows;
    }
    return true;
}

static char id[] = "id", name[] = "name", users[] = "users", fresh[] = "fresh";
static char plan_[] = "plan", email[] = "email", mail[] = "mail";
static D1Column cols[] = {{.pg_name = id, .d1_name = id}, {.pg_name = name, .d1_name = name}};
static D1Table tables[] = {{.name = users, .cols = cols, .col_count = 2}, {.name = fresh, .cols = cols, .col_count = 2}};
static D1Schema schema = {.tables = tables, .table_count = 2};

static D1RemoteFollow *opened(void)
{
    queries = 0;
    D1RemoteFollow *f = d1_remote_follow_new(&schema, fake_query, NULL);
    size_t n = d1_remote_follow_reads(f, NULL);
    cr_assert_eq(n, 3, "one read for the shape table, one per table");
    CfD1Stmt st[3];
    d1_remote_follow_reads(f, st);
    CfD1Result res = {0};
    Err err;
    cr_assert(fake_query(NULL, st, n, &res, &err));
    d1_remote_follow_read(f, res.stmts);
    cf_d1_result_free(&res);
    return f;
}

static char *joined(const D1FollowStore *s, const char *table)
{
    char **names;
    size_t n;
    Err err;
    cr_assert(s->columns(s->ctx, table, &names, &n, &err), "%s", err.msg);
    char *out = calloc(1, 256);
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? "," : "");
        strcat(out, names[i]);
        free(names[i]);
    }
    free(names);
    return out;
}

Test(d1_remote_follow, columns_from_the_open_and_kept_in_step_with_plans)
{
    D1RemoteFollow *f = opened();
    const D1FollowStore *s = d1_remote_follow_store(f);
    char *c = joined(s, "users");
    cr_assert_str_eq(c, "id,email", "D1's columns, not the schema's");
    free(c);
    c = joined(s, "fresh");
    cr_assert_str_eq(c, "id,name", "a table D1 made just now has the schema's columns");
    free(c);
    PlanStep steps[] = {{.kind = PLAN_ADD_COLUMN, .column = plan_},
                        {.kind = PLAN_RENAME_COLUMN, .column = email, .new_name = mail},
                        {.kind = PLAN_DROP_COLUMN, .column = id},
                        {.kind = PLAN_ADD_COLUMN, .column = plan_}};
    SchemaPlan plan = {.steps = steps, .count = 4};
    s->evolved(s->ctx, "users", &plan);
    c = joined(s, "users");
    cr_assert_str_eq(c, "mail,plan", "added once, renamed, dropped");
    free(c);
    cr_assert_eq(queries, 2, "the open, then the kept shapes once: nothing more for the columns");
    d1_remote_follow_free(f);
}

Test(d1_remote_follow, shapes_read_once_then_statements_handed_out)
{
    D1RemoteFollow *f = opened();
    const D1FollowStore *s = d1_remote_follow_store(f);
    Err err;
    bool failed;
    cr_assert(s->has_shape_table(s->ctx));
    char *json = s->stored_shape(s->ctx, "public.users", &failed, &err);
    cr_assert(!failed);
    cr_assert_str_eq(json, "{\"k\":1}");
    free(json);
    cr_assert_eq(queries, 2, "the kept shapes read with one request");
    cr_assert(s->init(s->ctx, &err));
    cr_assert(s->exec(s->ctx, "ALTER TABLE \"users\" ADD COLUMN \"plan\"", &err));
    cr_assert(s->store_shape(s->ctx, "public.users", "{\"k\":2}", &err));
    json = s->stored_shape(s->ctx, "public.users", &failed, &err);
    cr_assert_str_eq(json, "{\"k\":2}", "the shape handed out is the one known");
    free(json);
    cr_assert_eq(queries, 2, "no request to D1 for what it knows");
    D1StmtList l = {0};
    d1_remote_follow_take(f, &l);
    cr_assert_eq(l.count, 2, "the shape table exists: no CREATE; the ALTER and the shape's upsert");
    cr_assert(strstr(l.items[0].sql, "ALTER TABLE"));
    cr_assert(strstr(l.items[1].sql, "INSERT OR REPLACE INTO \"" D1_SCHEMA_TABLE "\""));
    cr_assert_str_eq(l.items[1].params[0].data, "public.users");
    d1_stmt_list_clear(&l);
    d1_remote_follow_forget(f);
    char *c = joined(s, "users");
    cr_assert_str_eq(c, "id,email", "forgotten: read from D1 again");
    free(c);
    cr_assert_eq(queries, 4);
    d1_remote_follow_free(f);
}
