/* Unit tests for d1/shard and the sharded parts of d1/ddl: one D1 table per database of a
 * sharded mapping, the checks on shard_by against the catalog, and each database keeping
 * exactly its rows - inserts, deletes, updates in place and updates that move a row. */
#include "d1_test_util.h"

#include "d1/ddl.h"
#include "d1/shard.h"
#include "mapping/shard.h"

static void fini(void) { log_redact_clear(); }
TestSuite(d1_shard, .fini = fini);

static const char sharded_users[] =
    "{ \"table\": \"public.users\",\n"
    "  \"d1\": { \"database\": [\"app\", \"other\"], \"shard_by\": [\"id\"], \"exclude\": [\"password_hash\"] } }";

typedef struct Fix {
    Config *cfg;
    MappingSet *maps;
    D1Schema *s[2];            /* the schema of "app" (shard 0) and of "other" (shard 1) */
    Rel *rel;
    char a[16], b[16];         /* two ids: a's row on database 0, b's on database 1 */
    const char *ra[7], *rb[7]; /* their rows */
    TestChangeBuf buf;
    const Change *out[2];      /* what each database does with a change (route_both) */
    Change moved[2];
} Fix;

/* A users row (7 columns as pgoutput sends them) with id `id`. */
#define ROW(id) {id, "e@x", "n", "h", NULL, "1.5", NULL}

static uint32_t shard_of_id(const char *id)
{
    return shard_for(&(ShardPart){id, strlen(id)}, 1, 2);
}

/* Two ids, one on each database. */
static void ids_on_both(char a[16], char b[16])
{
    int n = 1;
    do snprintf(a, 16, "%d", n++); while (shard_of_id(a) != 0);
    do snprintf(b, 16, "%d", n++); while (shard_of_id(b) != 1);
}

static void fix_open(Fix *f, const char *mapping)
{
    f->cfg = test_config("state");
    const char *texts[] = {mapping};
    f->maps = test_maps(f->cfg, texts, 1);
    f->s[0] = d1_schema_build(f->maps, &test_cat, "app");
    f->s[1] = d1_schema_build(f->maps, &test_cat, "other");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(f->s[i]->problem_count, 0, "%s", f->s[i]->problem_count ? f->s[i]->problems[0] : "");
    f->rel = test_rel(&test_tables[0]);
    ids_on_both(f->a, f->b);
    const char *ra[] = ROW(f->a), *rb[] = ROW(f->b);
    memcpy(f->ra, ra, sizeof ra);
    memcpy(f->rb, rb, sizeof rb);
}

static void fix_close(Fix *f)
{
    test_rel_free(f->rel);
    d1_schema_free(f->s[0]);
    d1_schema_free(f->s[1]);
    mapping_set_free(f->maps);
    config_free(f->cfg);
}

/* Which databases keep change c, and what each gets. */
static void route_both(Fix *f, const Change *c)
{
    const Change **out = f->out;
    Change *moved = f->moved;
    for (int i = 0; i < 2; i++) {
        const D1Table *t = d1_schema_table(f->s[i], "public.users");
        cr_assert_not_null(t);
        Err err;
        cr_assert(d1_shard_route(t, c, &out[i], &moved[i], &err), "%s", err.msg);
    }
}

Test(d1_shard, one_table_per_database_each_knowing_its_shard)
{
    Fix f;
    fix_open(&f, sharded_users);
    for (size_t i = 0; i < 2; i++) {
        const D1Table *t = d1_schema_table(f.s[i], "public.users");
        cr_assert_not_null(t);
        cr_expect_str_eq(t->database, i ? "other" : "app");
        cr_expect_eq(t->shard, i);
        cr_expect_eq(t->shard_count, 2);
        cr_assert_eq(t->shard_col_count, 1);
        cr_expect_str_eq(t->cols[t->shard_cols[0]].pg_name, "id");
    }
    D1Schema *all = d1_schema_build(f.maps, &test_cat, NULL);
    cr_expect_eq(all->table_count, 2);
    size_t n;
    char **dbs = d1_schema_databases(all, &n);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(dbs[0], "app");
    cr_expect_str_eq(dbs[1], "other");
    free(dbs[0]);
    free(dbs[1]);
    free(dbs);
    d1_schema_free(all);
    fix_close(&f);
}

Test(d1_shard, inserts_and_deletes_reach_their_database_only)
{
    Fix f;
    fix_open(&f, sharded_users);
    Change c = test_change(&f.buf, f.rel, CHANGE_INSERT, f.ra, NULL, 0, 7);
    route_both(&f, &c);
    cr_expect_eq(f.out[0], &c);
    cr_expect_null(f.out[1]);
    c = test_change(&f.buf, f.rel, CHANGE_DELETE, NULL, f.rb, 'K', 7);
    route_both(&f, &c);
    cr_expect_null(f.out[0]);
    cr_expect_eq(f.out[1], &c);
    /* an update that keeps its key: no old image, the new row's database */
    c = test_change(&f.buf, f.rel, CHANGE_UPDATE, f.rb, NULL, 0, 7);
    route_both(&f, &c);
    cr_expect_null(f.out[0]);
    cr_expect_eq(f.out[1], &c);
    fix_close(&f);
}

