/*
 * pg/pgoutput.c - see pgoutput.h.
 *
 * One cursor (Cur) walks the message; every field read goes through a helper
 * that turns a short read into an error naming the field and the byte offset,
 * so the per-message code reads like the layout table in the protocol docs.
 */
#include "pg/pgoutput.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

typedef struct Cur {
    Rd r;
    size_t n;            /* bytes available at the start of the message */
    const char *what;    /* message type name, for errors */
    Err *err;
} Cur;

static size_t cur_off(const Cur *c)
{
    return c->n - c->r.left;
}

static bool short_read(Cur *c, const char *field, size_t need)
{
    return err_set(c->err, ERR_PROTOCOL,
                   "pgoutput %s message truncated at byte %zu: %s needs %zu bytes, %zu left",
                   c->what, cur_off(c), field, need, c->r.left);
}

static bool get_u8(Cur *c, uint8_t *v, const char *field)
{
    return rd_u8(&c->r, v) || short_read(c, field, 1);
}

static bool get_u16(Cur *c, uint16_t *v, const char *field)
{
    return rd_be16(&c->r, v) || short_read(c, field, 2);
}

static bool get_u32(Cur *c, uint32_t *v, const char *field)
{
    return rd_be32(&c->r, v) || short_read(c, field, 4);
}

static bool get_u64(Cur *c, uint64_t *v, const char *field)
{
    return rd_be64(&c->r, v) || short_read(c, field, 8);
}

static bool get_i64(Cur *c, int64_t *v, const char *field)
{
    uint64_t u;
    if (!get_u64(c, &u, field))
        return false;
    /* Two's complement reinterpretation without implementation-defined conversion. */
    memcpy(v, &u, sizeof *v);
    return true;
}

/* A signed Int32 length or count: negative is an error, as is more than `left` units of `unit` bytes. */
static bool get_len(Cur *c, uint32_t *v, size_t unit, const char *field)
{
    size_t off = cur_off(c);
    if (!get_u32(c, v, field))
        return false;
    if (*v > INT32_MAX) {
        int32_t sv;
        memcpy(&sv, v, sizeof sv);
        return err_set(c->err, ERR_PROTOCOL, "pgoutput %s message: negative %s %d at byte %zu",
                       c->what, field, (int)sv, off);
    }
    if (*v > c->r.left / unit)
        return err_set(c->err, ERR_PROTOCOL,
                       "pgoutput %s message: %s %u at byte %zu exceeds the %zu bytes left",
                       c->what, field, *v, off, c->r.left);
    return true;
}

static bool get_str(Cur *c, PgoStr *s, const char *field)
{
    if (rd_cstr(&c->r, c->r.left, &s->p, &s->len))
        return true;
    return err_set(c->err, ERR_PROTOCOL,
                   "pgoutput %s message truncated at byte %zu: %s has no NUL terminator in the %zu bytes left",
                   c->what, cur_off(c), field, c->r.left);
}

static bool get_flags_zero(Cur *c, uint8_t *v, const char *field)
{
    size_t off = cur_off(c);
    if (!get_u8(c, v, field))
        return false;
    if (*v != 0)
        return err_set(c->err, ERR_PROTOCOL, "pgoutput %s message: unsupported %s 0x%02x at byte %zu",
                       c->what, field, *v, off);
    return true;
}

static void grow_cols(PgoDecoder *d, size_t need)
{
    if (need <= d->cols_cap)
        return;
    size_t cap = d->cols_cap ? d->cols_cap * 2 : 64;
    if (cap < need)
        cap = need;
    /* need <= 2 * 65535, so this cannot overflow; size_mul keeps the habit. */
    size_t bytes;
    if (!size_mul(cap, sizeof *d->cols, &bytes))
        abort();
    d->cols = xrealloc(d->cols, bytes);
    d->cols_cap = cap;
}

static void grow_relcols(PgoDecoder *d, size_t need)
{
    if (need <= d->relcols_cap)
        return;
    size_t cap = d->relcols_cap ? d->relcols_cap * 2 : 64;
    if (cap < need)
        cap = need;
    size_t bytes;
    if (!size_mul(cap, sizeof *d->relcols, &bytes))
        abort();
    d->relcols = xrealloc(d->relcols, bytes);
    d->relcols_cap = cap;
}

