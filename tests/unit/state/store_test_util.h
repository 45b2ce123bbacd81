/*
 * tests/unit/state/store_dir.h - a temporary state directory for tests that open a real
 * state store (state.sqlite and its WAL files), and its removal.
 */
#ifndef WAL2EDGE_TESTS_STORE_DIR_H
#define WAL2EDGE_TESTS_STORE_DIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

#endif
