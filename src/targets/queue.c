/*
 * targets/queue.c - see queue.h.
 *
 * Events pass through two stages: `pend` holds the last event rendered for
 * the open transaction (so that the transaction's last event can carry
 * event_count once commit arrives); publish() then applies the size policy
 * (claim check or refusal) and appends the event to the push buffer (REST)
 * or to the spool file.
 */
#include "targets/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf/r2.h"
#include "cf/r2_target.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/mem.h"
#include "pg/ddlmsg.h"
#include "pipeline/deadletter.h"
#include "pipeline/event.h"
#include "pipeline/resync.h"
#include "targets/checkpoint.h"
#include "targets/core.h"
#include "targets/sendbuf.h"

#define QUEUE_EVENT_MAX ((size_t)1 << 31)   /* a rendered event (a row can hold 1 GB fields) */
#define QUEUE_IO_BUFFER (1 << 20)
#define EVENT_COUNT_MAX 36                   /* ,"event_count":N that event_mark_last may add */

/* ---- the target ---------------------------------------------------------- */

typedef struct QTable {
    QueueMapOptions opt;
    const Mapping *mapping;    /* borrowed: its queue_on_error */
    EventTable *et;
    uint64_t order;            /* data_collection_order in the open transaction */
    uint64_t order_gen;        /* which transaction `order` counts */
} QTable;

typedef struct ClaimStore {
    char *name;                /* the r2 target */
    char *dir;                 /* embedded: its local directory */
    R2Client *r2;              /* remote */
} ClaimStore;

typedef struct Ev {
    char *data;
    size_t len;
    Lsn lsn;
} Ev;

typedef struct Queue {
    Target base;
    bool remote;
    char *qname;
    char *queue_id;
    CfClient *client;          /* borrowed */
    QueueOptions opts;
    char *db, *server;
    QTable *tables;
    size_t table_count;
    ClaimStore *stores;
    size_t store_count;
    /* the open transaction */
    TxnCore core;              /* skip / apply / broken, and the checkpoint not yet durable */
    ResyncWindow resync;       /* between a resync chunk's watermarks (pipeline/resync) */
    TxnInfo txn;
    uint64_t txn_gen;
    uint64_t txn_events;
    Buf cur;                   /* rendering scratch */
    Buf pend;                  /* the open transaction's last event, not yet published */
    size_t pend_table;
    bool have_pend;
    Buf claim;                 /* pointer events */
    /* REST */
    SendBuf sb;                /* Ev items: the events waiting to be pushed */
    /* spool */
    char *path, *ckpt_path;
    FILE *f;
    char *iobuf;
    off_t offset, unit_end, durable_offset;
    bool dirty;
    QueueStats stats;
} Queue;

/* -- claim check -- */

static bool write_file_atomic(const char *path, const void *data, size_t len, Err *err)
{
    return fs_write_file_durably(path, ".tmp", data, len, 0600, err);
}

static bool default_claim_put(void *user, const char *bucket, const char *key, const void *data, size_t len,
                              Err *err)
{
    Queue *q = user;
    for (size_t i = 0; i < q->store_count; i++) {
        ClaimStore *s = &q->stores[i];
        if (strcmp(s->name, bucket) != 0)
            continue;
        if (s->dir) {
            char *path = xasprintf("%s/%s", s->dir, key);
            bool ok = write_file_atomic(path, data, len, err);
            free(path);
            return ok;
        }
        R2PutOptions po = {.content_type = "application/json"};
        return r2_put_object(s->r2, key, data, len, &po, NULL, err);
    }
    return err_set(err, ERR_INTERNAL, "no claim-check store \"%s\"", bucket);
}

