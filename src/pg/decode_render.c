/*
 * pg/decode_render.c - see decode_render.h.
 *
 * The JSON is written by hand into one reused Buf: the key order is fixed
 * (type, lsn, xid, then per-type fields), which keeps the output diffable
 * and the committed *.expected.ndjson fixtures byte-exact.
 */
#include "pg/decode_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_text.h"
#include "pg/ddlmsg.h"
#include "pg/lsn.h"

/* ---- capture splitting --------------------------------------------------- */

void capture_splitter_init(CaptureSplitter *s, const uint8_t *data, size_t n)
{
    s->data = data;
    s->n = n;
    s->pos = 0;
    s->index = 0;
}

int capture_next(CaptureSplitter *s, PgoDecoder *d, PgoEvent *ev, Err *err)
{
    size_t start = s->pos;
    if (start >= s->n)
        return 0;
    if (!pgo_decode(d, s->data + start, s->n - start, ev, err)) {
        err_prefix(err, "capture message %zu at file offset %zu", s->index + 1, start);
        return -1;
    }
    size_t end = start + ev->len;
    if (end >= s->n || s->data[end] != '\n') {
        if (end >= s->n)
            err_set(err, ERR_PROTOCOL,
                    "capture message %zu at file offset %zu: %s message is not followed by a newline "
                    "(end of file at offset %zu)", s->index + 1, start, pgo_type_name(ev->type), end);
        else
            err_set(err, ERR_PROTOCOL,
                    "capture message %zu at file offset %zu: %s message is followed by byte 0x%02x at "
                    "offset %zu, expected a newline", s->index + 1, start, pgo_type_name(ev->type),
                    s->data[end], end);
        return -1;
    }
    s->pos = end + 1;
    s->index++;
    return 1;
}

/* ---- JSON writing with a sticky error ------------------------------------ */

typedef struct W {
    Buf *b;
    Err *err;
    bool ok;
} W;

static void w_raw(W *w, const char *s, size_t len)
{
    if (w->ok)
        w->ok = buf_append(w->b, s, len, w->err);
}

static void w_lit(W *w, const char *s)
{
    w_raw(w, s, strlen(s));
}

static void w_str(W *w, const char *s, size_t len)
{
    if (w->ok)
        w->ok = json_text_append_str(w->b, s, len, w->err);
}

/* ,"key": */
static void w_key(W *w, const char *key)
{
    w_lit(w, ",\"");
    w_lit(w, key);
    w_lit(w, "\":");
}

static void w_u64(W *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    w_raw(w, tmp, (size_t)n);
}

static void w_i64(W *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    w_raw(w, tmp, (size_t)n);
}

static void w_bool(W *w, bool v)
{
    w_lit(w, v ? "true" : "false");
}

