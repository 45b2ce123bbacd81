/* Unit tests for targets/changelog: format, durability and crash recovery of the change log. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "targets/changelog.h"

static char path[256];

static void setup(void)
{
    snprintf(path, sizeof path, "%s/w2e-changelog-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void teardown(void) { unlink(path); }

TestSuite(changelog, .init = setup, .fini = teardown);

/* A relation users(id, name) and a row (id, name) with an unchanged TOAST column option. */
static char col_id[] = "id", col_name[] = "name", nsp[] = "public", relname[] = "users", qual[] = "public.users";
static RelCol cols[2] = {{col_id, 23, -1, true}, {col_name, 25, -1, false}};
static Rel rel = {.oid = 1, .nspname = nsp, .relname = relname, .qualname = qual,
                  .replident = 'd', .ncols = 2, .cols = cols};

static void apply_txn(Target *t, uint32_t xid, Lsn commit, bool do_commit, const char *name)
{
    TxnInfo txn = {.xid = xid, .commit_lsn = commit, .end_lsn = commit + 0x30, .commit_time_us = 1764316800123456};
    PgoCol values[2] = {{PGO_COL_TEXT, 1, (const uint8_t *)"7"},
                        {name ? PGO_COL_TEXT : PGO_COL_UNCHANGED, name ? (uint32_t)strlen(name) : 0,
                         (const uint8_t *)name}};
    PgoTuple tup = {2, values};
    Change c = {.op = name ? CHANGE_INSERT : CHANGE_UPDATE, .rel = &rel, .new_tuple = &tup};
    Err err;
    cr_assert(t->ops->begin(t, &txn, &err), "%s", err.msg);
    cr_assert(t->ops->change(t, &txn, &c, &err), "%s", err.msg);
    if (do_commit)
        cr_assert(t->ops->commit(t, &txn, &err), "%s", err.msg);
}

static int count_lines(void)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

Test(changelog, lines_are_json_with_the_documented_fields)
{
    Err err;
    Target *t = changelog_target_new(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0);
    apply_txn(t, 900, 0x1000, true, "ada \"quoted\"\n");
    apply_txn(t, 901, 0x2000, true, NULL);
    cr_assert(t->ops->has_pending(t));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_not(t->ops->has_pending(t));
    cr_assert_eq(t->durable.commit_lsn, 0x2000);
    cr_assert_eq(t->durable.end_lsn, 0x2030);
    t->ops->free(t);

    FILE *f = fopen(path, "r");
    char line[1024];
    json_t *docs[6];
    int n = 0;
    while (n < 6 && fgets(line, sizeof line, f)) {
        docs[n] = json_loads(line, 0, NULL);
        cr_assert_not_null(docs[n], "line %d is JSON: %s", n, line);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(json_string_value(json_object_get(docs[0], "type")), "begin");
    cr_assert_str_eq(json_string_value(json_object_get(docs[0], "commit_time")), "2025-11-28T08:00:00.123456Z");
    cr_assert_str_eq(json_string_value(json_object_get(docs[1], "table")), "public.users");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(docs[1], "new"), "name")), "ada \"quoted\"\n");
    cr_assert_str_eq(json_string_value(json_object_get(docs[2], "end_lsn")), "0/1030");
    cr_assert_eq(json_integer_value(json_object_get(docs[2], "changes")), 1);
    cr_assert(json_is_true(json_object_get(json_object_get(json_object_get(docs[4], "new"), "name"), "unchanged_toast")));
    for (int i = 0; i < n; i++)
        json_decref(docs[i]);
}

Test(changelog, a_torn_tail_is_cut_and_the_checkpoint_recovered)
{
    Err err;
    Target *t = changelog_target_new(path, &err);
    cr_assert_not_null(t);
    apply_txn(t, 900, 0x1000, true, "one");
    cr_assert(t->ops->flush(t, &err));
    apply_txn(t, 901, 0x2000, false, "two"); /* begun, never committed: a crash */
    t->ops->free(t);                         /* fclose writes the buffered partial lines */
    /* and half a line, as a kill -9 in the middle of a write leaves it */
    FILE *f = fopen(path, "a");
    fputs("{\"type\":\"insert\",\"xid\":901,\"comm", f);
    fclose(f);
    cr_assert_eq(count_lines(), 5);

    t = changelog_target_new(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(t->durable.commit_lsn, 0x1000);
    cr_assert_eq(t->durable.end_lsn, 0x1030);
    cr_assert_eq(count_lines(), 3, "only the committed transaction is left");
    apply_txn(t, 901, 0x2000, true, "two");
    cr_assert(t->ops->flush(t, &err));
    t->ops->free(t);
    cr_assert_eq(count_lines(), 6);
}

Test(changelog, rollback_removes_the_open_transaction)
{
    Err err;
    Target *t = changelog_target_new(path, &err);
    cr_assert_not_null(t);
    apply_txn(t, 900, 0x1000, true, "one");
    apply_txn(t, 901, 0x2000, false, "partial");
    t->ops->rollback(t);
    apply_txn(t, 901, 0x2000, true, "again");
    cr_assert(t->ops->flush(t, &err));
    t->ops->free(t);
    cr_assert_eq(count_lines(), 6);
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert_null(strstr(text, "partial"));
    cr_assert_not_null(strstr(text, "again"));
}

Test(changelog, an_unwritable_path_is_a_clear_error)
{
    Err err;
    char bad[300];
    snprintf(bad, sizeof bad, "%s/under-a-file/x.ndjson", path); /* path is a regular file */
    cr_assert_null(changelog_target_new(bad, &err));
    cr_assert_eq(err.code, ERR_IO);
    cr_assert(strstr(err.msg, "under-a-file") || strstr(err.msg, path), "%s", err.msg);
    rmdir(bad);
}

static char *ckpt_path(void)
{
    static char p[300];
    snprintf(p, sizeof p, "%s.ckpt", path);
    return p;
}

Test(changelog, a_fence_moves_the_checkpoint_without_a_line_until_a_transaction_follows)
{
    Err err;
    Target *t = changelog_target_new(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    apply_txn(t, 900, 0x1000, true, "one");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    TargetCheckpoint at = target_fence_checkpoint(0x5000);
    cr_assert(t->ops->fence(t, &at, 0, &err), "%s", err.msg);
    cr_assert(t->ops->has_pending(t));
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    cr_assert_eq(target_durable(t).end_lsn, 0x5000);
    cr_assert_eq(target_durable(t).commit_lsn, 0x4fff);
    cr_assert_eq(count_lines(), 3, "the format gains no line");
    t->ops->free(t);

    t = changelog_target_new(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(target_durable(t).end_lsn, 0x5000, "reopened at the fence");
    apply_txn(t, 901, 0x6000, true, "two");
    cr_assert(t->ops->flush(t, &err), "%s", err.msg);
    t->ops->free(t);
    t = changelog_target_new(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(target_durable(t).commit_lsn, 0x6000, "a transaction after the fence speaks for itself");
    t->ops->free(t);

    FILE *f = fopen(ckpt_path(), "w");
    fputs("{\"commit_lsn\":\"0/1\"", f);
    fclose(f);
    cr_assert_null(changelog_target_new(path, &err));
    cr_assert(strstr(err.msg, ".ckpt\" is malformed"), "%s", err.msg);
    unlink(ckpt_path());
}
