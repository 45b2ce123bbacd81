/*
 * targets/d1_remote.c - see d1_remote.h.
 *
 * The buffer holds the statements not yet sent, in order: first those of
 * committed transactions ([0, committed), with one mark per transaction giving
 * where it ends and its checkpoint), then those of the open transaction.
 */
#include "targets/d1_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/mem.h"
#include "d1/ddl.h"
#include "d1/resync.h"
#include "d1/shard.h"
#include "d1/sql.h"
#include "pipeline/deadletter.h"
#include "targets/checkpoint.h"
#include "targets/core.h"
#include "targets/d1_remote_follow.h"
#include "targets/sendbuf.h"

typedef struct Pend {
    D1Stmt st;                 /* owned */
    const D1Table *table;      /* borrowed from the schema */
    Lsn lsn;                   /* commit LSN of its transaction */
    uint32_t xid;              /* and its xid */
    uint32_t change;           /* the change's index in it: its statements go or stay together */
    char *key;                 /* owned: the row's key as JSON (pipeline/deadletter); NULL for a truncate */
    size_t bytes;
} Pend;

typedef struct D1Remote {
    Target base;
    CfClient *client;          /* borrowed */
    char *database_id;
    D1Schema *schema;
    char *slot;
    D1SqlLimits limits;
    D1RemoteOptions opts;
    SendBuf sb;                /* Pend items: the statements waiting to be sent */
    TxnCore core;              /* skip / apply / broken, and the checkpoint not yet sent */
    Lsn open_lsn;              /* the open transaction's commit LSN */
    int64_t pending_time_us;
    int64_t last_send_ms;      /* monotonic time of the last request that moved the checkpoint */
    int prompt_fences;         /* that request carried rows: checkpoint-only requests that may follow at once */
    int64_t last_rows_ms;      /* when the last request that carried rows went */
    D1RemoteFollow *follow;    /* the columns and shapes D1 has (targets/d1_remote_follow) */
    char *migrations_dir;      /* the target's "migrations_dir" (targets/d1_follow), or NULL */
    uint32_t rewritten;        /* a table_rewrite's OID until its ddl_command_end (targets/d1_follow) */
    bool followed;             /* the open transaction changed the schema (the memory of it cannot roll back) */
    ResyncWindow resync;       /* between a resync chunk's watermarks (pipeline/resync) */
    D1RemoteStats stats;
} D1Remote;

static bool default_send(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err)
{
    D1Remote *d = user;
    return cf_d1_batch(d->client, d->database_id, stmts, n, out, err);
}

static bool do_send(D1Remote *d, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err)
{
    return d->opts.send(d->opts.send_user ? d->opts.send_user : d, stmts, n, out, err);
}

static bool do_send_user(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err)
{
    return do_send(user, stmts, n, out, err);
}

static void stmt_free(D1Stmt *s)
{
    free(s->sql);
    for (size_t k = 0; k < s->param_count; k++)
        d1_value_clear(&s->params[k]);
    free(s->params);
    memset(s, 0, sizeof *s);
}

static size_t stmt_bytes(const D1Stmt *s)
{
    size_t n = strlen(s->sql) + 16;
    for (size_t k = 0; k < s->param_count; k++)
        n += s->params[k].len + 4;
    return n;
}

static void pend_free(void *item)
{
    Pend *p = item;
    stmt_free(&p->st);
    free(p->key);
    p->key = NULL;
}

static size_t pend_bytes(const void *item)
{
    return ((const Pend *)item)->bytes;
}

/* Statement i of the send buffer. */
static Pend *pend_at(const D1Remote *d, size_t i)
{
    return sendbuf_at(&d->sb, i);
}

static bool param_text(const D1Value *v, const char **out, Err *err)
{
    switch (v->kind) {
    case D1V_NULL:
        *out = NULL;
        return true;
    case D1V_INTEGER:
    case D1V_REAL:
    case D1V_TEXT:
        *out = v->data;
        return true;
    case D1V_BLOB:
        break;
    }
    return err_set(err, ERR_INTERNAL, "a BLOB parameter cannot be sent over the D1 REST API");
}

/*
 * Send buf[from..to) and, when ck is not NULL, the checkpoint upsert for it,
 * as one batch request.
 */
/*
 * A checkpointed request starts with this guard: it fails (and with it the whole
 * atomic batch) unless the D1 checkpoint is still where this target left it. A
 * request applied whose answer was lost, and sent again by the client's retry,
 * is therefore never applied twice; read_back_applied() then confirms it.
 */
