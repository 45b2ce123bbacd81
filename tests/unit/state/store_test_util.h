/*
 * tests/unit/state/store_test_util.h - for tests that open a real state store: a
 * temporary state directory (state.sqlite and its WAL files) and its removal, and the
 * checkpoint row of one target.
 */
#ifndef WAL2EDGE_TESTS_STORE_TEST_UTIL_H
#define WAL2EDGE_TESTS_STORE_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/store.h"

/* dir gets "$TMPDIR/w2e-NAME-XXXXXX", created. */
static inline void store_dir_make(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "%s/w2e-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    cr_assert_not_null(mkdtemp(dir));
}

static inline void store_dir_remove(const char *dir)
{
    const char *files[] = {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite-journal"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The checkpoint row of target; an all-zero row when there is none. */
static inline StoreCheckpoint store_row_of(Store *s, const char *target)
{
    StoreCheckpoint rows[8];
    size_t n = 0;
    Err err;
    cr_assert(store_list_checkpoints(s, rows, 8, &n, &err), "%s", err.msg);
    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(rows[i].target, target) == 0)
            return rows[i];
    return (StoreCheckpoint){0};
}

#endif
