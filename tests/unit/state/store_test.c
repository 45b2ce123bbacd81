/*
 * Unit tests for state/store (a real state.sqlite in a temporary directory):
 * target health rows (saved, read back, replaced, listed in order, capped);
 * checkpoints and the "through" positions (never back, except an accepted gap;
 * forgotten under a new slot incarnation); the incarnation kept across opens;
 * a version 1 store upgraded in place; a foreign source refused; a missing
 * store named; the recorded table OIDs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/sqlite.h"
#include "state/store.h"
#include "store_test_util.h"

static char dir[256];

static void make_dir(void) { store_dir_make(dir, sizeof dir, "store"); }
static void remove_dir(void) { store_dir_remove(dir); }

TestSuite(store, .init = make_dir, .fini = remove_dir);

Test(store, target_health_round_trip)
{
    Err err;
    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    StoreTargetHealth q = {.lagging = true, .retries = 3, .since_us = 111, .next_retry_us = 222, .updated_at_us = 333};
    snprintf(q.target, sizeof q.target, "queues.changes");
    snprintf(q.last_error, sizeof q.last_error, "queues.changes: http 500");
    StoreTargetHealth d = {.updated_at_us = 5};
    snprintf(d.target, sizeof d.target, "d1.app");
    cr_assert(store_save_target_health(s, &q, &err), "%s", err.msg);
    cr_assert(store_save_target_health(s, &d, &err), "%s", err.msg);
    store_close(s);

    s = store_open_existing(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    StoreTargetHealth out[2];
    size_t n = 0;
    cr_assert(store_list_target_health(s, out, 2, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].target, "d1.app", "ordered by target");
    cr_assert_not(out[0].lagging);
    cr_assert_str_eq(out[0].last_error, "");
    cr_assert_str_eq(out[1].target, "queues.changes");
    cr_assert(out[1].lagging);
    cr_assert_eq(out[1].retries, 3);
    cr_assert_eq(out[1].since_us, 111);
    cr_assert_eq(out[1].next_retry_us, 222);
    cr_assert_eq(out[1].updated_at_us, 333);
    cr_assert_str_eq(out[1].last_error, "queues.changes: http 500");

    /* the queue recovers: its row is replaced, not added */
    q = (StoreTargetHealth){.updated_at_us = 444};
    snprintf(q.target, sizeof q.target, "queues.changes");
    cr_assert(store_save_target_health(s, &q, &err), "%s", err.msg);
    StoreTargetHealth one[1];
    cr_assert(store_list_target_health(s, one, 1, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 2, "the count covers every row even past max");
    cr_assert_str_eq(one[0].target, "d1.app");
    cr_assert(store_list_target_health(s, out, 2, &n, &err), "%s", err.msg);
    cr_assert_not(out[1].lagging);
    cr_assert_eq(out[1].retries, 0);
    cr_assert_eq(out[1].updated_at_us, 444);
    store_close(s);
}

/* The one row of `target` (the test fails without it). */
static StoreCheckpoint row_of(Store *s, const char *target)
{
    StoreCheckpoint r = store_row_of(s, target);
    cr_assert_str_eq(r.target, target, "no checkpoint row for %s", target);
    return r;
}

