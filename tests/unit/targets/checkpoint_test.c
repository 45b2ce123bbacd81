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
