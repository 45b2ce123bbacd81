/* Unit tests for targets/checkpoint: both LSNs or nothing, and reading a slot's row from a real
 * SQLite file (present, absent, corrupt - never half a checkpoint). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "targets/checkpoint.h"

Test(checkpoint, parse_both_or_nothing)
{
    TargetCheckpoint cp = {7, 8};
    cr_assert(checkpoint_parse("1/10", "1/20", &cp));
    cr_assert_eq(cp.commit_lsn, ((Lsn)1 << 32) | 0x10);
    cr_assert_eq(cp.end_lsn, ((Lsn)1 << 32) | 0x20);
    TargetCheckpoint keep = cp;
    cr_assert_not(checkpoint_parse("2/10", "x", &cp));
    cr_assert_not(checkpoint_parse(NULL, "2/10", &cp));
    cr_assert_not(checkpoint_parse("2/10", NULL, &cp));
    cr_assert_eq(cp.commit_lsn, keep.commit_lsn, "untouched on failure");
    cr_assert_eq(cp.end_lsn, keep.end_lsn);
}

Test(checkpoint, read_a_slots_row_from_sqlite)
{
    const char *base = getenv("TMPDIR");
    char path[256];
    snprintf(path, sizeof path, "%s/w2e-ckpt-%ld.sqlite", base && base[0] ? base : ".", (long)getpid());
    Err e;
    Sqlite *db = sqlite_open(path, true, &e);
    cr_assert_not_null(db, "%s", e.msg);
    cr_assert(sqlite_exec(db,
                          "CREATE TABLE ck (slot TEXT PRIMARY KEY, commit_lsn TEXT, end_lsn TEXT);"
                          "INSERT INTO ck VALUES ('good', '0/A0', '0/B0'), ('bad', '0/A0', 'nope');",
                          &e),
              "%s", e.msg);
    const char *q = "SELECT commit_lsn, end_lsn FROM ck WHERE slot = ?1";
    TargetCheckpoint cp = {0, 0};
    cr_assert(checkpoint_read_sqlite(db, q, "good", "checkpoint", &cp, &e), "%s", e.msg);
    cr_assert_eq(cp.commit_lsn, 0xA0);
    cr_assert_eq(cp.end_lsn, 0xB0);
    cr_assert(checkpoint_read_sqlite(db, q, "absent", "checkpoint", &cp, &e), "%s", e.msg);
    cr_assert_eq(cp.commit_lsn, 0xA0, "no row: as it was");
    cr_assert_not(checkpoint_read_sqlite(db, q, "bad", "KV checkpoint", &cp, &e));
    cr_assert_eq(e.code, ERR_STORE);
    cr_assert(strstr(e.msg, ": the KV checkpoint of slot \"bad\" is corrupt") != NULL, "%s", e.msg);
    cr_assert_eq(cp.end_lsn, 0xB0, "never half a checkpoint");
    sqlite_close(db);
    unlink(path);
}

Test(checkpoint, a_checkpoint_file_round_trips_and_refuses_what_it_cannot_read)
{
    char path[256];
    snprintf(path, sizeof path, "%s/w2e-ckpt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(path);
    Err err;
    TargetCheckpoint cp = {1, 2};
    int64_t off = 9;
    bool found = true;
    cr_assert(checkpoint_file_read(path, "test checkpoint", &cp, &off, &found, &err), "%s", err.msg);
    cr_assert_not(found, "a missing file is no checkpoint yet");
    cr_assert_eq(cp.commit_lsn, 1);
    cr_assert_eq(off, 9);

    TargetCheckpoint w = {((Lsn)0x16 << 32) | 0xB374D848, ((Lsn)0x16 << 32) | 0xB374D900};
    cr_assert(checkpoint_file_write(path, &w, 12345, &err), "%s", err.msg);
    cr_assert(checkpoint_file_read(path, "test checkpoint", &cp, &off, &found, &err), "%s", err.msg);
    cr_assert(found);
    cr_assert_eq(cp.commit_lsn, w.commit_lsn);
    cr_assert_eq(cp.end_lsn, w.end_lsn);
    cr_assert_eq(off, 12345);
    FILE *f = fopen(path, "r");
    char text[200] = "";
    cr_assert_not_null(fgets(text, sizeof text, f));
    fclose(f);
    cr_assert_str_eq(text, "{\"commit_lsn\":\"16/B374D848\",\"end_lsn\":\"16/B374D900\",\"offset\":12345}\n");

    const char *bad[] = {"{\"commit_lsn\":\"1/0\"", "{\"commit_lsn\":\"1/0\",\"end_lsn\":\"x\",\"offset\":1}",
                         "{\"commit_lsn\":\"1/0\",\"end_lsn\":\"1/8\",\"offset\":-1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        cp = (TargetCheckpoint){1, 2};
        cr_assert_not(checkpoint_file_read(path, "test checkpoint", &cp, &off, &found, &err), "%s", bad[i]);
        cr_assert(strstr(err.msg, "test checkpoint \"") && strstr(err.msg, "is malformed"), "%s", err.msg);
        cr_assert_eq(cp.commit_lsn, 1, "never half a checkpoint");
    }
    unlink(path);
}
