/* Unit tests for targets/txnmarks: the checkpoint a sent prefix reaches, the marks moving down when
 * items leave the front or the middle, and counting the transactions within a prefix. */
#include <criterion/criterion.h>

#include "targets/txnmarks.h"

static void push(TxnMarks *m, size_t end, Lsn commit)
{
    TxnInfo t = {.xid = 1, .commit_lsn = commit, .end_lsn = commit + 8, .commit_time_us = (int64_t)commit};
    txn_marks_push(m, end, &t);
}

Test(txnmarks, a_sent_prefix_reaches_the_last_transaction_inside_it)
{
    TxnMarks m = {0};
    push(&m, 2, 100); /* items 0..1 */
    push(&m, 5, 200); /* items 2..4 */
    push(&m, 6, 300); /* item 5 */
    cr_assert_eq(txn_marks_within(&m, 4), 1);
    cr_assert_eq(txn_marks_within(&m, 5), 2);
    TxnMark r = {0};
    cr_assert_not(txn_marks_drop_prefix(&m, 1, &r), "no transaction ends within the first item");
    cr_assert_eq(m.count, 3);
    cr_assert_eq(m.items[0].end, 1, "the marks move down with the items");
    cr_assert(txn_marks_drop_prefix(&m, 4, &r));
    cr_assert_eq(r.commit_lsn, 200);
    cr_assert_eq(r.end_lsn, 208);
    cr_assert_eq(r.commit_time_us, 200);
    cr_assert_eq(m.count, 1);
    cr_assert_eq(m.items[0].end, 1);
    cr_assert_eq(m.items[0].commit_lsn, 300);
    cr_assert(txn_marks_drop_prefix(&m, 1, NULL));
    cr_assert_eq(m.count, 0);
    txn_marks_free(&m);
}

Test(txnmarks, an_item_dropped_alone_moves_the_later_marks)
{
    TxnMarks m = {0};
    push(&m, 2, 100);
    push(&m, 5, 200);
    txn_marks_drop_at(&m, 3);
    cr_assert_eq(m.items[0].end, 2, "a mark before the item stays");
    cr_assert_eq(m.items[1].end, 4);
    txn_marks_drop_at(&m, 0);
    cr_assert_eq(m.items[0].end, 1);
    cr_assert_eq(m.items[1].end, 3);
    for (int i = 0; i < 200; i++) /* grows past its first allocation */
        push(&m, 3 + (size_t)i, 300 + (Lsn)i);
    cr_assert_eq(m.count, 202);
    cr_assert_eq(txn_marks_within(&m, 3), 3);
    txn_marks_free(&m);
    cr_assert_eq(m.count, 0);
}
