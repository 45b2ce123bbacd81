/*
 * Unit tests for resync/progress: the progress files of STATE_DIR/resync as `status` lists them -
 * sorted by table, the targets and why read back, queued/copying/stopped from the file and whether
 * its writer lives, a file of an older wal2edge (no targets, no why) still listed, a file that is
 * not one left out, no directory at all.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "resync/progress.h"

static char *make_dir(void)
{
    char *dir = xstrdup("/tmp/w2e_progress_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void put(const char *dir, const char *name, const char *text)
{
    char *sub = xasprintf("%s/resync", dir);
    mkdir(sub, 0700);
    char *path = xasprintf("%s/%s", sub, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
    free(sub);
}

Test(resync_progress, lists_each_file_with_its_state)
{
    char *dir = make_dir();
    char live[512];
    snprintf(live, sizeof live,
             "{\"run\":\"a\",\"after\":\"1200\",\"chunk\":6,\"rows\":1200,\"targets\":[\"d1.app\",\"kv.cache\"],"
             "\"why\":\"new mapping\",\"state\":\"copying\",\"started_at_us\":1790000000000000,"
             "\"updated_at_us\":1790000001000000,\"pid\":%ld}",
             (long)getpid());
    put(dir, "public.users.json", live);
    char queued[256];
    snprintf(queued, sizeof queued,
             "{\"run\":\"b\",\"after\":null,\"chunk\":0,\"rows\":0,\"targets\":[],\"why\":\"asked for\","
             "\"state\":\"queued\",\"pid\":%ld}",
             (long)getpid());
    put(dir, "public.orders.json", queued);
    /* an older wal2edge's file: no targets, why, state or pid; its writer is gone */
    put(dir, "public.items.json", "{\"run\":\"c\",\"after\":\"7\",\"chunk\":3,\"rows\":300}");
    put(dir, "public.bad.json", "not json");
    put(dir, "public.items.again", "asked for");
    ResyncStatus *list = NULL;
    size_t n = 0;
    Err err;
    cr_assert(resync_progress_list(dir, &list, &n, &err));
    cr_assert_eq(n, 3);
    cr_assert_str_eq(list[0].table, "public.items");
    cr_assert_str_eq(resync_progress_state(&list[0]), "stopped");
    cr_assert_eq(list[0].ntargets, 0);
    cr_assert_null(list[0].why);
    cr_assert_str_eq(list[0].after, "7");
    cr_assert_str_eq(list[1].table, "public.orders");
    cr_assert_str_eq(resync_progress_state(&list[1]), "queued");
    cr_assert_null(list[1].after);
    cr_assert_str_eq(list[2].table, "public.users");
    cr_assert_str_eq(resync_progress_state(&list[2]), "copying");
    cr_assert_eq(list[2].ntargets, 2);
    cr_assert_str_eq(list[2].targets[1], "kv.cache");
    cr_assert_str_eq(list[2].why, "new mapping");
    cr_assert_eq(list[2].rows, 1200);
    cr_assert_eq(list[2].chunk, 6);
    json_t *doc = resync_progress_json(&list[2]);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(strstr(text, "\"last_key\":\"1200\"") && strstr(text, "\"state\":\"copying\"") &&
                  strstr(text, "\"started_at\":\"2026-") && strstr(text, "\"targets\":[\"d1.app\",\"kv.cache\"]"),
              "%s", text);
    free(text);
    json_decref(doc);
    resync_progress_free(list, n);
    const char *names[] = {"public.users.json", "public.orders.json", "public.items.json", "public.bad.json",
                           "public.items.again"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *path = xasprintf("%s/resync/%s", dir, names[i]);
        unlink(path);
        free(path);
    }
    char *sub = xasprintf("%s/resync", dir);
    rmdir(sub);
    rmdir(dir);
    free(sub);
    free(dir);
}

Test(resync_progress, no_directory_is_no_resync)
{
    ResyncStatus *list = NULL;
    size_t n = 7;
    Err err;
    cr_assert(resync_progress_list("/nonexistent/w2e", &list, &n, &err));
    cr_assert_eq(n, 0);
    resync_progress_free(list, n);
}