static ClaimStore *open_store(Queue *q, const Config *cfg, const char *name, Err *err)
{
    for (size_t i = 0; i < q->store_count; i++)
        if (strcmp(q->stores[i].name, name) == 0)
            return &q->stores[i];
    const ConfigTarget *t = cfg ? config_target(cfg, TARGET_R2, name) : NULL;
    if (!t)
        return err_set(err, ERR_CONFIG, "queue \"%s\": no r2 target \"%s\" for the claim check", q->qname, name), NULL;
    ClaimStore s = {.name = xstrdup(name)};
    if (target_is_embedded(t)) {
        s.dir = xstrdup(t->embedded_path);
    } else {
        s.r2 = r2_client_for_target(cfg, t, NULL, err);
        if (!s.r2) {
            err_prefix(err, "queue \"%s\": claim-check bucket r2.%s", q->qname, name);
            free(s.name);
            return NULL;
        }
    }
    q->stores = xrealloc(q->stores, (q->store_count + 1) * sizeof *q->stores);
    q->stores[q->store_count] = s;
    return &q->stores[q->store_count++];
}

/* -- REST buffer -- */

static void ev_free(void *item)
{
    free(((Ev *)item)->data);
}

static size_t ev_bytes(const void *item)
{
    return ((const Ev *)item)->len;
}

static Ev *ev_at(const Queue *q, size_t i)
{
    return sendbuf_at(&q->sb, i);
}

/* The first n events were pushed: the checkpoint moves to the last transaction they complete. */
static void drop_prefix(Queue *q, size_t n)
{
    TxnMark reached;
    if (sendbuf_drop_prefix(&q->sb, n, &reached)) {
        q->base.durable.commit_lsn = reached.commit_lsn;
        q->base.durable.end_lsn = reached.end_lsn;
    }
}

static bool default_send(void *user, const CfQueueMsg *msgs, size_t n, Err *err)
{
    Queue *q = user;
    return cf_queue_send_batch(q->client, q->queue_id, msgs, n, NULL, err);
}

/* Push one conforming batch from the front of the buffer (at most `limit` events). */
static bool push_one(Queue *q, size_t limit, Err *err)
{
    size_t n = 0, bytes = 0;
    while (n < limit && n < CF_QUEUE_MAX_BATCH_MESSAGES) {
        size_t b = ev_at(q, n)->len + CF_QUEUE_MESSAGE_OVERHEAD;
        if (n > 0 && bytes + b > CF_QUEUE_MAX_BATCH_BYTES)
            break;
        bytes += b;
        n++;
    }
    if (n == 0)
        return true;
    CfQueueMsg msgs[CF_QUEUE_MAX_BATCH_MESSAGES];
    for (size_t i = 0; i < n; i++)
        msgs[i] = (CfQueueMsg){.body = ev_at(q, i)->data, .body_len = ev_at(q, i)->len, .content_type = CF_QUEUE_JSON,
                               .delay_seconds = -1};
    Err cause;
    if (!q->opts.send(q->opts.send_user ? q->opts.send_user : q, msgs, n, &cause)) {
        q->stats.failed_requests++;
        if (err_retryable(&cause)) {
            *err = cause; /* everything stays buffered */
            return false;
        }
        char l[LSN_STR_MAX];
        sendbuf_refused(err, cause.code, &cause, target_durable(&q->base).commit_lsn,
                        "queue \"%s\" (queue_id %s), transaction at %s", q->qname, q->queue_id,
                        lsn_format(ev_at(q, 0)->lsn, l));
        txn_core_break(&q->core);
        return false;
    }
    q->stats.requests++;
    q->stats.events += n;
    for (size_t i = 0; i < n; i++)
        q->stats.bytes += ev_at(q, i)->len;
    drop_prefix(q, n);
    return true;
}

/* -- spool -- */

static bool spool_write(Queue *q, const char *data, size_t len, Err *err)
{
    if (fwrite(data, 1, len, q->f) != len || fputc('\n', q->f) == EOF)
        return err_sys(err, ERR_IO, "writing queue spool \"%s\"", q->path);
    q->offset += (off_t)len + 1;
    q->stats.events++;
    q->stats.bytes += len;
    return true;
}

/* -- publishing -- */