static void w_lsn(W *w, Lsn lsn)
{
    char tmp[LSN_STR_MAX];
    lsn_format(lsn, tmp);
    w_lit(w, "\"");
    w_lit(w, tmp);
    w_lit(w, "\"");
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Postgres-epoch microseconds as ISO 8601 UTC with microseconds ("2024-05-01T12:00:00.000000Z"). */
static void w_ts(W *w, int64_t pg_us)
{
    char tmp[64];
    if (pg_us == INT64_MAX) {
        w_lit(w, "\"infinity\"");
        return;
    }
    if (pg_us == INT64_MIN) {
        w_lit(w, "\"-infinity\"");
        return;
    }
    const int64_t day_us = INT64_C(86400000000);
    /* Floor division without forming days * day_us, which overflows near INT64_MIN. */
    int64_t days = pg_us / day_us;
    int64_t rem = pg_us % day_us;
    if (rem < 0) {
        rem += day_us;
        days -= 1;
    }
    /* Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras). */
    int64_t z = days + 10957 + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    int64_t secs = rem / 1000000, usec = rem % 1000000;
    int n = snprintf(tmp, sizeof tmp, "\"%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ\"", (long long)year,
                     (long long)month, (long long)day, (long long)(secs / 3600), (long long)(secs / 60 % 60),
                     (long long)(secs % 60), (long long)usec);
    w_raw(w, tmp, (size_t)n);
}

static void w_pgstr(W *w, PgoStr s)
{
    w_str(w, s.p, s.len);
}

/* Binary ('b') values as Postgres bytea hex text: \x0a0b... */
static void w_hex_value(W *w, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char chunk[256];
    size_t k = 0;
    w_lit(w, "\"\\\\x");
    for (size_t i = 0; i < len; i++) {
        chunk[k++] = hex[p[i] >> 4];
        chunk[k++] = hex[p[i] & 15];
        if (k == sizeof chunk) {
            w_raw(w, chunk, k);
            k = 0;
        }
    }
    w_raw(w, chunk, k);
    w_lit(w, "\"");
}

static void w_base64(W *w, const uint8_t *p, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    w_lit(w, "\"");
    size_t i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[0] = tbl[v >> 18];
        out[1] = tbl[v >> 12 & 63];
        out[2] = tbl[v >> 6 & 63];
        out[3] = tbl[v & 63];
        w_raw(w, out, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[0] = tbl[v >> 18];
        out[1] = tbl[v >> 12 & 63];
        out[2] = out[3] = '=';
        w_raw(w, out, 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[0] = tbl[v >> 18];
        out[1] = tbl[v >> 12 & 63];
        out[2] = tbl[v >> 6 & 63];
        out[3] = '=';
        w_raw(w, out, 4);
    }
    w_lit(w, "\"");
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF); NUL is rejected too. */
static bool utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = s[i] == 0 ? 0 : s[i] < 0x80 ? 1 : json_text_utf8_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* ---- rendering ------------------------------------------------------------ */

void decode_render_init(DecodeRender *r)
{
    r->rc = relcache_new();
    r->in_txn = false;
    r->txn_xid = 0;
}

void decode_render_free(DecodeRender *r)
{
    relcache_free(r->rc);
    r->rc = NULL;
}

static const char *replident_name(uint8_t ri)
{
    switch (ri) {
    case PGO_RI_DEFAULT: return "default";
    case PGO_RI_NOTHING: return "nothing";
    case PGO_RI_FULL: return "full";
    default: return "index";
    }
}

static void w_tuple(W *w, const Rel *rel, const PgoTuple *t)
{
    w_lit(w, "{");
    for (uint16_t i = 0; i < t->ncols; i++) {
        const PgoCol *c = &t->cols[i];
        if (i)
            w_lit(w, ",");
        if (rel) {
            w_str(w, rel->cols[i].name, strlen(rel->cols[i].name));
        } else {
            /* No Relation message seen for this OID: positional names. */
            char tmp[16];
            int n = snprintf(tmp, sizeof tmp, "\"$%u\"", (unsigned)i + 1);
            w_raw(w, tmp, (size_t)n);
        }
        w_lit(w, ":");
        switch (c->kind) {
        case PGO_COL_NULL:
            w_lit(w, "null");
            break;
        case PGO_COL_UNCHANGED:
            w_lit(w, "{\"unchanged_toast\":true}");
            break;
        case PGO_COL_TEXT:
            w_str(w, (const char *)c->data, c->len);
            break;
        default:
            w_hex_value(w, c->data, c->len);
            break;
        }
    }
    w_lit(w, "}");
}

static bool check_ncols(const Rel *rel, const PgoTuple *t, const char *which, Err *err)
{
    if (rel && rel->ncols != t->ncols)
        return err_set(err, ERR_PROTOCOL, "%s tuple for relation %s (oid %u) has %u columns, its relation message has %u",
                       which, rel->qualname, rel->oid, t->ncols, rel->ncols);
    return true;
}

static void w_table(W *w, const RelCache *rc, uint32_t oid)
{
    const Rel *rel = relcache_get(rc, oid);
    if (rel)
        w_str(w, rel->qualname, strlen(rel->qualname));
    else
        w_lit(w, "null");
}

static bool render_change(DecodeRender *r, const PgoEvent *ev, W *w)
{
    const Rel *rel = relcache_get(r->rc, ev->u.change.rel_oid);
    if (ev->u.change.old_kind && !check_ncols(rel, &ev->u.change.old_tup, "old", w->err))
        return false;
    if (ev->u.change.has_new && !check_ncols(rel, &ev->u.change.new_tup, "new", w->err))
        return false;
    w_key(w, "table");
    w_table(w, r->rc, ev->u.change.rel_oid);
    w_key(w, "relation_oid");
    w_u64(w, ev->u.change.rel_oid);
    if (ev->u.change.old_kind) {
        w_key(w, "old_kind");
        w_lit(w, ev->u.change.old_kind == 'K' ? "\"key\"" : "\"row\"");
        w_key(w, "old");
        w_tuple(w, rel, &ev->u.change.old_tup);
    }
    if (ev->u.change.has_new) {
        w_key(w, "new");
        w_tuple(w, rel, &ev->u.change.new_tup);
    }
    return true;
}

static void render_relation(DecodeRender *r, const PgoEvent *ev, W *w)
{
    const Rel *rel = relcache_put(r->rc, ev);
    w_key(w, "table");
    w_str(w, rel->qualname, strlen(rel->qualname));
    w_key(w, "relation_oid");
    w_u64(w, rel->oid);
    w_key(w, "namespace");
    w_pgstr(w, ev->u.relation.nspname);
    w_key(w, "name");
    w_pgstr(w, ev->u.relation.relname);
    w_key(w, "replica_identity");
    w_lit(w, "\"");
    w_lit(w, replident_name(rel->replident));
    w_lit(w, "\"");
    w_key(w, "columns");
    w_lit(w, "[");
    for (uint16_t i = 0; i < rel->ncols; i++) {
        const RelCol *c = &rel->cols[i];
        const char *tname = relcache_type_name(r->rc, c->type_oid);
        w_lit(w, i ? ",{\"name\":" : "{\"name\":");
        w_str(w, c->name, strlen(c->name));
        w_key(w, "type_oid");
        w_u64(w, c->type_oid);
        w_key(w, "type_name");
        if (tname)
            w_str(w, tname, strlen(tname));
        else
            w_lit(w, "null");
        w_key(w, "typmod");
        w_i64(w, c->typmod);
        w_key(w, "key");
        w_bool(w, c->key);
        w_lit(w, "}");
    }
    w_lit(w, "]");
}

static void render_truncate(DecodeRender *r, const PgoEvent *ev, W *w)
{
    w_key(w, "tables");
    w_lit(w, "[");
    for (uint32_t i = 0; i < ev->u.truncate.nrels; i++) {
        if (i)
            w_lit(w, ",");
        w_table(w, r->rc, pgo_truncate_oid(ev, i));
    }
    w_lit(w, "]");
    w_key(w, "relation_oids");
    w_lit(w, "[");
    for (uint32_t i = 0; i < ev->u.truncate.nrels; i++) {
        if (i)
            w_lit(w, ",");
        w_u64(w, pgo_truncate_oid(ev, i));
    }
    w_lit(w, "]");
    w_key(w, "cascade");
    w_bool(w, (ev->u.truncate.options & PGO_TRUNCATE_CASCADE) != 0);
    w_key(w, "restart_identity");
    w_bool(w, (ev->u.truncate.options & PGO_TRUNCATE_RESTART_IDENTITY) != 0);
}

/* ddl: a DDL capture message's content as one line of JSON, or NULL for any other message. */
static void render_message(const PgoEvent *ev, const char *ddl, W *w)
{
    if (ddl) {
        w_key(w, "transactional");
        w_bool(w, (ev->u.message.flags & PGO_MESSAGE_TRANSACTIONAL) != 0);
        w_key(w, "prefix");
        w_pgstr(w, ev->u.message.prefix);
        w_key(w, "ddl");
        w_raw(w, ddl, strlen(ddl));
        return;
    }
    bool text = utf8_valid(ev->u.message.content, ev->u.message.len);
    w_key(w, "transactional");
    w_bool(w, (ev->u.message.flags & PGO_MESSAGE_TRANSACTIONAL) != 0);
    w_key(w, "prefix");
    w_pgstr(w, ev->u.message.prefix);
    w_key(w, "content");
    if (text)
        w_str(w, (const char *)ev->u.message.content, ev->u.message.len);
    else
        w_base64(w, ev->u.message.content, ev->u.message.len);
    w_key(w, "content_base64");
    w_bool(w, !text);
}

/* The LSN the message itself carries, for the common "lsn" key; false if none. */
static bool event_lsn(const PgoEvent *ev, Lsn *out)
{
    switch (ev->type) {
    case PGO_BEGIN: *out = ev->u.begin.final_lsn; return true;
    case PGO_COMMIT:
    case PGO_STREAM_COMMIT: *out = ev->u.commit.commit_lsn; return true;
    case PGO_ORIGIN: *out = ev->u.origin.origin_lsn; return true;
    case PGO_MESSAGE: *out = ev->u.message.lsn; return true;
    case PGO_STREAM_ABORT:
        *out = ev->u.stream_abort.abort_lsn;
        return ev->u.stream_abort.has_abort_info;
    case PGO_BEGIN_PREPARE:
    case PGO_PREPARE:
    case PGO_STREAM_PREPARE:
    case PGO_COMMIT_PREPARED: *out = ev->u.prepare.lsn; return true;
    case PGO_ROLLBACK_PREPARED: *out = ev->u.rollback_prepared.rollback_end_lsn; return true;
    default: return false;
    }
}

static void render_prepare(const PgoEvent *ev, W *w)
{
    bool commit = ev->type == PGO_COMMIT_PREPARED;
    w_key(w, "gid");
    w_pgstr(w, ev->u.prepare.gid);
    w_key(w, commit ? "commit_lsn" : "prepare_lsn");
    w_lsn(w, ev->u.prepare.lsn);
    w_key(w, "end_lsn");
    w_lsn(w, ev->u.prepare.end_lsn);
    w_key(w, commit ? "commit_time" : "prepare_time");
    w_ts(w, ev->u.prepare.ts);
}

bool decode_render_event(DecodeRender *r, const PgoEvent *ev, Buf *out, Err *err)
{
    W w = {out, err, true};
    Lsn lsn;
    bool has_xid = ev->has_xid;
    uint32_t xid = ev->xid;

    /* Messages that do not carry an xid inherit the open stream's or transaction's. */
    if (!has_xid && ev->in_stream) {
        has_xid = true;
        xid = ev->stream_xid;
    } else if (!has_xid && r->in_txn) {
        has_xid = true;
        xid = r->txn_xid;
    }

    w_lit(&w, "{\"type\":\"");
    /* a DDL capture message is a "ddl" record of its own */
    char *ddl = NULL;
    if (ev->type == PGO_MESSAGE && (ev->u.message.flags & PGO_MESSAGE_TRANSACTIONAL))
        ddl = ddlmsg_record_json(ev->u.message.prefix.p, ev->u.message.prefix.len, ev->u.message.content,
                                 ev->u.message.len);
    w_lit(&w, ddl ? "ddl" : pgo_type_name(ev->type));
    w_lit(&w, "\",\"lsn\":");
    if (event_lsn(ev, &lsn))
        w_lsn(&w, lsn);
    else
        w_lit(&w, "null");
    w_key(&w, "xid");
    if (has_xid)
        w_u64(&w, xid);
    else
        w_lit(&w, "null");

    switch (ev->type) {
    case PGO_BEGIN:
        w_key(&w, "final_lsn");
        w_lsn(&w, ev->u.begin.final_lsn);
        w_key(&w, "commit_time");
        w_ts(&w, ev->u.begin.commit_ts);
        r->in_txn = true;
        r->txn_xid = ev->xid;
        break;
    case PGO_COMMIT:
    case PGO_STREAM_COMMIT:
        w_key(&w, "commit_lsn");
        w_lsn(&w, ev->u.commit.commit_lsn);
        w_key(&w, "end_lsn");
        w_lsn(&w, ev->u.commit.end_lsn);
        w_key(&w, "commit_time");
        w_ts(&w, ev->u.commit.commit_ts);
        r->in_txn = false;
        break;
    case PGO_ORIGIN:
        w_key(&w, "origin_lsn");
        w_lsn(&w, ev->u.origin.origin_lsn);
        w_key(&w, "origin_name");
        w_pgstr(&w, ev->u.origin.name);
        break;
    case PGO_RELATION:
        render_relation(r, ev, &w);
        break;
    case PGO_TYPE: {
        relcache_put_type(r->rc, ev);
        const char *full = relcache_type_name(r->rc, ev->u.type.oid);
        w_key(&w, "type_oid");
        w_u64(&w, ev->u.type.oid);
        w_key(&w, "namespace");
        w_pgstr(&w, ev->u.type.nspname);
        w_key(&w, "name");
        w_pgstr(&w, ev->u.type.typname);
        w_key(&w, "type_name");
        w_str(&w, full, strlen(full));
        break;
    }
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        if (!render_change(r, ev, &w))
            return false;
        break;
    case PGO_TRUNCATE:
        render_truncate(r, ev, &w);
        break;
    case PGO_MESSAGE:
        render_message(ev, ddl, &w);
        free(ddl);
        break;
    case PGO_STREAM_START:
        w_key(&w, "first_segment");
        w_bool(&w, ev->u.stream_start.first_segment);
        break;
    case PGO_STREAM_STOP:
        break;
    case PGO_STREAM_ABORT:
        w_key(&w, "subxid");
        w_u64(&w, ev->u.stream_abort.subxid);
        if (ev->u.stream_abort.has_abort_info) {
            w_key(&w, "abort_lsn");
            w_lsn(&w, ev->u.stream_abort.abort_lsn);
            w_key(&w, "abort_time");
            w_ts(&w, ev->u.stream_abort.abort_ts);
        }
        break;
    case PGO_BEGIN_PREPARE:
        render_prepare(ev, &w);
        r->in_txn = true;
        r->txn_xid = ev->xid;
        break;
    case PGO_PREPARE:
    case PGO_STREAM_PREPARE:
    case PGO_COMMIT_PREPARED:
        render_prepare(ev, &w);
        r->in_txn = false;
        break;
    default: /* PGO_ROLLBACK_PREPARED */
        w_key(&w, "gid");
        w_pgstr(&w, ev->u.rollback_prepared.gid);
        w_key(&w, "prepare_end_lsn");
        w_lsn(&w, ev->u.rollback_prepared.prepare_end_lsn);
        w_key(&w, "rollback_end_lsn");
        w_lsn(&w, ev->u.rollback_prepared.rollback_end_lsn);
        w_key(&w, "prepare_time");
        w_ts(&w, ev->u.rollback_prepared.prepare_ts);
        w_key(&w, "rollback_time");
        w_ts(&w, ev->u.rollback_prepared.rollback_ts);
        r->in_txn = false;
        break;
    }
    if (ev->in_stream && ev->type != PGO_STREAM_STOP && ev->type != PGO_ORIGIN) {
        /* Inside a stream block a data message's own xid may be a subtransaction's. */
        w_key(&w, "stream_xid");
        w_u64(&w, ev->stream_xid);
    }
    w_lit(&w, "}");
    return w.ok;
}

bool decode_capture(const uint8_t *data, size_t n, DecodeEmitFn emit, void *ctx, Err *err)
{
    CaptureSplitter s;
    PgoDecoder d;
    DecodeRender r;
    PgoEvent ev;
    Buf line;
    bool ok = true;
    int rc;

    capture_splitter_init(&s, data, n);
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    decode_render_init(&r);
    buf_init(&line, DECODE_LINE_MAX);
    while ((rc = capture_next(&s, &d, &ev, err)) == 1) {
        buf_reset(&line);
        if (!decode_render_event(&r, &ev, &line, err) || !buf_append(&line, "\n", 1, err)) {
            err_prefix(err, "capture message %zu at file offset %zu", s.index, s.pos - ev.len - 1);
            ok = false;
            break;
        }
        if (!emit(ctx, line.data, line.len, err)) {
            ok = false;
            break;
        }
    }
    if (rc < 0)
        ok = false;
    buf_free(&line);
    decode_render_free(&r);
    pgo_decoder_free(&d);
    return ok;
}