/* TupleData into d->cols[base..base+ncols). Pointers are fixed up by the caller. */
static bool get_tuple(Cur *c, PgoDecoder *d, size_t base, uint16_t *ncols_out, const char *which)
{
    uint16_t ncols;
    size_t off = cur_off(c);
    if (!get_u16(c, &ncols, which))
        return false;
    /* Each column takes at least its kind byte. */
    if (ncols > c->r.left)
        return err_set(c->err, ERR_PROTOCOL,
                       "pgoutput %s message: %s declares %u columns at byte %zu but only %zu bytes are left",
                       c->what, which, ncols, off, c->r.left);
    *ncols_out = ncols;
    if (ncols == 0)
        return true;
    grow_cols(d, base + ncols);
    PgoCol *cols = d->cols + base;
    for (uint16_t i = 0; i < ncols; i++) {
        uint8_t kind;
        off = cur_off(c);
        if (!rd_u8(&c->r, &kind))
            return err_set(c->err, ERR_PROTOCOL,
                           "pgoutput %s message truncated at byte %zu: %s column %u kind needs 1 byte, 0 left",
                           c->what, off, which, i + 1);
        cols[i].kind = kind;
        cols[i].len = 0;
        cols[i].data = NULL;
        switch (kind) {
        case PGO_COL_NULL:
        case PGO_COL_UNCHANGED:
            break;
        case PGO_COL_TEXT:
        case PGO_COL_BINARY: {
            uint32_t len;
            off = cur_off(c);
            if (!rd_be32(&c->r, &len))
                return err_set(c->err, ERR_PROTOCOL,
                               "pgoutput %s message truncated at byte %zu: %s column %u length needs 4 bytes, %zu left",
                               c->what, off, which, i + 1, c->r.left);
            if (len > INT32_MAX)
                return err_set(c->err, ERR_PROTOCOL,
                               "pgoutput %s message: %s column %u has negative length at byte %zu",
                               c->what, which, i + 1, off);
            if (!rd_bytes(&c->r, len, &cols[i].data))
                return err_set(c->err, ERR_PROTOCOL,
                               "pgoutput %s message truncated at byte %zu: %s column %u value needs %u bytes, %zu left",
                               c->what, off + 4, which, i + 1, len, c->r.left);
            cols[i].len = len;
            break;
        }
        default:
            return err_set(c->err, ERR_PROTOCOL,
                           "pgoutput %s message: unknown %s column %u kind 0x%02x at byte %zu",
                           c->what, which, i + 1, kind, off);
        }
    }
    *ncols_out = ncols;
    return true;
}

static bool get_tag(Cur *c, uint8_t *tag, const char *allowed, const char *field)
{
    size_t off = cur_off(c);
    if (!get_u8(c, tag, field))
        return false;
    if (*tag == 0 || !strchr(allowed, *tag))
        return err_set(c->err, ERR_PROTOCOL,
                       "pgoutput %s message: unexpected %s 0x%02x at byte %zu (expected one of '%s')",
                       c->what, field, *tag, off, allowed);
    return true;
}

static bool dec_change(Cur *c, PgoDecoder *d, PgoEvent *ev)
{
    uint8_t tag;
    uint16_t nold = 0, nnew = 0;
    if (!get_u32(c, &ev->u.change.rel_oid, "relation oid"))
        return false;
    ev->u.change.old_kind = 0;
    ev->u.change.has_new = false;
    switch (ev->type) {
    case PGO_INSERT:
        if (!get_tag(c, &tag, "N", "tuple tag") || !get_tuple(c, d, 0, &nnew, "new tuple"))
            return false;
        ev->u.change.has_new = true;
        break;
    case PGO_UPDATE:
        if (!get_tag(c, &tag, "KON", "tuple tag"))
            return false;
        if (tag != 'N') {
            ev->u.change.old_kind = tag;
            if (!get_tuple(c, d, 0, &nold, tag == 'K' ? "old key tuple" : "old tuple") ||
                !get_tag(c, &tag, "N", "new tuple tag"))
                return false;
        }
        if (!get_tuple(c, d, nold, &nnew, "new tuple"))
            return false;
        ev->u.change.has_new = true;
        break;
    default: /* PGO_DELETE */
        if (!get_tag(c, &tag, "KO", "tuple tag"))
            return false;
        ev->u.change.old_kind = tag;
        if (!get_tuple(c, d, 0, &nold, tag == 'K' ? "old key tuple" : "old tuple"))
            return false;
        break;
    }
    /* Scratch may have moved while the second tuple grew it, so point late. */
    ev->u.change.old_tup.ncols = nold;
    ev->u.change.old_tup.cols = nold ? d->cols : NULL;
    ev->u.change.new_tup.ncols = nnew;
    ev->u.change.new_tup.cols = nnew ? d->cols + nold : NULL;
    return true;
}