#define GUARD_SQL                                                                                   \
    "SELECT CASE WHEN coalesce((SELECT \"commit_lsn\" FROM \"" D1_STATE_TABLE "\" WHERE \"slot\" = ?1), " \
    "'') <> ?2 THEN json('wal2edge checkpoint guard') END"
#define GUARD_ERROR "malformed JSON"

static bool read_checkpoint_lsn(D1Remote *d, Lsn *out, Err *err);

/* After a guard refusal: was the request in fact applied already (its answer lost)? */
static bool read_back_applied(D1Remote *d, const TxnMark *ck, const Err *cause, Err *err)
{
    Lsn now = 0;
    if (!read_checkpoint_lsn(d, &now, err))
        return false;
    if (now == ck->commit_lsn)
        return true;
    char have[LSN_STR_MAX], mine[LSN_STR_MAX];
    err_set(err, ERR_CHECK,
            "d1 checkpoint of slot \"%s\" moved to %s behind this bridge's back (it expected %s): is another "
            "wal2edge writing to the same database and slot? (%s)",
            d->slot, lsn_format(now, have), lsn_format(d->base.durable.commit_lsn, mine), cause->msg);
    return false;
}

/* Appended to a probe (send_range with probe): fails always, so D1 applies none of the request. */
#define PROBE_SQL "SELECT json('wal2edge probe')"

static bool send_range(D1Remote *d, size_t from, size_t to, const TxnMark *ck, bool probe, Err *err)
{
    D1StmtList ckl = {0};
    if (ck && !d1_sql_checkpoint(d->slot, ck->commit_lsn, ck->end_lsn, ck->commit_time_us, &ckl, err))
        return false;
    size_t guard = ck ? 1 : 0;
    size_t n = guard + to - from + ckl.count + (probe ? 1 : 0);
    if (n == guard)
        return true;
    CfD1Stmt *stmts = xcalloc(n, sizeof *stmts);
    const char **params = NULL;
    size_t param_total = 2 * guard;
    for (size_t i = from; i < to; i++)
        param_total += pend_at(d, i)->st.param_count;
    for (size_t i = 0; i < ckl.count; i++)
        param_total += ckl.items[i].param_count;
    params = xcalloc(param_total ? param_total : 1, sizeof *params);
    size_t p = 0, s = 0;
    bool ok = true;
    char expected[LSN_STR_MAX] = "";
    if (guard) {
        if (d->base.durable.commit_lsn)
            lsn_format(d->base.durable.commit_lsn, expected);
        stmts[0].sql = GUARD_SQL;
        stmts[0].params = params;
        stmts[0].param_count = 2;
        params[p++] = d->slot;
        params[p++] = expected;
        s = 1;
    }
    for (size_t i = from; ok && i < to + ckl.count; i++) {
        const D1Stmt *st = i < to ? &pend_at(d, i)->st : &ckl.items[i - to];
        stmts[s].sql = st->sql;
        stmts[s].params = params + p;
        stmts[s].param_count = st->param_count;
        for (size_t k = 0; ok && k < st->param_count; k++)
            ok = param_text(&st->params[k], &params[p++], err);
        s++;
    }
    if (probe)
        stmts[s].sql = PROBE_SQL;
    if (ok) {
        CfD1Result res = {0};
        ok = do_send(d, stmts, n, &res, err);
        cf_d1_result_free(&res);
        if (ok)
            d->stats.requests++;
        else
            d->stats.failed_requests++;
        if (!ok && guard && strstr(err->msg, GUARD_ERROR)) {
            Err cause = *err;
            ok = read_back_applied(d, ck, &cause, err);
        }
    }
    free(params);
    free(stmts);
    d1_stmt_list_clear(&ckl);
    return ok;
}

/* The checkpoint mark of the last committed transaction, if it is not durable yet. */
static bool pending_mark(const D1Remote *d, TxnMark *out)
{
    if (d->core.pending.commit_lsn == d->base.durable.commit_lsn)
        return false;
    out->end = d->sb.committed;
    out->commit_lsn = d->core.pending.commit_lsn;
    out->end_lsn = d->core.pending.end_lsn;
    out->commit_time_us = d->pending_time_us;
    return true;
}