Test(d1_shard, a_moved_row_leaves_the_old_database_and_enters_the_new)
{
    Fix f;
    fix_open(&f, sharded_users);
    /* id a (database 0) becomes id b (database 1) */
    Change c = test_change(&f.buf, f.rel, CHANGE_UPDATE, f.rb, f.ra, 'K', 7);
    route_both(&f, &c);
    cr_assert_eq(f.out[0], &f.moved[0]);
    cr_expect_eq(f.moved[0].op, CHANGE_DELETE);
    cr_expect_eq(f.moved[0].old_tuple, c.old_tuple);
    cr_expect_null(f.moved[0].new_tuple);
    cr_assert_eq(f.out[1], &f.moved[1]);
    cr_expect_eq(f.moved[1].op, CHANGE_INSERT);
    cr_expect_eq(f.moved[1].new_tuple, c.new_tuple);
    cr_expect_null(f.moved[1].old_tuple);
    /* a key change within one database stays the update it is */
    char a2[16];
    int n = atoi(f.a) + 1;
    do snprintf(a2, sizeof a2, "%d", n++); while (shard_of_id(a2) != 0);
    const char *ra2[] = ROW(a2);
    c = test_change(&f.buf, f.rel, CHANGE_UPDATE, ra2, f.ra, 'K', 7);
    route_both(&f, &c);
    cr_expect_eq(f.out[0], &c);
    cr_expect_null(f.out[1]);
    fix_close(&f);
}

Test(d1_shard, unknown_shard_keys_are_errors)
{
    Fix f;
    fix_open(&f, sharded_users);
    const D1Table *t = d1_schema_table(f.s[0], "public.users");
    const char *nullid[] = {NULL, "e@x", "n", "h", NULL, NULL, NULL};
    TestChangeBuf buf;
    Change c = test_change(&buf, f.rel, CHANGE_INSERT, nullid, NULL, 0, 7);
    const Change *out;
    Change moved;
    Err err;
    cr_assert_not(d1_shard_route(t, &c, &out, &moved, &err));
    cr_expect_str_eq(err.msg, "public.users: shard_by column \"id\" is NULL in a row, so its database is unknown "
                              "(shard_by columns must be NOT NULL and sent as text; docs/sharding.md)");
    /* a row moving into this database without the TOAST values Postgres did not send */
    const char *toast_a[] = {f.a, "e@x", TOAST, "h", NULL, NULL, NULL};
    c = test_change(&buf, f.rel, CHANGE_UPDATE, toast_a, f.rb, 'K', 7);
    cr_assert_not(d1_shard_route(t, &c, &out, &moved, &err));
    cr_expect(strstr(err.msg, "REPLICA IDENTITY FULL") != NULL, "%s", err.msg);
    fix_close(&f);
}

Test(d1_shard, an_unsharded_table_takes_every_change)
{
    Fix f;
    f.cfg = test_config("state");
    const char *texts[] = {users_mapping};
    MappingSet *maps = test_maps(f.cfg, texts, 1);
    D1Schema *s = d1_schema_build(maps, &test_cat, "app");
    const D1Table *t = d1_schema_table(s, "public.users");
    cr_assert_not_null(t);
    cr_expect_eq(t->shard_count, 1);
    Rel *rel = test_rel(&test_tables[0]);
    const char *r[] = ROW("1");
    TestChangeBuf buf;
    Change c = test_change(&buf, rel, CHANGE_INSERT, r, NULL, 0, 7), moved;
    const Change *out;
    Err err;
    cr_assert(d1_shard_route(t, &c, &out, &moved, &err));
    cr_expect_eq(out, &c);
    test_rel_free(rel);
    d1_schema_free(s);
    mapping_set_free(maps);
    config_free(f.cfg);
}


Test(d1_shard, shard_by_checked_against_the_catalog)
{
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": [\"nope\"]}}",
                   "m0.jsonc:1:77: d1.shard_by: public.users has no column \"nope\"");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": [\"name\"]}}",
                   "m0.jsonc:1:77: d1.shard_by: column \"name\" of public.users allows NULL, which has no shard "
                   "(ALTER TABLE public.users ALTER COLUMN name SET NOT NULL)");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": [\"email\"]}}",
                   "m0.jsonc:1:77: d1.shard_by: column \"email\" is not in the key of public.users (id), so "
                   "deletes and updates would not say which database holds the old row; shard by key columns, "
                   "or ALTER TABLE public.users REPLICA IDENTITY FULL");
    d1_expect_problem("{\"table\": \"public.users\", \"d1\": {\"database\": [\"app\", \"other\"], \"shard_by\": [\"total\"]}}",
                   "m0.jsonc:1:77: d1.shard_by: column \"total\" of public.users is not replicated to D1");
}