static bool publish(Queue *q, Buf *ev, size_t table, Err *err)
{
    const QTable *qt = &q->tables[table];
    const char *data = ev->data;
    size_t len = ev->len;
    if (len + CF_QUEUE_MESSAGE_OVERHEAD > CF_QUEUE_MAX_MESSAGE_BYTES) {
        const char *id_start = strstr(data, "\"id\":\"");
        char id[EVENT_ID_MAX + 1] = "?";
        if (id_start) {
            id_start += 6;
            size_t k = 0;
            while (k < EVENT_ID_MAX && id_start[k] && id_start[k] != '"') {
                id[k] = id_start[k];
                k++;
            }
            id[k] = '\0';
        }
        if (!qt->opt.claim_check)
            return err_set(err, ERR_TOO_LARGE,
                           "queue \"%s\": the event %s of %s is %zu bytes, over the queue's %u-byte message limit "
                           "(100 of them metadata); set \"oversize\": \"claim_check\" with an r2 bucket in the "
                           "mapping's \"queue\" section to store it in R2, or exclude large columns",
                           q->qname, id, event_table_qualname(qt->et), len, CF_QUEUE_MAX_MESSAGE_BYTES);
        /* "PREFIX/QUEUE/0-1A2B3C8-12.json": stable, so a replay overwrites the same object */
        for (char *p = id; *p; p++)
            if (*p == '/' || *p == ':')
                *p = '-';
        char *key = xasprintf("%s/%s/%s.json", qt->opt.claim_prefix, q->qname, id);
        char sha[65];
        sha256_hex(data, len, sha);
        bool ok = q->opts.claim_put(q->opts.claim_user ? q->opts.claim_user : q, qt->opt.claim_bucket, key, data,
                                    len, err);
        buf_reset(&q->claim);
        ok = ok && event_claim_pointer(data, len, qt->opt.claim_bucket, key, sha, &q->claim, err);
        free(key);
        if (!ok)
            return false;
        q->stats.claim_checks++;
        data = q->claim.data;
        len = q->claim.len;
    }
    if (!q->remote)
        return spool_write(q, data, len, err);
    Ev item = {.data = xstrndup(data, len), .len = len, .lsn = q->txn.commit_lsn};
    sendbuf_push(&q->sb, &item);
    /* bounded memory: push full batches from the front once the buffer is large */
    while (q->sb.count >= q->opts.max_buffer_events || q->sb.bytes >= q->opts.max_buffer_bytes)
        if (!push_one(q, q->sb.count, err))
            return false;
    return true;
}

/* Render into cur; the previous event of the transaction is published, cur becomes pend. */
static bool stage(Queue *q, size_t table, Err *err)
{
    if (q->have_pend && !publish(q, &q->pend, q->pend_table, err))
        return false;
    Buf t = q->pend;
    q->pend = q->cur;
    q->cur = t;
    buf_reset(&q->cur);
    q->pend_table = table;
    q->have_pend = true;
    q->txn_events++;
    return true;
}

static void fill_meta(Queue *q, QTable *qt, uint32_t index, EventMeta *m)
{
    if (qt->order_gen != q->txn_gen) {
        qt->order_gen = q->txn_gen;
        qt->order = 0;
    }
    *m = (EventMeta){.db = q->db,
                     .server = q->server,
                     .xid = q->txn.xid,
                     .commit_lsn = q->txn.commit_lsn,
                     .commit_time_us = q->txn.commit_time_us,
                     .index = index,
                     .total_order = q->txn_events + 1,
                     .table_order = ++qt->order,
                     .now_ms = q->opts.now_ms()};
}

static QTable *find_table(Queue *q, const char *qualname, size_t *idx)
{
    for (size_t i = 0; i < q->table_count; i++)
        if (strcmp(event_table_qualname(q->tables[i].et), qualname) == 0) {
            *idx = i;
            return &q->tables[i];
        }
    return NULL;
}

/* Which queue the row change goes to under the mapping's route. */
static const char *route_of(const QTable *qt, const Change *c)
{
    if (!qt->opt.route_column)
        return qt->opt.queue;
    const PgoTuple *tup = c->op == CHANGE_DELETE ? c->old_tuple : c->new_tuple;
    if (!tup)
        return qt->opt.queue;
    for (uint16_t i = 0; i < tup->ncols && i < c->rel->ncols; i++) {
        if (strcmp(c->rel->cols[i].name, qt->opt.route_column) != 0)
            continue;
        const PgoCol *col = &tup->cols[i];
        if (col->kind != PGO_COL_TEXT)
            break;
        for (size_t r = 0; r < qt->opt.route_count; r++) {
            const char *v = qt->opt.routes[r].value;
            if (strlen(v) == col->len && memcmp(v, col->data, col->len) == 0)
                return qt->opt.routes[r].queue;
        }
        break;
    }
    return qt->opt.queue;
}

