/* Unit tests for targets/core: the skip decision against the durable and the pending checkpoint,
 * apply / commit / rollback, the fence only between transactions, and a broken target refusing
 * everything with its own message. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "targets/core.h"

static Target target(Lsn commit, Lsn end)
{
    return (Target){.durable = {.commit_lsn = commit, .end_lsn = end}};
}

static TxnInfo txn_at(Lsn commit)
{
    return (TxnInfo){.xid = 7, .commit_lsn = commit, .end_lsn = commit + 8};
}

Test(target_core, the_skip_rule_is_commit_lsn_at_or_below_the_checkpoint)
{
    TargetCheckpoint cp = {.commit_lsn = 100, .end_lsn = 108};
    cr_assert(target_covers(&cp, 99));
    cr_assert(target_covers(&cp, 100));
    cr_assert_not(target_covers(&cp, 101));
    TargetCheckpoint none = {0};
    cr_assert_not(target_covers(&none, 1), "an empty checkpoint covers nothing");
}

Test(target_core, a_transaction_the_durable_or_pending_checkpoint_covers_is_skipped_whole)
{
    Target t = target(100, 108);
    TxnCore c;
    txn_core_init(&c, &t, ERR_IO, xstrdup("broken"));
    Err err;
    TxnInfo old = txn_at(100);
    cr_assert_eq(txn_core_begin(&c, &old, &err), TXN_SKIP);
    Change ch = {.op = CHANGE_INSERT};
    cr_assert_eq(txn_core_change(&c, &ch, &err), TXN_SKIP, "its changes are skipped too");
    cr_assert_eq(txn_core_commit(&c, &err), TXN_SKIP);

    TxnInfo next = txn_at(200);
    cr_assert_eq(txn_core_begin(&c, &next, &err), TXN_APPLY);
    cr_assert_eq(txn_core_change(&c, &ch, &err), TXN_APPLY);
    cr_assert_eq(txn_core_commit(&c, &err), TXN_APPLY);
    txn_core_committed(&c, &next);
    cr_assert_eq(c.pending.commit_lsn, 200);
    cr_assert_eq(c.pending.end_lsn, 208);
    cr_assert_eq(txn_core_begin(&c, &next, &err), TXN_SKIP, "committed but not yet flushed counts as applied");
    cr_assert_eq(txn_core_last(&c).commit_lsn, 200);
    txn_core_free(&c);
}

Test(target_core, messages_are_applied_only_by_a_target_that_wants_them)
{
    Target t = target(0, 0);
    TxnCore c;
    txn_core_init(&c, &t, ERR_IO, NULL);
    Err err;
    TxnInfo x = txn_at(50);
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_APPLY);
    Change msg = {.op = CHANGE_MESSAGE};
    cr_assert_eq(txn_core_change(&c, &msg, &err), TXN_SKIP);
    c.messages = true;
    cr_assert_eq(txn_core_change(&c, &msg, &err), TXN_APPLY);
    txn_core_free(&c);
}

Test(target_core, a_change_outside_a_transaction_is_an_error)
{
    Target t = target(0, 0);
    TxnCore c;
    txn_core_init(&c, &t, ERR_IO, NULL);
    Err err;
    Change ch = {.op = CHANGE_UPDATE};
    cr_assert_eq(txn_core_change(&c, &ch, &err), TXN_FAIL);
    cr_assert_eq(err.code, ERR_INTERNAL);
    cr_assert_str_eq(err.msg, "change outside a transaction");
    txn_core_free(&c);
}

Test(target_core, rollback_undoes_only_an_applied_transaction)
{
    Target t = target(100, 108);
    TxnCore c;
    txn_core_init(&c, &t, ERR_IO, NULL);
    Err err;
    TxnInfo old = txn_at(90), x = txn_at(300);
    cr_assert_eq(txn_core_begin(&c, &old, &err), TXN_SKIP);
    cr_assert_not(txn_core_rollback(&c), "a skipped transaction has nothing to undo");
    cr_assert_not(c.skipping);
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_APPLY);
    cr_assert(txn_core_rollback(&c));
    cr_assert_not(c.applying);
    cr_assert_not(txn_core_rollback(&c), "a second rollback has nothing left");
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_APPLY, "the server sends it again: applied again");
    txn_core_free(&c);
}

Test(target_core, a_fence_moves_the_checkpoint_only_between_transactions_and_forward)
{
    Target t = target(100, 108);
    TxnCore c;
    txn_core_init(&c, &t, ERR_IO, NULL);
    Err err;
    TargetCheckpoint at = target_fence_checkpoint(500);
    TxnInfo x = txn_at(300);
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_APPLY);
    cr_assert_eq(txn_core_fence(&c, &at, &err), TXN_SKIP, "not in the middle of a transaction");
    cr_assert_eq(txn_core_commit(&c, &err), TXN_APPLY);
    txn_core_committed(&c, &x);
    cr_assert_eq(txn_core_fence(&c, &at, &err), TXN_APPLY);
    txn_core_fenced(&c, &at);
    cr_assert_eq(c.pending.commit_lsn, 499);
    cr_assert_eq(c.pending.end_lsn, 500);
    cr_assert_eq(txn_core_fence(&c, &at, &err), TXN_SKIP, "not twice to the same position");
    TxnInfo before = txn_at(499), after = txn_at(500);
    cr_assert_eq(txn_core_begin(&c, &before, &err), TXN_SKIP, "what committed before the position is applied");
    cr_assert_eq(txn_core_commit(&c, &err), TXN_SKIP);
    cr_assert_eq(txn_core_begin(&c, &after, &err), TXN_APPLY, "a commit record starting at the position is to come");
    txn_core_free(&c);
}

Test(target_core, a_broken_target_refuses_everything_with_its_own_message)
{
    Target t = target(0, 0);
    TxnCore c;
    txn_core_init(&c, &t, ERR_STORE, xstrdup("kv.cache rolled back after an earlier error"));
    Err err;
    TxnInfo x = txn_at(10);
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_APPLY);
    txn_core_break(&c);
    cr_assert_not(c.applying);
    cr_assert_not(txn_core_ok(&c, &err));
    cr_assert_eq(err.code, ERR_STORE);
    cr_assert_str_eq(err.msg, "kv.cache rolled back after an earlier error");
    memset(&err, 0, sizeof err);
    cr_assert_eq(txn_core_begin(&c, &x, &err), TXN_FAIL);
    cr_assert_str_eq(err.msg, "kv.cache rolled back after an earlier error");
    Change ch = {.op = CHANGE_INSERT};
    cr_assert_eq(txn_core_change(&c, &ch, &err), TXN_FAIL);
    cr_assert_eq(txn_core_commit(&c, &err), TXN_FAIL);
    TargetCheckpoint at = target_fence_checkpoint(99);
    cr_assert_eq(txn_core_fence(&c, &at, &err), TXN_FAIL);
    txn_core_free(&c);
}