static const char *range_table(const D1Remote *d, size_t from, size_t to, const char *msg)
{
    const char *first = NULL;
    for (size_t i = from; i < to; i++) {
        const char *t = pend_at(d, i)->table ? pend_at(d, i)->table->name : NULL;
        if (!t)
            continue;
        if (!first)
            first = t;
        /* SQLite names the table in constraint errors: "UNIQUE constraint failed: t.c" */
        char *needle = xasprintf(" %s.", t);
        bool named = strstr(msg, needle) != NULL;
        free(needle);
        if (named)
            return t;
    }
    return first ? first : "?";
}

static bool permanent(D1Remote *d, const Err *cause, size_t from, size_t to, Lsn lsn, Err *err)
{
    char l[LSN_STR_MAX];
    sendbuf_refused(err, cause->code == ERR_HTTP || cause->code == ERR_TIMEOUT ? ERR_CF_API : cause->code, cause,
                    target_durable(&d->base).commit_lsn, "table \"%s\", transaction at %s",
                    range_table(d, from, to, cause->msg), lsn_format(lsn, l));
    txn_core_break(&d->core);
    return false;
}

/* SQLite's "UNIQUE constraint failed: t.c" (CHECK, NOT NULL, ...): D1 refused a row, not the request. */
static bool is_constraint(const Err *e)
{
    return e->code == ERR_CF_API && strstr(e->msg, "constraint failed") != NULL;
}

/*
 * buf[from..to) is refused with a constraint error: find the first statement
 * D1 refuses, by bisecting with probes (each prefix sent with PROBE_SQL at
 * its end, so nothing is applied): about log2(to - from) requests.
 */
static bool find_refused(D1Remote *d, size_t from, size_t to, size_t *out, Err *err)
{
    size_t lo = from, hi = to - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        Err sub;
        if (send_range(d, from, mid + 1, NULL, true, &sub))
            return err_set(err, ERR_INTERNAL, "d1 probe request was applied");
        if (is_constraint(&sub)) {
            hi = mid;
        } else if (strstr(sub.msg, "malformed JSON")) {
            lo = mid + 1;
        } else {
            *err = sub;
            return false;
        }
    }
    *out = lo;
    return true;
}

/* D1 refused buf[k] for its row alone (cause): dead letter, or stop (docs/mappings.md, "on_error"). */
static bool refuse_stmt(D1Remote *d, size_t k, const Err *cause, Err *err)
{
    const Pend *p = pend_at(d, k);
    Buf value;
    Err ignored;
    buf_init(&value, 2 * DEADLETTER_MAX_VALUE);
    bool ok = buf_append_str(&value, "[", &ignored);
    for (size_t i = 0; ok && i < p->st.param_count && value.len < DEADLETTER_MAX_VALUE; i++) {
        const D1Value *v = &p->st.params[i];
        size_t n = v->len < DEADLETTER_MAX_VALUE ? v->len : DEADLETTER_MAX_VALUE;
        ok = (i == 0 || buf_append_str(&value, ",", &ignored)) &&
             (v->kind == D1V_NULL ? buf_append_str(&value, "null", &ignored)
                                  : json_text_append_str(&value, v->data, n, &ignored));
    }
    ok = ok && buf_append_str(&value, "]", &ignored);
    DlPolicy pol = {.skip = false, .mapping_file = "the mapping file", .section = "d1", .code = cause->code};
    if (p->table)
        d1_sql_refusal_policy(p->table, true, cause->code, &pol);
    char reason[ERR_MSG_MAX];
    snprintf(reason, sizeof reason, "%s", cause->msg);
    DlEntry e = {.target = d->base.name, .table = p->table ? p->table->source : "?", .commit_lsn = p->lsn,
                 .xid = p->xid, .key = p->key, .reason = reason, .value = ok ? value.data : NULL,
                 .value_len = ok ? value.len : 0};
    ok = deadletter_refuse(d->base.deadletter, &pol, &e, err);
    buf_free(&value);
    return ok;
}

/*
 * D1 refused buf[from..*to) (one transaction, its checkpoint ck or NULL) with
 * a constraint error: find each refused statement, handle it by its table's
 * "on_error" and send the rest again, with the checkpoint, as one request, so
 * rows and checkpoint still commit together. *to moves down by the statements
 * skipped.
 */