Test(store, checkpoints_and_through_positions)
{
    Err err;
    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    TargetCheckpoint cp = {.commit_lsn = 100, .end_lsn = 108};
    cr_assert(store_save_checkpoint(s, "d1.app", &cp, 1111, 2222, &err), "%s", err.msg);
    StoreCheckpoint r = row_of(s, "d1.app");
    cr_assert_eq(r.checkpoint.commit_lsn, 100);
    cr_assert_eq(r.checkpoint.end_lsn, 108);
    cr_assert_eq(r.commit_time_us, 1111);
    cr_assert_eq(r.updated_at_us, 2222);
    cr_assert(r.through_known);
    cr_assert_eq(r.through, 108, "complete through its own checkpoint");

    /* an idle advance: both complete through 500; a target without a checkpoint gets a row */
    const char *both[] = {"d1.app", "kv.cache"};
    cr_assert(store_save_through(s, both, 2, 500, &err), "%s", err.msg);
    cr_assert_eq(row_of(s, "d1.app").through, 500);
    cr_assert_eq(row_of(s, "d1.app").checkpoint.commit_lsn, 100, "the checkpoint itself stays");
    r = row_of(s, "kv.cache");
    cr_assert_eq(r.through, 500);
    cr_assert_eq(r.checkpoint.end_lsn, 0);
    cr_assert(store_save_through(s, both, 2, 300, &err), "%s", err.msg);
    cr_assert_eq(row_of(s, "d1.app").through, 500, "through never moves back");

    cp = (TargetCheckpoint){.commit_lsn = 600, .end_lsn = 608};
    cr_assert(store_save_checkpoint(s, "d1.app", &cp, 3333, 4444, &err), "%s", err.msg);
    cr_assert_eq(row_of(s, "d1.app").through, 608);
    cp = (TargetCheckpoint){.commit_lsn = 400, .end_lsn = 408};
    cr_assert(store_save_checkpoint(s, "kv.cache", &cp, 0, 5555, &err), "%s", err.msg);
    cr_assert_eq(row_of(s, "kv.cache").through, 500, "an idle position past the checkpoint stays");

    /* --accept-gap: declared complete through the slot's position, even backwards */
    cr_assert(store_accept_gap(s, "kv.cache", 450, &err), "%s", err.msg);
    cr_assert_eq(row_of(s, "kv.cache").through, 450);
    store_close(s);

    s = store_open_existing(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    r = row_of(s, "d1.app");
    cr_assert(r.checkpoint.commit_lsn == 600 && r.checkpoint.end_lsn == 608 && r.through == 608,
              "read back after reopening");
    store_close(s);
}

Test(store, the_slot_incarnation_is_kept_and_a_new_one_forgets_old_positions)
{
    Err err;
    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(store_incarnation(s), 0, "unknown until a slot is made here");
    cr_assert(store_set_incarnation(s, 0x1000, &err), "%s", err.msg);
    TargetCheckpoint cp = {.commit_lsn = 0x2000, .end_lsn = 0x2008};
    cr_assert(store_save_checkpoint(s, "changelog", &cp, 0, 1, &err), "%s", err.msg);
    const char *one[] = {"changelog"};
    cr_assert(store_save_through(s, one, 1, 0x3000, &err), "%s", err.msg);
    store_close(s);

    /* a job that makes the slot records it without the loop's store open */
    cr_assert(store_record_incarnation(dir, 0x5000, &err), "%s", err.msg);
    s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(store_incarnation(s), 0x5000, "the incarnation is read back on open");
    StoreCheckpoint r = row_of(s, "changelog");
    cr_assert_eq(r.incarnation, 0x1000, "the row keeps the incarnation it was recorded under");
    cr_assert_eq(r.through, 0x3000);
    /* under the new slot an older position is not "later": it replaces the old one */
    cr_assert(store_save_through(s, one, 1, 0x2800, &err), "%s", err.msg);
    r = row_of(s, "changelog");
    cr_assert_eq(r.through, 0x2800);
    cr_assert_eq(r.incarnation, 0x5000);
    store_close(s);
}

Test(store, a_version_1_store_is_upgraded_in_place)
{
    char path[512];
    snprintf(path, sizeof path, "%s/state.sqlite", dir);
    Err err;
    Sqlite *db = sqlite_open(path, true, &err);
    cr_assert_not_null(db, "%s", err.msg);
    /* the version 1 schema as wal2edge wrote it, with one checkpoint */
    cr_assert(sqlite_exec(db,
                          "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                          "CREATE TABLE checkpoints (target TEXT PRIMARY KEY, commit_lsn TEXT NOT NULL, "
                          "end_lsn TEXT NOT NULL, commit_lsn_num INTEGER NOT NULL, end_lsn_num INTEGER NOT NULL, "
                          "commit_time_us INTEGER NOT NULL, updated_at_us INTEGER NOT NULL);"
                          "INSERT INTO meta VALUES ('schema_version', '1');"
                          "INSERT INTO checkpoints VALUES ('d1.app', '0/64', '0/6C', 100, 108, 7, 8);",
                          &err),
              "%s", err.msg);
    sqlite_close(db);

    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    StoreCheckpoint r = row_of(s, "d1.app");
    cr_assert_eq(r.checkpoint.commit_lsn, 100);
    cr_assert_eq(r.checkpoint.end_lsn, 108);
    cr_assert_not(r.through_known, "a version 1 row does not know where it is complete through");
    cr_assert_eq(r.incarnation, 0);
    TargetCheckpoint cp = {.commit_lsn = 200, .end_lsn = 208};
    cr_assert(store_save_checkpoint(s, "d1.app", &cp, 0, 9, &err), "%s", err.msg);
    r = row_of(s, "d1.app");
    cr_assert(r.through_known && r.through == 208, "known from the first checkpoint saved after the upgrade");
    store_close(s);

    db = sqlite_open(path, false, &err);
    cr_assert_not_null(db, "%s", err.msg);
    SqliteStmt *st = sqlite_prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", &err);
    cr_assert_not_null(st, "%s", err.msg);
    cr_assert_eq(sqlite_step(st, &err), 1);
    cr_assert_str_eq(sqlite_column_text(st, 0, NULL), "2");
    sqlite_finalize(st);
    sqlite_close(db);

    s = store_open(dir, &err);
    cr_assert_not_null(s, "opening an upgraded store again does not upgrade twice: %s", err.msg);
    store_close(s);
}

Test(store, a_foreign_source_is_refused_naming_both)
{
    Err err;
    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(store_bind_source(s, "7300000000000000001", "shop", "wal2edge", &err), "%s", err.msg);
    cr_assert(store_bind_source(s, "7300000000000000001", "shop", "wal2edge", &err), "the same source: %s", err.msg);
    cr_assert_not(store_bind_source(s, "7300000000000000002", "shop", "wal2edge", &err));
    cr_assert_eq(err.code, ERR_CHECK);
    cr_assert(strstr(err.msg, "7300000000000000001") && strstr(err.msg, "7300000000000000002") &&
                  strstr(err.msg, "system_id"),
              "%s", err.msg);
    cr_assert_not(store_bind_source(s, "7300000000000000001", "shop", "other_slot", &err));
    cr_assert(strstr(err.msg, "slot") && strstr(err.msg, "other_slot"), "%s", err.msg);
    store_close(s);
    s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(store_bind_source(s, "7300000000000000001", "shop", "wal2edge", &err),
              "a refused bind recorded nothing: %s", err.msg);
    store_close(s);
}

Test(store, opening_a_missing_store_says_so)
{
    Err err;
    cr_assert_null(store_open_existing(dir, &err));
    cr_assert_eq(err.code, ERR_STORE);
    cr_assert(strstr(err.msg, "no state in"), "%s", err.msg);
}

Test(store, table_oids_per_filler)
{
    Err err;
    Store *s = store_open(dir, &err);
    cr_assert_not_null(s, "%s", err.msg);
    uint32_t oid = 0;
    bool found = true;
    cr_assert(store_table_oid(s, "public.users", "d1", &oid, &found, &err), "%s", err.msg);
    cr_assert_not(found);
    cr_assert(store_set_table_oid(s, "public.users", "d1", 16384, 1, &err), "%s", err.msg);
    cr_assert(store_set_table_oid(s, "public.users", "kv", 16400, 1, &err), "%s", err.msg);
    cr_assert(store_table_oid(s, "public.users", "d1", &oid, &found, &err), "%s", err.msg);
    cr_assert(found && oid == 16384);
    cr_assert(store_set_table_oid(s, "public.users", "d1", 16500, 2, &err), "%s", err.msg);
    cr_assert(store_table_oid(s, "public.users", "d1", &oid, &found, &err) && oid == 16500, "replaced");
    cr_assert(store_table_oid(s, "public.users", "kv", &oid, &found, &err) && oid == 16400, "per filler");
    store_close(s);
}
