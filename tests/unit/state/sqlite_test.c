/*
 * Unit tests for state/sqlite's page size: a file made by sqlite_open_paged has the pages asked
 * for (the embedded KV's 16 KiB: a quarter of the system calls), and a file that exists keeps its
 * own (an older KV file opens as it was, no upgrade needed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/sqlite.h"

static int64_t page_size(Sqlite *db)
{
    Err err;
    SqliteStmt *st = sqlite_prepare(db, "PRAGMA page_size", &err);
    cr_assert_not_null(st, "%s", err.msg);
    cr_assert_eq(sqlite_step(st, &err), 1, "%s", err.msg);
    int64_t n = sqlite_column_int64(st, 0);
    sqlite_finalize(st);
    return n;
}

static Sqlite *open_with(const char *path, int size)
{
    Err err;
    Sqlite *db = sqlite_open_paged(path, true, size, &err);
    cr_assert_not_null(db, "%s", err.msg);
    cr_assert(sqlite_exec(db, "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID", &err), "%s",
              err.msg);
    return db;
}

Test(sqlite, a_new_file_gets_the_page_size_asked_and_an_old_one_keeps_its_own)
{
    char dir[] = "/tmp/w2e_sqlite_test_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char fresh[256], old[256];
    snprintf(fresh, sizeof fresh, "%s/fresh.sqlite", dir);
    snprintf(old, sizeof old, "%s/old.sqlite", dir);

    Sqlite *db = open_with(fresh, 16384);
    cr_assert_eq(page_size(db), 16384);
    sqlite_close(db);
    db = open_with(fresh, 0);
    cr_assert_eq(page_size(db), 16384, "reopened with the default: its pages stay");
    sqlite_close(db);

    db = open_with(old, 0);
    cr_assert_eq(page_size(db), 4096, "SQLite's default");
    Err err;
    cr_assert(sqlite_exec(db, "INSERT INTO t VALUES ('a', x'01')", &err), "%s", err.msg);
    sqlite_close(db);
    db = open_with(old, 16384);
    cr_assert_eq(page_size(db), 4096, "a file that exists (in WAL mode) keeps its pages");
    SqliteStmt *st = sqlite_prepare(db, "SELECT count(*) FROM t", &err);
    cr_assert_not_null(st);
    cr_assert_eq(sqlite_step(st, &err), 1);
    cr_assert_eq(sqlite_column_int64(st, 0), 1, "and its rows");
    sqlite_finalize(st);
    sqlite_close(db);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