static bool dec_relation(Cur *c, PgoDecoder *d, PgoEvent *ev)
{
    uint16_t ncols;
    size_t off;
    if (!get_u32(c, &ev->u.relation.oid, "relation oid") ||
        !get_str(c, &ev->u.relation.nspname, "namespace") ||
        !get_str(c, &ev->u.relation.relname, "relation name"))
        return false;
    off = cur_off(c);
    if (!get_u8(c, &ev->u.relation.replident, "replica identity"))
        return false;
    switch (ev->u.relation.replident) {
    case PGO_RI_DEFAULT:
    case PGO_RI_NOTHING:
    case PGO_RI_FULL:
    case PGO_RI_INDEX:
        break;
    default:
        return err_set(c->err, ERR_PROTOCOL,
                       "pgoutput relation message: unknown replica identity 0x%02x at byte %zu",
                       ev->u.relation.replident, off);
    }
    off = cur_off(c);
    if (!get_u16(c, &ncols, "column count"))
        return false;
    /* flags + at least the NUL of the name + type oid + typmod. */
    if (ncols > c->r.left / 10)
        return err_set(c->err, ERR_PROTOCOL,
                       "pgoutput relation message: %u columns declared at byte %zu but only %zu bytes are left",
                       ncols, off, c->r.left);
    grow_relcols(d, ncols);
    for (uint16_t i = 0; i < ncols; i++) {
        PgoRelCol *col = &d->relcols[i];
        uint32_t typmod;
        if (!get_u8(c, &col->flags, "column flags") || !get_str(c, &col->name, "column name") ||
            !get_u32(c, &col->type_oid, "column type oid") || !get_u32(c, &typmod, "column typmod"))
            return false;
        memcpy(&col->typmod, &typmod, sizeof typmod);
    }
    ev->u.relation.ncols = ncols;
    ev->u.relation.cols = ncols ? d->relcols : NULL;
    return true;
}

static bool dec_prepare_like(Cur *c, PgoEvent *ev, bool has_flags)
{
    ev->u.prepare.flags = 0;
    if (has_flags && !get_flags_zero(c, &ev->u.prepare.flags, "flags"))
        return false;
    if (!get_u64(c, &ev->u.prepare.lsn, ev->type == PGO_COMMIT_PREPARED ? "commit lsn" : "prepare lsn") ||
        !get_u64(c, &ev->u.prepare.end_lsn, "end lsn") || !get_i64(c, &ev->u.prepare.ts, "timestamp") ||
        !get_u32(c, &ev->xid, "xid") || !get_str(c, &ev->u.prepare.gid, "gid"))
        return false;
    ev->has_xid = true;
    return true;
}

static bool dec_stream_abort(Cur *c, const PgoDecoder *d, PgoEvent *ev)
{
    bool info;
    if (!get_u32(c, &ev->xid, "xid") || !get_u32(c, &ev->u.stream_abort.subxid, "subxid"))
        return false;
    ev->has_xid = true;
    switch (d->abort_info) {
    case PGO_ABORT_INFO_YES:
        info = true;
        break;
    case PGO_ABORT_INFO_NO:
        info = false;
        break;
    default:
        info = c->r.left >= 16 && c->r.p[0] != 0x0A;
        break;
    }
    ev->u.stream_abort.has_abort_info = info;
    ev->u.stream_abort.abort_lsn = 0;
    ev->u.stream_abort.abort_ts = 0;
    if (info && (!get_u64(c, &ev->u.stream_abort.abort_lsn, "abort lsn") ||
                 !get_i64(c, &ev->u.stream_abort.abort_ts, "abort timestamp")))
        return false;
    return true;
}

/* Messages that only make sense between transactions / stream blocks. */
static bool outside_stream_only(uint8_t type)
{
    switch (type) {
    case PGO_BEGIN:
    case PGO_COMMIT:
    case PGO_STREAM_START:
    case PGO_STREAM_COMMIT:
    case PGO_STREAM_ABORT:
    case PGO_BEGIN_PREPARE:
    case PGO_PREPARE:
    case PGO_COMMIT_PREPARED:
    case PGO_ROLLBACK_PREPARED:
    case PGO_STREAM_PREPARE:
        return true;
    default:
        return false;
    }
}

