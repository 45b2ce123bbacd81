/* Unit tests for targets/sendbuf: items owned and freed through the owner's callback, the bytes
 * they add up to, the checkpoint a sent prefix reaches, the open transaction dropped, one item
 * dropped from the middle, and the "checkpoint stays at" message. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "targets/sendbuf.h"

typedef struct Item {
    char *text;
} Item;

static int freed;

static void item_free(void *p)
{
    free(((Item *)p)->text);
    freed++;
}

static size_t item_bytes(const void *p)
{
    return strlen(((const Item *)p)->text);
}

static void push(SendBuf *b, const char *text)
{
    Item it = {xstrdup(text)};
    sendbuf_push(b, &it);
}

static void commit(SendBuf *b, Lsn lsn)
{
    TxnInfo t = {.xid = 1, .commit_lsn = lsn, .end_lsn = lsn + 8, .commit_time_us = 5};
    sendbuf_commit(b, &t);
}

static const char *text_at(const SendBuf *b, size_t i)
{
    return ((const Item *)sendbuf_at(b, i))->text;
}

Test(sendbuf, a_sent_prefix_frees_its_items_and_reaches_the_last_transaction_it_completes)
{
    SendBuf b;
    sendbuf_init(&b, sizeof(Item), item_free, item_bytes);
    freed = 0;
    push(&b, "aa");
    push(&b, "bbb");
    commit(&b, 100);
    push(&b, "c");
    commit(&b, 200);
    push(&b, "dddd"); /* open */
    cr_assert_eq(b.count, 4);
    cr_assert_eq(b.committed, 3);
    cr_assert_eq(b.bytes, 10);
    TxnMark r = {0};
    cr_assert_not(sendbuf_drop_prefix(&b, 1, &r), "half a transaction completes none");
    cr_assert_eq(freed, 1);
    cr_assert_eq(b.bytes, 8);
    cr_assert_str_eq(text_at(&b, 0), "bbb");
    cr_assert(sendbuf_drop_prefix(&b, 2, &r));
    cr_assert_eq(r.commit_lsn, 200, "both transactions are complete: the later one is reached");
    cr_assert_eq(r.end_lsn, 208);
    cr_assert_eq(b.count, 1);
    cr_assert_eq(b.committed, 0);
    cr_assert_str_eq(text_at(&b, 0), "dddd");
    sendbuf_free(&b);
    cr_assert_eq(freed, 4);
}

Test(sendbuf, a_transaction_without_items_is_reached_by_an_empty_prefix)
{
    SendBuf b;
    sendbuf_init(&b, sizeof(Item), item_free, item_bytes);
    commit(&b, 300);
    TxnMark r = {0};
    cr_assert(sendbuf_drop_prefix(&b, 0, &r));
    cr_assert_eq(r.commit_lsn, 300);
    cr_assert_eq(b.marks.count, 0);
    sendbuf_free(&b);
}

Test(sendbuf, the_open_transaction_is_dropped_alone)
{
    SendBuf b;
    sendbuf_init(&b, sizeof(Item), item_free, item_bytes);
    freed = 0;
    push(&b, "x");
    commit(&b, 100);
    push(&b, "yy");
    push(&b, "zzz");
    sendbuf_drop_open(&b);
    cr_assert_eq(freed, 2);
    cr_assert_eq(b.count, 1);
    cr_assert_eq(b.bytes, 1);
    cr_assert_eq(b.marks.count, 1);
    sendbuf_free(&b);
}

Test(sendbuf, an_item_dropped_from_the_middle_moves_the_marks_after_it)
{
    SendBuf b;
    sendbuf_init(&b, sizeof(Item), item_free, item_bytes);
    push(&b, "a");
    commit(&b, 100);
    push(&b, "b");
    push(&b, "c");
    commit(&b, 200);
    sendbuf_drop_at(&b, 1);
    cr_assert_eq(b.count, 2);
    cr_assert_eq(b.committed, 2);
    cr_assert_str_eq(text_at(&b, 1), "c");
    cr_assert_eq(b.marks.items[0].end, 1, "the mark before it stays");
    cr_assert_eq(b.marks.items[1].end, 2, "the mark after it moves down");
    TxnMark r = {0};
    cr_assert(sendbuf_drop_prefix(&b, 2, &r));
    cr_assert_eq(r.commit_lsn, 200);
    sendbuf_free(&b);
}

Test(sendbuf, a_refused_send_names_where_the_checkpoint_stays)
{
    Err cause;
    err_set(&cause, ERR_CF_API, "queue not found");
    cause.detail = 404;
    Err err;
    sendbuf_refused(&err, ERR_CF_API, &cause, 0x16B374D848ULL, "queue \"%s\"", "orders");
    cr_assert_str_eq(err.msg, "queue \"orders\": queue not found; the checkpoint stays at 16/B374D848");
    cr_assert_eq(err.detail, 404);
    sendbuf_refused(&cause, ERR_CF_API, &cause, 0, "again");
    cr_assert_str_eq(cause.msg, "again: queue not found; the checkpoint stays at 0/0", "the cause may be the error itself");
}