static bool skip_refused(D1Remote *d, size_t from, size_t *to, const TxnMark *ck, const Err *cause, Err *err)
{
    Err refusal = *cause;
    for (;;) {
        size_t k = 0;
        if (*to == from || !find_refused(d, from, *to, &k, err) || !refuse_stmt(d, k, &refusal, err)) {
            if (*to == from)
                *err = refusal;
            txn_core_break(&d->core);
            return false;
        }
        /* every statement of that change (a key change is a delete and an upsert) */
        Lsn lsn = pend_at(d, k)->lsn;
        uint32_t change = pend_at(d, k)->change;
        for (size_t i = *to; i-- > from;)
            if (pend_at(d, i)->lsn == lsn && pend_at(d, i)->change == change) {
                sendbuf_drop_at(&d->sb, i);
                (*to)--;
            }
        Err sub;
        if (send_range(d, from, *to, ck, false, &sub))
            return true;
        if (!is_constraint(&sub)) {
            *err = sub;
            txn_core_break(&d->core);
            return false;
        }
        refusal = sub;
    }
}

/*
 * D1 refused the request for buf[0..*n): send the transactions one per request
 * to find the one it refuses (those before it are applied and checkpointed).
 * A constraint error is handled row by row (skip_refused): true when every
 * transaction was then applied (*n less the rows skipped). Otherwise that
 * transaction is reported; a retryable failure meanwhile is reported as such.
 */
static bool narrow_down(D1Remote *d, size_t *n, const Err *cause, Err *err)
{
    size_t from = 0;
    bool skipped = false;
    for (size_t m = 0; m < d->sb.marks.count && d->sb.marks.items[m].end <= *n; m++) {
        TxnMark mk = d->sb.marks.items[m];
        Err sub;
        if (!send_range(d, from, mk.end, &mk, false, &sub)) {
            if (err_retryable(&sub)) {
                *err = sub;
                txn_core_break(&d->core);
                return false;
            }
            if (!is_constraint(&sub))
                return permanent(d, &sub, from, mk.end, mk.commit_lsn, err);
            size_t to = mk.end;
            if (!skip_refused(d, from, &to, &mk, &sub, err))
                return false;
            *n -= mk.end - to;
            mk.end = to;
            skipped = true;
        }
        d->stats.transactions++;
        for (size_t i = from; i < mk.end; i++)
            d->stats.statements++;
        d->base.durable.commit_lsn = mk.commit_lsn;
        d->base.durable.end_lsn = mk.end_lsn;
        from = mk.end;
    }
    if (from < *n) {
        Err sub;
        if (!send_range(d, from, *n, NULL, false, &sub)) {
            if (!is_constraint(&sub))
                return permanent(d, &sub, from, *n, pend_at(d, from)->lsn, err);
            size_t to = *n;
            if (!skip_refused(d, from, &to, NULL, &sub, err))
                return false;
            *n = to;
            skipped = true;
        }
    }
    if (skipped)
        return true;
    /* each part alone was accepted: report the original refusal */
    Lsn lsn = *n ? pend_at(d, *n - 1)->lsn : d->core.pending.commit_lsn;
    return permanent(d, cause, 0, *n, lsn, err);
}

/* Send buf[0..n) (n is `committed` or `count`) with the pending checkpoint. */
static bool send_prefix(D1Remote *d, size_t n, Err *err)
{
    TxnMark ck;
    bool has_ck = pending_mark(d, &ck);
    if (n == 0 && !has_ck)
        return true;
    Err cause;
    if (!send_range(d, 0, n, has_ck ? &ck : NULL, false, &cause)) {
        if (err_retryable(&cause)) {
            *err = cause; /* everything stays buffered for the next attempt */
            return false;
        }
        if (!narrow_down(d, &n, &cause, err))
            return false;
        /* applied, less the rows skipped: durable is where narrow_down left it */
        sendbuf_drop_prefix(&d->sb, n, NULL);
        return true;
    }
    d->stats.statements += n;
    d->stats.transactions += txn_marks_within(&d->sb.marks, n);
    if (has_ck) {
        d->base.durable = d->core.pending;
    }
    sendbuf_drop_prefix(&d->sb, n, NULL);
    return true;
}

