/* Unit tests for pg/source's decisions that need no server: the wal_level check and its message,
 * and an existing publication left alone (no connection is touched). Creating the publication and
 * the slot is covered against the real server by the integration tests (run_basic, slot create,
 * migrate, snapshot, warm). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pg/source.h"

Test(source, wal_level_must_be_logical)
{
    PgServerFacts f;
    memset(&f, 0, sizeof f);
    Err e;
    snprintf(f.wal_level, sizeof f.wal_level, "logical");
    cr_assert(source_check_wal_level(&f, &e));
    snprintf(f.wal_level, sizeof f.wal_level, "replica");
    cr_assert_not(source_check_wal_level(&f, &e));
    cr_assert_eq(e.code, ERR_CHECK);
    cr_assert_str_eq(e.msg, "wal_level is replica; logical replication needs wal_level = logical (run wal2edge doctor)");
}

Test(source, an_existing_publication_is_left_alone)
{
    PgServerFacts f;
    memset(&f, 0, sizeof f);
    f.publication_exists = true;
    Err e;
    bool created = true;
    const char *tables[] = {"public.a"};
    cr_assert(source_ensure_publication(NULL, &f, "pub", tables, 1, &created, &e));
    cr_assert_not(created);
}

Test(source, failover_true_on_an_older_server_is_refused)
{
    PgServerFacts f;
    memset(&f, 0, sizeof f);
    Err e;
    f.server_version_num = 160004;
    cr_assert(source_check_failover(&f, SLOT_FAILOVER_AUTO, &e));
    cr_assert(source_check_failover(&f, SLOT_FAILOVER_OFF, &e));
    cr_assert_not(source_check_failover(&f, SLOT_FAILOVER_ON, &e));
    cr_assert_eq(e.code, ERR_CONFIG);
    cr_assert(strstr(e.msg, "PostgreSQL 16.4: failover slots need PostgreSQL 17 or later") != NULL, "%s", e.msg);
    f.server_version_num = 170000;
    cr_assert(source_check_failover(&f, SLOT_FAILOVER_ON, &e));
}