static bool q_begin(Target *t, const TxnInfo *txn, Err *err)
{
    Queue *q = (Queue *)t;
    TxnStep step = txn_core_begin(&q->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    q->txn = *txn;
    q->txn.gid = NULL;
    q->txn_gen++;
    q->txn_events = 0;
    q->have_pend = false;
    return true;
}

/*
 * An event over the message limit without a claim check, refused for its row
 * alone before it is staged (checked with room for the "event_count" the last
 * event gets): dead letter, or stop (docs/mappings.md, "on_error").
 */
static bool refuse_event(Queue *q, const QTable *qt, const TxnInfo *txn, const Change *c, Err *err)
{
    const PgoTuple *tup = c->op == CHANGE_DELETE || !c->new_tuple ? c->old_tuple : c->new_tuple;
    /* the event's key: its table's key, else the stream's identity columns */
    size_t n = event_table_key_count(qt->et);
    const char **ident = xcalloc((n > c->rel->ncols ? n : c->rel->ncols) + 1u, sizeof *ident);
    for (size_t i = 0; i < n; i++)
        ident[i] = event_table_key_name(qt->et, i);
    for (uint16_t i = 0; n == 0 && i < c->rel->ncols; i++)
        if (c->rel->cols[i].key)
            ident[n++] = c->rel->cols[i].name;
    Buf key;
    buf_init(&key, 2 * DEADLETTER_MAX_KEY + 4096);
    deadletter_cols_json(c->rel, tup, ident, n, DEADLETTER_MAX_KEY, &key);
    free(ident);
    char reason[256], lsn[LSN_STR_MAX];
    snprintf(reason, sizeof reason,
             "queue \"%s\": the event %s:%" PRIu32 " is %zu bytes, over the %u-byte message limit (with %u bytes of "
             "metadata)",
             q->qname, lsn_format(txn->commit_lsn, lsn), c->index, q->cur.len, CF_QUEUE_MAX_MESSAGE_BYTES,
             CF_QUEUE_MESSAGE_OVERHEAD);
    DlPolicy p = {
        .skip = qt->mapping && qt->mapping->queue_on_error == MAP_ON_ERROR_SKIP,
        .mapping_file = qt->mapping ? qt->mapping->file : "the mapping file",
        .section = "queue",
        .ways_out = "set \"oversize\": \"claim_check\" with an r2 bucket in that section to store it in R2, "
                    "leave large columns out (\"exclude\"), or make the row smaller in Postgres",
        .code = ERR_TOO_LARGE,
    };
    DlEntry e = {.target = q->base.name, .table = c->rel->qualname, .commit_lsn = txn->commit_lsn, .xid = txn->xid,
                 .key = key.data, .reason = reason, .value = q->cur.data, .value_len = q->cur.len};
    bool ok = deadletter_refuse(q->base.deadletter, &p, &e, err);
    buf_free(&key);
    buf_reset(&q->cur);
    return ok;
}

/* A DDL capture message of a mapped table: a schema-change event (op "s") at its point. */
static bool stage_ddl(Queue *q, const Change *c, Err *err)
{
    if (!c->message_transactional)
        return true;
    char *ddl = ddlmsg_record_json(c->message_prefix.p, c->message_prefix.len, c->message_content, c->message_len);
    DdlMsg m;
    Err perr;
    size_t idx;
    QTable *qt = NULL;
    if (ddl && ddlmsg_parse(c->message_content, c->message_len, &m, &perr)) {
        qt = find_table(q, m.qualname, &idx); /* a drop too: consumers see the table go */
        ddlmsg_free(&m);
    }
    bool ok = true;
    if (qt) {
        EventMeta meta;
        fill_meta(q, qt, c->index, &meta);
        buf_reset(&q->cur);
        ok = event_append_ddl(&q->cur, qt->et, &meta, ddl, err) && stage(q, idx, err);
    }
    free(ddl);
    return ok;
}

static bool has_resync_table(const char *table, void *ctx)
{
    size_t idx;
    QTable *qt = find_table(ctx, table, &idx);
    return qt && event_table_key_count(qt->et) >= 1;
}

/* A resync chunk (pipeline/resync): op "r" read events of its rows, less those the stream changed meanwhile. */
static bool stage_resync(Queue *q, const Change *c, Err *err)
{
    ResyncStep step;
    ResyncMsg *m = NULL;
    if (!resync_step(&q->resync, c, q->base.name, has_resync_table, q, &step, &m, err) ||
        !resync_take_skipped(&q->base, &q->resync, err))
        return false;
    if (step != RESYNC_HIGH)
        return true;
    size_t idx;
    QTable *qt = find_table(q, resync_msg_table(m), &idx);
    if (!qt) { /* has_resync_table said it is there */
        resync_msg_free(m);
        return true;
    }
    bool ok = resync_msg_key_default(m, event_table_key_name(qt->et, 0), err);
    for (size_t r = 0; ok && r < resync_msg_row_count(m); r++) {
        char *k = resync_msg_row_key(m, r);
        bool recorded = !k || resync_recorded(&q->resync, k);
        free(k);
        if (recorded)
            continue; /* the stream changed it between the watermarks: its event stands */
        Change rc = {.op = CHANGE_INSERT, .index = c->index, .rel = resync_msg_rel(m),
                     .new_tuple = resync_msg_row(m, r)};
        EventMeta meta;
        fill_meta(q, qt, c->index, &meta);
        meta.sub = (uint32_t)r + 1; /* id LSN:INDEX.N: one per row of the chunk */
        meta.snapshot = true;
        buf_reset(&q->cur);
        ok = event_append_row(&q->cur, qt->et, &meta, &rc, err) && stage(q, idx, err);
    }
    resync_msg_free(m);
    return ok;
}

static bool q_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    Queue *q = (Queue *)t;
    TxnStep step = txn_core_change(&q->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    size_t idx;
    if (c->op == CHANGE_MESSAGE)
        return stage_resync(q, c, err) && stage_ddl(q, c, err);
    if (c->op == CHANGE_TRUNCATE) {
        for (uint32_t i = 0; i < c->truncate_count; i++) {
            QTable *qt = find_table(q, c->truncate_rels[i]->qualname, &idx);
            if (!qt || !(qt->opt.ops & QUEUE_OP_T))
                continue;
            EventMeta m;
            fill_meta(q, qt, c->index, &m);
            m.sub = i;
            buf_reset(&q->cur);
            if (!event_append_truncate(&q->cur, qt->et, &m, err) || !stage(q, idx, err))
                return false;
        }
        return true;
    }
    QTable *qt = c->rel ? find_table(q, c->rel->qualname, &idx) : NULL;
    if (!qt)
        return true;
    if (event_table_key_count(qt->et) >= 1) /* a resync chunk leaves this row to the stream */
        resync_record(&q->resync, event_table_key_name(qt->et, 0), c);
    unsigned bit = c->op == CHANGE_INSERT ? QUEUE_OP_C : c->op == CHANGE_UPDATE ? QUEUE_OP_U : QUEUE_OP_D;
    if (!(qt->opt.ops & bit) || strcmp(route_of(qt, c), q->qname) != 0)
        return true;
    EventMeta m;
    fill_meta(q, qt, c->index, &m);
    buf_reset(&q->cur);
    if (!event_append_row(&q->cur, qt->et, &m, c, err)) {
        err_prefix(err, "queue \"%s\"", q->qname);
        return false;
    }
    if (!qt->opt.claim_check && q->cur.len + EVENT_COUNT_MAX + CF_QUEUE_MESSAGE_OVERHEAD > CF_QUEUE_MAX_MESSAGE_BYTES) {
        qt->order--; /* not published: the transaction's numbering stays gapless */
        return refuse_event(q, qt, txn, c, err);
    }
    return stage(q, idx, err);
}

static bool q_commit(Target *t, const TxnInfo *txn, Err *err)
{
    Queue *q = (Queue *)t;
    TxnStep step = txn_core_commit(&q->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (q->have_pend) {
        if (!event_mark_last(&q->pend, q->txn_events, err) || !publish(q, &q->pend, q->pend_table, err))
            return false;
        q->have_pend = false;
    }
    txn_core_committed(&q->core, txn);
    if (q->remote) {
        sendbuf_commit(&q->sb, txn);
    } else {
        q->unit_end = q->offset;
        q->dirty = true;
    }
    return true;
}

static bool spool_cut(Queue *q, off_t size, Err *err)
{
    if (fflush(q->f) != 0 || ftruncate(fileno(q->f), size) != 0 || fseeko(q->f, size, SEEK_SET) != 0)
        return err_sys(err, ERR_IO, "truncating queue spool \"%s\"", q->path);
    q->offset = size;
    return true;
}

static void q_rollback(Target *t)
{
    Queue *q = (Queue *)t;
    q->have_pend = false;
    if (!txn_core_rollback(&q->core))
        return;
    if (q->remote) {
        /* events of the open transaction already pushed will be pushed again: duplicates, same ids */
        sendbuf_drop_open(&q->sb);
    } else {
        Err e;
        if (!spool_cut(q, q->unit_end, &e))
            txn_core_break(&q->core);
    }
}

static bool write_ckpt(Queue *q, Err *err)
{
    return checkpoint_file_write(q->ckpt_path, &q->core.pending, q->unit_end, err);
}

static bool q_flush(Target *t, Err *err)
{
    Queue *q = (Queue *)t;
    if (!txn_core_ok(&q->core, err))
        return false;
    if (!q->remote) {
        if (!q->dirty)
            return true;
        if (fflush(q->f) != 0 || fdatasync(fileno(q->f)) != 0)
            return err_sys(err, ERR_IO, "syncing queue spool \"%s\"", q->path);
        if (!write_ckpt(q, err))
            return false;
        q->dirty = false;
        q->durable_offset = q->unit_end;
        t->durable = q->core.pending;
        return true;
    }
    while (q->sb.committed > 0)
        if (!push_one(q, q->sb.committed, err))
            return false;
    drop_prefix(q, 0); /* transactions without events */
    return true;
}

/*
 * The checkpoint alone: the spool's checkpoint file is rewritten by the next flush; a REST
 * queue's checkpoint (no request: it is not kept at Cloudflare) moves once everything before
 * it is pushed, like a transaction without events.
 */
static bool q_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    Queue *q = (Queue *)t;
    TxnStep step = txn_core_fence(&q->core, at, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    txn_core_fenced(&q->core, at);
    if (q->remote)
        sendbuf_commit(&q->sb, &(TxnInfo){.commit_lsn = at->commit_lsn, .end_lsn = at->end_lsn, .commit_time_us = at_us});
    else
        q->dirty = true;
    return true;
}

static bool q_has_pending(const Target *t)
{
    const Queue *q = (const Queue *)t;
    if (q->core.broken)
        return false;
    if (!q->remote)
        return q->dirty;
    return q->sb.committed > 0 || q->core.pending.commit_lsn != q->base.durable.commit_lsn;
}

static void q_free(Target *t)
{
    Queue *q = (Queue *)t;
    if (!q)
        return;
    resync_window_clear(&q->resync);
    if (q->stats.events) {
        LogCtx lc = {.component = "queue"};
        log_info(&lc, "%s: %llu events in %llu requests (%llu failed), %llu claim checks", q->base.name,
                 (unsigned long long)q->stats.events, (unsigned long long)q->stats.requests,
                 (unsigned long long)q->stats.failed_requests, (unsigned long long)q->stats.claim_checks);
    }
    for (size_t i = 0; i < q->table_count; i++) {
        queue_map_options_clear(&q->tables[i].opt);
        event_table_free(q->tables[i].et);
    }
    free(q->tables);
    for (size_t i = 0; i < q->store_count; i++) {
        free(q->stores[i].name);
        free(q->stores[i].dir);
        r2_client_free(q->stores[i].r2);
    }
    free(q->stores);
    sendbuf_free(&q->sb);
    txn_core_free(&q->core);
    buf_free(&q->cur);
    buf_free(&q->pend);
    buf_free(&q->claim);
    if (q->f)
        fclose(q->f);
    free(q->iobuf);
    free(q->path);
    free(q->ckpt_path);
    free(q->qname);
    free(q->queue_id);
    free(q->db);
    free(q->server);
    free(q->base.name);
    free(q);
}

static const TargetOps queue_ops = {
    .kind = "queue",
    .begin = q_begin,
    .change = q_change,
    .commit = q_commit,
    .rollback = q_rollback,
    .message = NULL,
    .flush = q_flush,
    .fence = q_fence,
    .has_pending = q_has_pending,
    .free = q_free,
};

QueueStats queue_target_stats(const Target *t) { return ((const Queue *)t)->stats; }

/* The database name of a libpq DSN (URI path or dbname=); NULL when not found. Never the password. */
static char *dsn_dbname(const char *dsn)
{
    if (!dsn)
        return NULL;
    const char *s = strstr(dsn, "://");
    if (s) {
        s += 3;
        const char *slash = strchr(s, '/');
        const char *q = strchr(s, '?');
        if (!slash || (q && q < slash))
            return NULL;
        slash++;
        size_t n = strcspn(slash, "?#");
        return n ? xstrndup(slash, n) : NULL;
    }
    for (const char *p = dsn; (p = strstr(p, "dbname")) != NULL; p += 6) {
        if (p != dsn && p[-1] != ' ')
            continue;
        const char *v = p + 6;
        while (*v == ' ')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ')
            v++;
        if (*v == '\'') {
            v++;
            return xstrndup(v, strcspn(v, "'"));
        }
        size_t n = strcspn(v, " ");
        return n ? xstrndup(v, n) : NULL;
    }
    return NULL;
}

/* Open the spool, cut it back to the checkpoint. */
static bool open_spool(Queue *q, Err *err)
{
    if (!fs_mkdir_parents(q->path, err))
        return false;
    int fd = open(q->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open queue spool \"%s\"", q->path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_sys(err, ERR_IO, "cannot stat queue spool \"%s\"", q->path);
    }
    off_t keep = 0;
    int64_t offset = 0;
    bool found;
    if (!checkpoint_file_read(q->ckpt_path, "queue spool checkpoint", &q->base.durable, &offset, &found, err)) {
        close(fd);
        return false;
    }
    if (found) {
        keep = (off_t)offset;
        if (keep > st.st_size) {
            close(fd);
            return err_set(err, ERR_IO,
                           "queue spool \"%s\" is shorter (%lld bytes) than its checkpoint says (%lld); it was "
                           "truncated by something else",
                           q->path, (long long)st.st_size, (long long)keep);
        }
    } else if (st.st_size > 0) {
        /* no checkpoint yet: keep the complete lines */
        char c;
        keep = st.st_size;
        while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
            keep--;
    }
    if (keep != st.st_size && (ftruncate(fd, keep) != 0 || fsync(fd) != 0)) {
        close(fd);
        return err_sys(err, ERR_IO, "cannot cut the tail of queue spool \"%s\"", q->path);
    }
    q->f = fdopen(fd, "r+");
    if (!q->f) {
        close(fd);
        return err_sys(err, ERR_IO, "cannot open queue spool \"%s\"", q->path);
    }
    q->iobuf = xmalloc(QUEUE_IO_BUFFER);
    setvbuf(q->f, q->iobuf, _IOFBF, QUEUE_IO_BUFFER);
    if (fseeko(q->f, keep, SEEK_SET) != 0)
        return err_sys(err, ERR_IO, "cannot open queue spool \"%s\"", q->path);
    q->offset = q->unit_end = q->durable_offset = keep;
    return true;
}

Target *queue_target_new(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                         CfClient *client, const QueueOptions *opts, Err *err)
{
    Queue *q = xcalloc(1, sizeof *q);
    q->base.ops = &queue_ops;
    q->base.name = xasprintf("queues.%s", t->name);
    q->qname = xstrdup(t->name);
    sendbuf_init(&q->sb, sizeof(Ev), ev_free, ev_bytes);
    txn_core_init(&q->core, &q->base, ERR_IO,
                  xasprintf("queue \"%s\" failed earlier; restart to resume from the checkpoint", t->name));
    q->core.messages = true; /* DDL capture messages become schema-change events */
    q->remote = t->remote_id != NULL;
    q->base.threadable = !q->remote; /* the embedded spool: its own file (pipeline/target.h) */
    q->queue_id = t->remote_id ? xstrdup(t->remote_id) : NULL;
    q->client = client;
    if (opts)
        q->opts = *opts;
    if (!q->opts.max_buffer_events)
        q->opts.max_buffer_events = QUEUE_MAX_BUFFER_EVENTS;
    if (q->opts.max_buffer_events < CF_QUEUE_MAX_BATCH_MESSAGES)
        q->opts.max_buffer_events = CF_QUEUE_MAX_BATCH_MESSAGES;
    if (!q->opts.max_buffer_bytes)
        q->opts.max_buffer_bytes = QUEUE_MAX_BUFFER_BYTES;
    if (!q->opts.now_ms)
        q->opts.now_ms = clock_wall_ms;
    if (!q->opts.send) {
        q->opts.send = default_send;
        q->opts.send_user = NULL;
    }
    if (!q->opts.claim_put) {
        q->opts.claim_put = default_claim_put;
        q->opts.claim_user = NULL;
    }
    q->db = q->opts.db ? xstrdup(q->opts.db)
                       : dsn_dbname(cfg && cfg->source.dsn ? secret_reveal(cfg->source.dsn) : NULL);
    q->opts.db = NULL;
    q->server = xstrdup(cfg && cfg->source.slot ? cfg->source.slot : EVENT_CONNECTOR);
    buf_init(&q->cur, QUEUE_EVENT_MAX);
    buf_init(&q->pend, QUEUE_EVENT_MAX);
    buf_init(&q->claim, QUEUE_EVENT_MAX);
    if (q->remote && !client && !(opts && opts->send)) {
        err_set(err, ERR_CONFIG, "queues.%s: a remote queue needs cloudflare settings", t->name);
        q_free(&q->base);
        return NULL;
    }
    for (size_t i = 0; maps && i < maps->count; i++) {
        const Mapping *m = &maps->items[i];
        if (!m->queue_node)
            continue;
        QueueMapOptions o;
        if (!queue_map_options_parse(m, cfg, &o, err)) {
            q_free(&q->base);
            return NULL;
        }
        if (!queue_map_options_uses(&o, t->name)) {
            queue_map_options_clear(&o);
            continue;
        }
        const CatTable *ct = catalog_table(cat, m->source);
        if (!ct || !ct->exists) {
            err_set(err, ERR_CONFIG, "%s: table %s does not exist", m->file, m->source);
            queue_map_options_clear(&o);
            q_free(&q->base);
            return NULL;
        }
        for (size_t k = 0; k < o.exclude_count; k++)
            if (catalog_column_index(ct, o.exclude[k]) < 0) {
                err_set(err, ERR_CONFIG, "%s: queue.exclude: table %s has no column \"%s\"", m->file, m->source,
                        o.exclude[k]);
                queue_map_options_clear(&o);
                q_free(&q->base);
                return NULL;
            }
        if (o.route_column && catalog_column_index(ct, o.route_column) < 0) {
            err_set(err, ERR_CONFIG, "%s: queue.route.column: table %s has no column \"%s\"", m->file, m->source,
                    o.route_column);
            queue_map_options_clear(&o);
            q_free(&q->base);
            return NULL;
        }
        EventTable *et = event_table_new(cat, ct, (const char *const *)o.exclude, o.exclude_count, err);
        if (!et || (o.claim_check && !q->opts.claim_user && q->opts.claim_put == default_claim_put &&
                    !open_store(q, cfg, o.claim_bucket, err))) {
            event_table_free(et);
            queue_map_options_clear(&o);
            q_free(&q->base);
            return NULL;
        }
        q->tables = xrealloc(q->tables, (q->table_count + 1) * sizeof *q->tables);
        q->tables[q->table_count++] = (QTable){.opt = o, .et = et, .mapping = m};
    }
    if (!q->remote) {
        q->path = xstrdup(t->embedded_path);
        q->ckpt_path = xasprintf("%s.ckpt", t->embedded_path);
        if (!open_spool(q, err)) {
            q_free(&q->base);
            return NULL;
        }
    }
    q->core.pending = q->base.durable;
    return &q->base;
}