static bool rem_begin(Target *t, const TxnInfo *txn, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    TxnStep step = txn_core_begin(&d->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    sendbuf_drop_open(&d->sb); /* nothing should be there; be safe */
    d->open_lsn = txn->commit_lsn;
    return true;
}

static void rem_rollback(Target *t)
{
    D1Remote *d = (D1Remote *)t;
    if (!txn_core_rollback(&d->core))
        return;
    sendbuf_drop_open(&d->sb);
    if (d->followed) { /* the tables in memory have that transaction's schema change: start again */
        d1_remote_follow_forget(d->follow);
        txn_core_break(&d->core);
    }
    d->followed = false;
}

/* Append the statements of l (moved out of it) for change `change` of txn on `table` (key: the row's, or
 * NULL), sending first when full. */
static bool add_list(D1Remote *d, D1StmtList *l, const D1Table *table, const char *key, const TxnInfo *txn,
                     uint32_t change, Err *err)
{
    bool ok = true;
    size_t i = 0;
    for (; ok && i < l->count; i++) {
        size_t b = stmt_bytes(&l->items[i]);
        /* keep one slot for the checkpoint. The committed transactions go first, alone with their
         * checkpoint: the open one's statements join a request only when it cannot fit in one by
         * itself, so a kill -9 never leaves part of a transaction that fits applied in D1. */
        while (ok && d->sb.count > 0 &&
               (d->sb.count + 2 > d->opts.max_statements || d->sb.bytes + b > d->opts.max_request_bytes))
            ok = send_prefix(d, d->sb.committed > 0 ? d->sb.committed : d->sb.count, err);
        if (!ok)
            break;
        Pend p = {.st = l->items[i], .table = table, .lsn = d->open_lsn, .xid = txn->xid, .change = change,
                  .key = key ? xstrdup(key) : NULL, .bytes = b};
        sendbuf_push(&d->sb, &p);
        memset(&l->items[i], 0, sizeof l->items[i]);
    }
    for (; i < l->count; i++)
        stmt_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
    return ok;
}

/* The statements targets/d1_follow made for change c (ok: it succeeded), in the open transaction. */
static bool add_followed(D1Remote *d, bool ok, const TxnInfo *txn, const Change *c, Err *err)
{
    D1StmtList l = {0};
    d1_remote_follow_take(d->follow, &l);
    d->followed = d->followed || l.count > 0;
    if (!ok) {
        d1_stmt_list_clear(&l);
        txn_core_break(&d->core);
        return false;
    }
    return add_list(d, &l, NULL, NULL, txn, c->index, err);
}

/* A resync watermark (pipeline/resync, d1/resync): the chunk's statements join its transaction's batch. */
static bool apply_resync(D1Remote *d, const TxnInfo *txn, const Change *c, Err *err)
{
    D1StmtList l = {0};
    const D1Table *tab;
    long rows;
    bool skipped = false;
    if (!d1_resync_message(&d->resync, c, d->base.name, d->schema->tables, d->schema->table_count, &d->limits, &l,
                           &tab, &rows, &skipped, err)) {
        d1_stmt_list_clear(&l);
        return false;
    }
    if (skipped && !resync_take_skipped(&d->base, &d->resync, err)) {
        d1_stmt_list_clear(&l);
        return false;
    }
    return add_list(d, &l, tab, NULL, txn, c->index, err);
}

static bool rem_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    TxnStep step = txn_core_change(&d->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    const D1FollowStore *fs = d1_remote_follow_store(d->follow);
    if (c->op == CHANGE_MESSAGE) /* resync watermarks; schema changes (the error names the way back) */
        return apply_resync(d, txn, c, err) &&
               add_followed(
            d, d1_follow_message_in(fs, d->schema, d->base.name, d->migrations_dir, d->base.resync, c, &d->rewritten,
                                    err), txn, c,
            err);
    if (c->op == CHANGE_TRUNCATE) {
        for (uint32_t i = 0; i < c->truncate_count; i++) {
            const D1Table *tab = d1_schema_table(d->schema, c->truncate_rels[i]->qualname);
            if (!tab)
                continue;
            D1StmtList l = {0};
            if (!d1_sql_truncate(tab, &l, err) || !add_list(d, &l, tab, NULL, txn, c->index, err)) {
                d1_stmt_list_clear(&l);
                return false;
            }
        }
        return true;
    }
    const D1Table *tab = c->rel ? d1_schema_table(d->schema, c->rel->qualname) : NULL;
    if (!tab)
        return true; /* not mapped to this database */
    /* columns changed without a DDL capture message before them (targets/d1_follow) */
    if (!add_followed(d, d1_follow_relation_in(fs, d->schema, d->base.name, d->migrations_dir, d->base.resync, c->rel,
                                                      err), txn, c,
                      err))
        return false;
    Change moved;
    const Change *mine;
    if (!d1_shard_route(tab, c, &mine, &moved, err)) {
        txn_core_break(&d->core);
        return false;
    }
    if (!mine)
        return true; /* another shard's row: a resync chunk here deletes a stale copy of it */
    c = mine;
    /* the stream's version in this database wins over a resync chunk's (a sharded table: only
     * what it routes here - recorded for every change, a re-shard's stale copy of a row the
     * stream changed in its new database would stay) */
    if (tab->key_count >= 1)
        resync_record(&d->resync, tab->cols[tab->key[0]].pg_name, c);
    Buf key;
    buf_init(&key, 2 * DEADLETTER_MAX_KEY + 4096);
    d1_sql_change_key(tab, c, &key);
    D1StmtList l = {0};
    bool ok = d1_sql_for_change(tab, c, txn->commit_lsn, &d->limits, &l, err);
    if (!ok && err->code == ERR_TOO_LARGE) {
        /* refused for its row alone, before anything is sent */
        D1Refusal r;
        d1_refusal_init(&r, tab, d->base.name, txn, c, false, err);
        ok = deadletter_refuse(d->base.deadletter, &r.policy, &r.entry, err);
        d1_refusal_free(&r);
        d1_stmt_list_clear(&l);
        buf_free(&key);
        if (!ok)
            txn_core_break(&d->core);
        return ok;
    }
    if (!ok) {
        d1_stmt_list_clear(&l);
        buf_free(&key);
        txn_core_break(&d->core);
        return false;
    }
    ok = add_list(d, &l, tab, key.data, txn, c->index, err);
    buf_free(&key);
    return ok;
}

static bool rem_commit(Target *t, const TxnInfo *txn, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    TxnStep step = txn_core_commit(&d->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    sendbuf_commit(&d->sb, txn);
    txn_core_committed(&d->core, txn);
    d->followed = false;
    d->pending_time_us = txn->commit_time_us;
    return true;
}

/*
 * Transactions that touched no table of this database, and fences, only move the
 * checkpoint: that costs a request, so it is sent at most every fence interval
 * (opts.fence_interval_ms; the slot's confirmed position waits for it meanwhile),
 * not at every flush.
 */
#define DEFAULT_FENCE_INTERVAL_MS 5000
#define PROMPT_FENCES 2
#define PROMPT_FENCE_WINDOW_MS 500

static bool rem_has_pending(const Target *t)
{
    const D1Remote *d = (const D1Remote *)t;
    if (d->core.broken)
        return false;
    if (d->sb.committed > 0)
        return true;
    if (d->core.pending.commit_lsn == d->base.durable.commit_lsn)
        return false;
    /* Right after rows went, a few checkpoint-only requests are sent at once (within
     * PROMPT_FENCE_WINDOW_MS, while the budget is ample): a client's token (read after its
     * commit) is often a little past its transaction (the server may report a position between
     * the two first), and waiting a whole fence interval for it would make read-your-writes slow. */
    if (d->prompt_fences > 0 && clock_mono_ms() - d->last_rows_ms < PROMPT_FENCE_WINDOW_MS &&
        (!d->client || cf_client_budget_ample(d->client)))
        return true;
    int64_t interval = d->opts.fence_interval_ms > 0 ? d->opts.fence_interval_ms : DEFAULT_FENCE_INTERVAL_MS;
    return clock_mono_ms() - d->last_send_ms >= interval;
}

static bool rem_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    TxnStep step = txn_core_fence(&d->core, at, err);
    /* only with nothing buffered: the checkpoint alone, sent once the fence interval passed */
    if (step != TXN_APPLY || d->sb.count > 0)
        return step != TXN_FAIL;
    txn_core_fenced(&d->core, at);
    d->pending_time_us = at_us;
    return true;
}

static bool rem_flush(Target *t, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    if (!txn_core_ok(&d->core, err))
        return false;
    if (!rem_has_pending(t))
        return true;
    Lsn before = d->base.durable.commit_lsn;
    bool carries_rows = d->sb.committed > 0;
    if (!send_prefix(d, d->sb.committed, err))
        return false;
    if (d->base.durable.commit_lsn != before) {
        d->last_send_ms = clock_mono_ms();
        if (carries_rows) {
            d->prompt_fences = PROMPT_FENCES;
            d->last_rows_ms = d->last_send_ms;
        } else if (d->prompt_fences > 0) {
            d->prompt_fences--;
        }
    }
    return true;
}

static void rem_free(Target *t)
{
    D1Remote *d = (D1Remote *)t;
    if (!d)
        return;
    if (d->stats.requests) {
        LogCtx lc = {.component = "d1"};
        log_info(&lc, "%s: %llu transactions, %llu statements in %llu requests (%llu failed)", d->base.name,
                 (unsigned long long)d->stats.transactions, (unsigned long long)d->stats.statements,
                 (unsigned long long)d->stats.requests, (unsigned long long)d->stats.failed_requests);
    }
    sendbuf_free(&d->sb);
    txn_core_free(&d->core);
    d1_remote_follow_free(d->follow);
    resync_window_clear(&d->resync);
    free(d->migrations_dir);
    d1_schema_free(d->schema);
    free(d->database_id);
    free(d->slot);
    free(d->base.name);
    free(d);
}

static const TargetOps ops = {
    .kind = "d1",
    .begin = rem_begin,
    .change = rem_change,
    .commit = rem_commit,
    .rollback = rem_rollback,
    .message = NULL,
    .flush = rem_flush,
    .fence = rem_fence,
    .has_pending = rem_has_pending,
    .free = rem_free,
};

D1RemoteStats d1_remote_stats(const Target *t)
{
    return ((const D1Remote *)t)->stats;
}

/* Split DDL text at the ";\n" that end its statements (one statement per batch element). */
static void split_ddl(const char *ddl, char ***out, size_t *n)
{
    const char *p = ddl;
    while (*p) {
        const char *e = strstr(p, ";\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t lead = 0;
        while (lead < len && (p[lead] == '\n' || p[lead] == ' '))
            lead++;
        if (len > lead) {
            *out = xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = xstrndup(p + lead, len - lead);
        }
        p = e ? e + 2 : p + len;
    }
}

static bool read_checkpoint_lsn(D1Remote *d, Lsn *out, Err *err)
{
    const char *slot_param[] = {d->slot};
    CfD1Stmt st = {.sql = d1_sql_checkpoint_query(), .params = slot_param, .param_count = 1};
    CfD1Result res = {0};
    bool ok = do_send(d, &st, 1, &res, err);
    *out = 0;
    if (ok && res.count == 1) {
        const json_t *rows = res.stmts[0].rows;
        const json_t *row = json_is_array(rows) && json_array_size(rows) > 0 ? json_array_get(rows, 0) : NULL;
        const char *c = row ? json_string_value(json_object_get(row, "commit_lsn")) : NULL;
        Err sub;
        if (row && (!c || !lsn_parse(c, out, &sub)))
            ok = err_set(err, ERR_PROTOCOL, "the checkpoint of slot \"%s\" in d1 is corrupt", d->slot);
    }
    cf_d1_result_free(&res);
    return ok;
}

/* Add the read-your-writes position to a checkpoint table made before it (d1/ddl). */
static bool upgrade_state(D1Remote *d, Err *err)
{
    char **sqls = NULL;
    size_t n = 0;
    char *ddl = d1_ddl_state_upgrade();
    split_ddl(ddl, &sqls, &n);
    free(ddl);
    CfD1Stmt *stmts = xcalloc(n, sizeof *stmts);
    for (size_t i = 0; i < n; i++)
        stmts[i].sql = sqls[i];
    CfD1Result res = {0};
    bool ok = do_send(d, stmts, n, &res, err);
    cf_d1_result_free(&res);
    for (size_t i = 0; i < n; i++)
        free(sqls[i]);
    free(sqls);
    free(stmts);
    return ok;
}

/* Create the schema (idempotent), read the checkpoint, whether the checkpoint
 * table needs its upgrade and the columns D1 has (targets/d1_remote_follow), in one request. */
static bool open_database(D1Remote *d, Err *err)
{
    char **sqls = NULL;
    size_t n = 0;
    char *ddl = d1_ddl_state_table();
    split_ddl(ddl, &sqls, &n);
    free(ddl);
    for (size_t i = 0; i < d->schema->table_count; i++) {
        ddl = d1_ddl_table(&d->schema->tables[i]);
        split_ddl(ddl, &sqls, &n);
        free(ddl);
    }
    size_t reads = d1_remote_follow_reads(d->follow, NULL);
    CfD1Stmt *stmts = xcalloc(n + 2 + reads, sizeof *stmts);
    for (size_t i = 0; i < n; i++)
        stmts[i].sql = sqls[i];
    const char *slot_param[] = {d->slot};
    stmts[n].sql = d1_sql_checkpoint_query();
    stmts[n].params = slot_param;
    stmts[n].param_count = 1;
    stmts[n + 1].sql = d1_ddl_state_missing_position();
    d1_remote_follow_reads(d->follow, stmts + n + 2);
    CfD1Result res = {0};
    bool ok = do_send(d, stmts, n + 2 + reads, &res, err);
    if (ok && res.count == n + 2 + reads) {
        d1_remote_follow_read(d->follow, res.stmts + n + 2);
        const json_t *rows = res.stmts[n].rows;
        const json_t *row = json_is_array(rows) && json_array_size(rows) > 0 ? json_array_get(rows, 0) : NULL;
        if (row) {
            const char *c = json_string_value(json_object_get(row, "commit_lsn"));
            const char *e = json_string_value(json_object_get(row, "end_lsn"));
            if (!checkpoint_parse(c, e, &d->base.durable))
                ok = err_set(err, ERR_PROTOCOL, "the checkpoint of slot \"%s\" in d1 database \"%s\" is corrupt",
                             d->slot, d->database_id);
        }
        const json_t *missing = res.stmts[n + 1].rows;
        if (ok && json_is_array(missing) && json_array_size(missing) > 0)
            ok = upgrade_state(d, err);
    } else if (ok) {
        ok = err_set(err, ERR_PROTOCOL, "d1 database \"%s\": %zu results for %zu statements", d->database_id,
                     res.count, n + 2 + reads);
    }
    cf_d1_result_free(&res);
    for (size_t i = 0; i < n; i++)
        free(sqls[i]);
    free(sqls);
    free(stmts);
    d->core.pending = d->base.durable;
    return ok;
}

Target *d1_remote_target_new(const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                             const char *slot, CfClient *client, const D1RemoteOptions *opts,
                             Err *err)
{
    D1Schema *schema = d1_schema_build(maps, cat, t->name);
    if (!d1_schema_check(schema, err)) {
        d1_schema_free(schema);
        return NULL;
    }
    if (!t->remote_id || (!client && !(opts && opts->send))) {
        d1_schema_free(schema);
        err_set(err, ERR_CONFIG, "d1.%s: a remote D1 target needs a database_id and cloudflare settings", t->name);
        return NULL;
    }
    D1Remote *d = xcalloc(1, sizeof *d);
    sendbuf_init(&d->sb, sizeof(Pend), pend_free, pend_bytes);
    d->base.ops = &ops;
    d->base.name = xasprintf("d1.%s", t->name);
    d->client = client;
    d->database_id = xstrdup(t->remote_id);
    d->schema = schema;
    d->slot = xstrdup(slot);
    d->limits = d1_sql_default_limits();
    d->limits.inline_blobs = true;
    txn_core_init(&d->core, &d->base, ERR_CF_API,
                  xasprintf("d1 database \"%s\" refused a request earlier; fix it and restart to resume from the "
                            "checkpoint",
                            t->remote_id));
    if (opts)
        d->opts = *opts;
    if (!d->opts.max_statements)
        d->opts.max_statements = D1_REMOTE_MAX_STATEMENTS;
    if (d->opts.max_statements < 2)
        d->opts.max_statements = 2;
    if (!d->opts.max_request_bytes)
        d->opts.max_request_bytes = D1_REMOTE_MAX_REQUEST_BYTES;
    if (!d->opts.send) {
        d->opts.send = default_send;
        d->opts.send_user = NULL;
    }
    d->core.messages = true; /* DDL capture messages: the tables follow the source's schema */
    d->migrations_dir = t->migrations_dir ? xstrdup(t->migrations_dir) : NULL;
    d->follow = d1_remote_follow_new(schema, do_send_user, d);
    if (!open_database(d, err)) {
        err_prefix(err, "opening d1 database \"%s\" (d1.%s)", t->remote_id, t->name);
        rem_free(&d->base);
        return NULL;
    }
    return &d->base;
}

bool d1_remote_flush_checkpoint(Target *t, Err *err)
{
    D1Remote *d = (D1Remote *)t;
    if (!txn_core_ok(&d->core, err) || !send_prefix(d, d->sb.committed, err))
        return false;
    d->last_send_ms = clock_mono_ms();
    return true;
}
