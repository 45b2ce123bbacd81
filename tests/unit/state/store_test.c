/*
 * Unit tests for state/store's target health rows (a real state.sqlite in a
 * temporary directory): saved, read back, replaced, listed in order, capped.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/store.h"
#include "store_dir.h"

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