/* Data messages get an xid prefix inside a stream block. */
static bool has_stream_xid_prefix(uint8_t type)
{
    switch (type) {
    case PGO_RELATION:
    case PGO_TYPE:
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
    case PGO_TRUNCATE:
    case PGO_MESSAGE:
        return true;
    default:
        return false;
    }
}

bool pgo_decode(PgoDecoder *d, const uint8_t *p, size_t n, PgoEvent *ev, Err *err)
{
    Cur c;
    uint8_t type;
    bool ok;

    if (n == 0)
        return err_set(err, ERR_PROTOCOL, "pgoutput message is empty");
    type = p[0];
    c.r = rd_make(p + 1, n - 1);
    c.n = n;
    c.err = err;
    c.what = pgo_type_name(type);
    if (!c.what)
        return err_set(err, ERR_PROTOCOL, "unknown pgoutput message type 0x%02x at byte 0", type);

    ev->type = type;
    ev->has_xid = false;
    ev->in_stream = d->in_stream;
    ev->xid = 0;
    ev->stream_xid = d->in_stream ? d->stream_xid : 0;

    if (d->in_stream && outside_stream_only(type))
        return err_set(err, ERR_PROTOCOL, "pgoutput %s message inside a stream block (xid %u)", c.what,
                       d->stream_xid);
    if (d->in_stream && has_stream_xid_prefix(type)) {
        if (!get_u32(&c, &ev->xid, "stream xid prefix"))
            return false;
        ev->has_xid = true;
    }

    switch (type) {
    case PGO_BEGIN:
        ok = get_u64(&c, &ev->u.begin.final_lsn, "final lsn") &&
             get_i64(&c, &ev->u.begin.commit_ts, "commit timestamp") && get_u32(&c, &ev->xid, "xid");
        ev->has_xid = true;
        break;
    case PGO_COMMIT:
    case PGO_STREAM_COMMIT:
        ok = true;
        if (type == PGO_STREAM_COMMIT) {
            ok = get_u32(&c, &ev->xid, "xid");
            ev->has_xid = true;
        }
        ok = ok && get_flags_zero(&c, &ev->u.commit.flags, "flags") &&
             get_u64(&c, &ev->u.commit.commit_lsn, "commit lsn") &&
             get_u64(&c, &ev->u.commit.end_lsn, "end lsn") &&
             get_i64(&c, &ev->u.commit.commit_ts, "commit timestamp");
        break;
    case PGO_ORIGIN:
        ok = get_u64(&c, &ev->u.origin.origin_lsn, "origin lsn") && get_str(&c, &ev->u.origin.name, "origin name");
        break;
    case PGO_RELATION:
        ok = dec_relation(&c, d, ev);
        break;
    case PGO_TYPE:
        ok = get_u32(&c, &ev->u.type.oid, "type oid") && get_str(&c, &ev->u.type.nspname, "namespace") &&
             get_str(&c, &ev->u.type.typname, "type name");
        break;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        ok = dec_change(&c, d, ev);
        break;
    case PGO_TRUNCATE: {
        uint32_t nrels;
        ok = get_len(&c, &nrels, 4, "relation count") && get_u8(&c, &ev->u.truncate.options, "options");
        if (ok && !rd_bytes(&c.r, (size_t)nrels * 4, &ev->u.truncate.rel_oids))
            ok = short_read(&c, "relation oids", (size_t)nrels * 4);
        ev->u.truncate.nrels = nrels;
        break;
    }
    case PGO_MESSAGE: {
        uint32_t len = 0;
        ok = get_u8(&c, &ev->u.message.flags, "flags") && get_u64(&c, &ev->u.message.lsn, "lsn") &&
             get_str(&c, &ev->u.message.prefix, "prefix") && get_len(&c, &len, 1, "content length");
        /* get_len checked len against the bytes left, so this cannot fail. */
        if (ok && !rd_bytes(&c.r, len, &ev->u.message.content))
            ok = short_read(&c, "content", len);
        ev->u.message.len = len;
        break;
    }
    case PGO_STREAM_START: {
        uint8_t first = 0;
        size_t off;
        ok = get_u32(&c, &ev->xid, "xid");
        off = cur_off(&c);
        ok = ok && get_u8(&c, &first, "first segment flag");
        if (ok && first > 1)
            ok = err_set(err, ERR_PROTOCOL, "pgoutput stream_start message: invalid first segment flag %u at byte %zu",
                         first, off);
        ev->has_xid = true;
        ev->u.stream_start.first_segment = first == 1;
        break;
    }
    case PGO_STREAM_STOP:
        ok = d->in_stream || err_set(err, ERR_PROTOCOL, "pgoutput stream_stop message outside a stream block");
        if (ok) {
            ev->xid = d->stream_xid;
            ev->has_xid = true;
        }
        break;
    case PGO_STREAM_ABORT:
        ok = dec_stream_abort(&c, d, ev);
        break;
    case PGO_BEGIN_PREPARE:
        ok = dec_prepare_like(&c, ev, false);
        break;
    case PGO_PREPARE:
    case PGO_STREAM_PREPARE:
    case PGO_COMMIT_PREPARED:
        ok = dec_prepare_like(&c, ev, true);
        break;
    default: /* PGO_ROLLBACK_PREPARED; pgo_type_name() rejected everything else */
        ok = get_flags_zero(&c, &ev->u.rollback_prepared.flags, "flags") &&
             get_u64(&c, &ev->u.rollback_prepared.prepare_end_lsn, "prepare end lsn") &&
             get_u64(&c, &ev->u.rollback_prepared.rollback_end_lsn, "rollback end lsn") &&
             get_i64(&c, &ev->u.rollback_prepared.prepare_ts, "prepare timestamp") &&
             get_i64(&c, &ev->u.rollback_prepared.rollback_ts, "rollback timestamp") &&
             get_u32(&c, &ev->xid, "xid") && get_str(&c, &ev->u.rollback_prepared.gid, "gid");
        ev->has_xid = true;
        break;
    }
    if (!ok)
        return false;

    ev->len = n - c.r.left;
    if (type == PGO_STREAM_START) {
        d->in_stream = true;
        d->stream_xid = ev->xid;
    } else if (type == PGO_STREAM_STOP) {
        d->in_stream = false;
    }
    return true;
}

bool pgo_decode_exact(PgoDecoder *d, const uint8_t *p, size_t n, PgoEvent *ev, Err *err)
{
    bool in_stream = d->in_stream;
    uint32_t stream_xid = d->stream_xid;
    if (!pgo_decode(d, p, n, ev, err))
        return false;
    if (ev->len != n) {
        d->in_stream = in_stream;
        d->stream_xid = stream_xid;
        return err_set(err, ERR_PROTOCOL, "pgoutput %s message: %zu unexpected trailing bytes at byte %zu",
                       pgo_type_name(ev->type), n - ev->len, ev->len);
    }
    return true;
}

void pgo_decoder_init(PgoDecoder *d, PgoAbortInfo abort_info)
{
    memset(d, 0, sizeof *d);
    d->abort_info = abort_info;
}

void pgo_decoder_free(PgoDecoder *d)
{
    free(d->cols);
    free(d->relcols);
    d->cols = NULL;
    d->relcols = NULL;
    d->cols_cap = 0;
    d->relcols_cap = 0;
    d->in_stream = false;
}

void pgo_decoder_reset(PgoDecoder *d)
{
    d->in_stream = false;
    d->stream_xid = 0;
}

const char *pgo_type_name(uint8_t type)
{
    switch (type) {
    case PGO_BEGIN: return "begin";
    case PGO_COMMIT: return "commit";
    case PGO_ORIGIN: return "origin";
    case PGO_RELATION: return "relation";
    case PGO_TYPE: return "type";
    case PGO_INSERT: return "insert";
    case PGO_UPDATE: return "update";
    case PGO_DELETE: return "delete";
    case PGO_TRUNCATE: return "truncate";
    case PGO_MESSAGE: return "message";
    case PGO_STREAM_START: return "stream_start";
    case PGO_STREAM_STOP: return "stream_stop";
    case PGO_STREAM_COMMIT: return "stream_commit";
    case PGO_STREAM_ABORT: return "stream_abort";
    case PGO_BEGIN_PREPARE: return "begin_prepare";
    case PGO_PREPARE: return "prepare";
    case PGO_COMMIT_PREPARED: return "commit_prepared";
    case PGO_ROLLBACK_PREPARED: return "rollback_prepared";
    case PGO_STREAM_PREPARE: return "stream_prepare";
    default: return NULL;
    }
}
