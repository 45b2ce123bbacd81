/*
 * pipeline/assembler.c - see assembler.h.
 *
 * One decoder feeds the live stream, a second replays spools. An ordinary
 * transaction goes straight to the sink, change by change, unless the sink's
 * wants() says at Begin that no target needs it. Changes inside stream blocks
 * are appended, as the raw message bytes, to one spool per top-level xid; a
 * subtransaction abort is recorded in the spool too, and Stream Commit replays
 * the file in two passes (collect aborted subxids, then deliver the rest). A
 * PREPARE is fsynced to a file named by the GID's hash before the slot can move
 * past it, and a Stream Prepare renames the stream's spool there; COMMIT
 * PREPARED replays that file, ROLLBACK PREPARED deletes it. The latest Relation
 * message of each table is copied into a prepared spool before its first change,
 * because the commit may come in a later session with an empty relation cache.
 * Stream spools left by an earlier session are removed at start: the server
 * streams those transactions again.
 */
#include "pipeline/assembler.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "core/clock.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/mem.h"
#include "pg/relcache.h"
#include "pg/walproto.h"
#include "pipeline/spool.h"

/* An open streamed transaction: its spool and the subtransactions aborted so far. */
typedef struct OpenStream {
    uint32_t xid;
    char *path;
    SpoolWriter *w;
    uint32_t *aborted;
    size_t aborted_count;
} OpenStream;

/* The bytes of the latest Relation message per relation, outside stream blocks. */
typedef struct RawRelation {
    uint32_t oid;
    uint8_t flags;                 /* SPOOL_FLAG_STREAM_PREFIX when the bytes carry an xid prefix */
    uint8_t *bytes;
    size_t len;
} RawRelation;

struct Assembler {
    char *spool_dir;
    AsmSink sink;
    PgoDecoder live;
    PgoDecoder replay;
    RelCache *rc;
    /* ordinary transaction in progress */
    bool in_txn;
    bool txn_wanted;
    TxnInfo txn;
    uint32_t change_index;
    /* Begin Prepare .. Prepare in progress */
    bool in_prepare;
    SpoolWriter *prepare_w;
    char *prepare_path;
    uint32_t *prepare_rels;        /* relations whose Relation message is in the prepare spool */
    size_t prepare_rel_count;
    RawRelation *raw_rels;
    size_t raw_rel_count;
    OpenStream *streams;
    size_t stream_count;
    const Rel **truncate_rels;
    size_t truncate_cap;
    AsmStats stats;
};

static char *stream_path(const Assembler *a, uint32_t xid)
{
    return xasprintf("%s/stream-%u.spool", a->spool_dir, xid);
}

/* GIDs are up to 200 arbitrary bytes: name the file by their hash. */
static char *prepared_path(const Assembler *a, const PgoStr *gid)
{
    char hex[SHA256_HEX_SIZE];
    sha256_hex(gid->p, gid->len, hex);
    return xasprintf("%s/prepared-%s.spool", a->spool_dir, hex);
}

/* Remove every in-progress stream spool left by an earlier run or session. */
static bool remove_stream_spools(const Assembler *a, Err *err)
{
    DIR *dir = opendir(a->spool_dir);
    if (!dir)
        return err_sys(err, ERR_IO, "cannot read spool directory \"%s\"", a->spool_dir);
    struct dirent *de;
    bool ok = true;
    while ((de = readdir(dir))) {
        if (strncmp(de->d_name, "stream-", 7) != 0)
            continue;
        char *path = xasprintf("%s/%s", a->spool_dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            ok = err_sys(err, ERR_IO, "cannot remove \"%s\"", path);
        free(path);
    }
    closedir(dir);
    return ok;
}

Assembler *assembler_new(const char *spool_dir, const AsmSink *sink, Err *err)
{
    if (!fs_mkdir_p(spool_dir, err))
        return NULL;
    Assembler *a = xcalloc(1, sizeof *a);
    a->spool_dir = xstrdup(spool_dir);
    a->sink = *sink;
    pgo_decoder_init(&a->live, PGO_ABORT_INFO_AUTO);
    pgo_decoder_init(&a->replay, PGO_ABORT_INFO_AUTO);
    a->rc = relcache_new();
    if (!remove_stream_spools(a, err)) {
        assembler_free(a);
        return NULL;
    }
    return a;
}

static void close_stream(OpenStream *s, bool remove_file)
{
    Err ignored;
    if (!spool_writer_close(s->w, &ignored)) {
        /* the file is removed or replayed next; a failed close of a writer we drop is moot */
    }
    s->w = NULL;
    if (remove_file)
        unlink(s->path);
    free(s->path);
    free(s->aborted);
    memset(s, 0, sizeof *s);
}

static void drop_stream_at(Assembler *a, size_t idx, bool remove_file)
{
    close_stream(&a->streams[idx], remove_file);
    a->streams[idx] = a->streams[a->stream_count - 1];
    a->stream_count--;
}

void assembler_free(Assembler *a)
{
    if (!a)
        return;
    while (a->stream_count)
        drop_stream_at(a, a->stream_count - 1, true);
    free(a->streams);
    Err ignored;
    if (a->prepare_w && spool_writer_close(a->prepare_w, &ignored))
        unlink(a->prepare_path);
    free(a->prepare_path);
    pgo_decoder_free(&a->live);
    pgo_decoder_free(&a->replay);
    relcache_free(a->rc);
    for (size_t i = 0; i < a->raw_rel_count; i++)
        free(a->raw_rels[i].bytes);
    free(a->raw_rels);
    free(a->prepare_rels);
    free(a->truncate_rels);
    free(a->spool_dir);
    free(a);
}

bool assembler_idle(const Assembler *a)
{
    return !a->in_txn && !a->in_prepare && !a->live.in_stream;
}

uint64_t assembler_spool_bytes(const Assembler *a)
{
    uint64_t bytes = a->prepare_w ? spool_writer_bytes(a->prepare_w) : 0;
    for (size_t i = 0; i < a->stream_count; i++)
        if (a->streams[i].w)
            bytes += spool_writer_bytes(a->streams[i].w);
    return bytes;
}

const AsmStats *assembler_stats(const Assembler *a) { return &a->stats; }

bool assembler_reset(Assembler *a, Err *err)
{
    if (a->in_txn && a->txn_wanted)
        a->sink.rollback(a->sink.ctx);
    a->in_txn = false;
    if (a->in_prepare) {
        Err ignored;
        if (spool_writer_close(a->prepare_w, &ignored)) {
            /* closed; the partial file goes below */
        }
        unlink(a->prepare_path);
        a->prepare_w = NULL;
        free(a->prepare_path);
        a->prepare_path = NULL;
        a->in_prepare = false;
    }
    while (a->stream_count)
        drop_stream_at(a, a->stream_count - 1, true);
    pgo_decoder_reset(&a->live);
    relcache_clear(a->rc);
    for (size_t i = 0; i < a->raw_rel_count; i++)
        free(a->raw_rels[i].bytes);
    a->raw_rel_count = 0;
    return remove_stream_spools(a, err);
}

static OpenStream *find_stream(Assembler *a, uint32_t xid)
{
    for (size_t i = 0; i < a->stream_count; i++)
        if (a->streams[i].xid == xid)
            return &a->streams[i];
    return NULL;
}

static size_t stream_index(const Assembler *a, const OpenStream *s) { return (size_t)(s - a->streams); }

static OpenStream *open_stream(Assembler *a, uint32_t xid, bool first_segment, Err *err)
{
    OpenStream *s = find_stream(a, xid);
    if (s && !first_segment)
        return s;
    if (s) /* a first segment for an xid we already had: the old one is stale */
        drop_stream_at(a, stream_index(a, s), true);
    a->streams = xrealloc(a->streams, (a->stream_count + 1) * sizeof *a->streams);
    s = &a->streams[a->stream_count];
    memset(s, 0, sizeof *s);
    s->xid = xid;
    s->path = stream_path(a, xid);
    s->w = spool_writer_open(s->path, false, err);
    if (!s->w) {
        free(s->path);
        return NULL;
    }
    a->stream_count++;
    return s;
}

static bool is_aborted(const OpenStream *s, uint32_t xid)
{
    for (size_t i = 0; i < s->aborted_count; i++)
        if (s->aborted[i] == xid)
            return true;
    return false;
}

static bool spool_event(Assembler *a, SpoolWriter *w, const PgoEvent *ev, Lsn lsn, const uint8_t *msg,
                        size_t len, Err *err)
{
    a->stats.spooled_bytes += len;
    return spool_append(w, SPOOL_KIND_DATA, ev->in_stream ? SPOOL_FLAG_STREAM_PREFIX : 0,
                        ev->has_xid ? ev->xid : 0, lsn, msg, (uint32_t)len, err);
}

static void remember_raw_relation(Assembler *a, uint32_t oid, uint8_t flags, const uint8_t *msg, size_t len)
{
    RawRelation *slot = NULL;
    for (size_t i = 0; i < a->raw_rel_count && !slot; i++)
        if (a->raw_rels[i].oid == oid)
            slot = &a->raw_rels[i];
    if (!slot) {
        a->raw_rels = xrealloc(a->raw_rels, (a->raw_rel_count + 1) * sizeof *a->raw_rels);
        slot = &a->raw_rels[a->raw_rel_count++];
        slot->oid = oid;
    } else {
        free(slot->bytes);
    }
    slot->flags = flags;
    slot->bytes = xmalloc(len);
    memcpy(slot->bytes, msg, len);
    slot->len = len;
}

/*
 * A staged prepared transaction may be committed in a later session, whose
 * relation cache starts empty: put each relation's Relation message into the
 * spool before its first change, so the spool replays on its own.
 */
static bool stage_relation(Assembler *a, uint32_t oid, Err *err)
{
    for (size_t i = 0; i < a->prepare_rel_count; i++)
        if (a->prepare_rels[i] == oid)
            return true;
    for (size_t i = 0; i < a->raw_rel_count; i++) {
        if (a->raw_rels[i].oid != oid)
            continue;
        a->prepare_rels = xrealloc(a->prepare_rels, (a->prepare_rel_count + 1) * sizeof *a->prepare_rels);
        a->prepare_rels[a->prepare_rel_count++] = oid;
        return spool_append(a->prepare_w, SPOOL_KIND_DATA, a->raw_rels[i].flags, 0, 0, a->raw_rels[i].bytes,
                            (uint32_t)a->raw_rels[i].len, err);
    }
    return err_set(err, ERR_PROTOCOL, "pgoutput change for relation oid %u that no Relation message described",
                   oid);
}

static bool stage_prepared_event(Assembler *a, const PgoEvent *ev, Lsn lsn, const uint8_t *msg, size_t len,
                                 Err *err)
{
    if (ev->type == PGO_INSERT || ev->type == PGO_UPDATE || ev->type == PGO_DELETE) {
        if (!stage_relation(a, ev->u.change.rel_oid, err))
            return false;
    } else if (ev->type == PGO_TRUNCATE) {
        for (uint32_t i = 0; i < ev->u.truncate.nrels; i++)
            if (!stage_relation(a, pgo_truncate_oid(ev, i), err))
                return false;
    }
    return spool_event(a, a->prepare_w, ev, lsn, msg, len, err);
}

/* Resolve the relation(s) of a data event into a Change. */
static bool build_change(Assembler *a, const PgoEvent *ev, Change *c, Err *err)
{
    memset(c, 0, sizeof *c);
    switch (ev->type) {
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE: {
        const Rel *rel = relcache_get(a->rc, ev->u.change.rel_oid);
        if (!rel)
            return err_set(err, ERR_PROTOCOL,
                           "pgoutput %s for relation oid %u that no Relation message described",
                           pgo_type_name(ev->type), ev->u.change.rel_oid);
        const PgoTuple *tuples[2] = {ev->u.change.has_new ? &ev->u.change.new_tup : NULL,
                                     ev->u.change.old_kind ? &ev->u.change.old_tup : NULL};
        for (int i = 0; i < 2; i++)
            if (tuples[i] && tuples[i]->ncols != rel->ncols)
                return err_set(err, ERR_PROTOCOL,
                               "pgoutput %s for \"%s\" has %u columns, its Relation message has %u",
                               pgo_type_name(ev->type), rel->qualname, tuples[i]->ncols, rel->ncols);
        c->op = ev->type == PGO_INSERT ? CHANGE_INSERT : ev->type == PGO_UPDATE ? CHANGE_UPDATE
                                                                                : CHANGE_DELETE;
        c->rel = rel;
        c->new_tuple = tuples[0];
        c->old_tuple = tuples[1];
        c->old_kind = ev->u.change.old_kind;
        return true;
    }
    case PGO_TRUNCATE: {
        uint32_t n = ev->u.truncate.nrels;
        if (n > a->truncate_cap) {
            a->truncate_rels = xrealloc(a->truncate_rels, n * sizeof *a->truncate_rels);
            a->truncate_cap = n;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t oid = pgo_truncate_oid(ev, i);
            a->truncate_rels[i] = relcache_get(a->rc, oid);
            if (!a->truncate_rels[i])
                return err_set(err, ERR_PROTOCOL,
                               "pgoutput truncate of relation oid %u that no Relation message described",
                               oid);
        }
        c->op = CHANGE_TRUNCATE;
        c->truncate_count = n;
        c->truncate_rels = a->truncate_rels;
        c->truncate_cascade = ev->u.truncate.options & PGO_TRUNCATE_CASCADE;
        c->truncate_restart_identity = ev->u.truncate.options & PGO_TRUNCATE_RESTART_IDENTITY;
        return true;
    }
    case PGO_MESSAGE:
        c->op = CHANGE_MESSAGE;
        c->message_transactional = ev->u.message.flags & PGO_MESSAGE_TRANSACTIONAL;
        c->message_lsn = ev->u.message.lsn;
        c->message_prefix = ev->u.message.prefix;
        c->message_content = ev->u.message.content;
        c->message_len = ev->u.message.len;
        return true;
    default:
        return err_set(err, ERR_INTERNAL, "not a data message: %s", pgo_type_name(ev->type));
    }
}

static bool deliver_change(Assembler *a, const TxnInfo *txn, const PgoEvent *ev, Err *err)
{
    Change c;
    if (!build_change(a, ev, &c, err))
        return false;
    c.index = a->change_index++;
    a->stats.changes++;
    return a->sink.change(a->sink.ctx, txn, &c, err);
}

static bool is_data(uint8_t type)
{
    return type == PGO_INSERT || type == PGO_UPDATE || type == PGO_DELETE || type == PGO_TRUNCATE ||
           type == PGO_MESSAGE;
}

/*
 * Deliver a staged transaction from its spool file: a first pass collects the
 * subtransactions marked aborted, the second delivers everything else.
 */
static bool replay_file(Assembler *a, const char *path, const TxnInfo *txn, const OpenStream *open, Err *err);

static bool replay(Assembler *a, const char *path, const TxnInfo *txn, const OpenStream *open, Err *err)
{
    int64_t start = clock_mono_us();
    TxnInfo staged = *txn;
    staged.staged = true;
    bool ok = replay_file(a, path, &staged, open, err);
    a->stats.replay_us += (uint64_t)(clock_mono_us() - start);
    return ok;
}

/* Checked every 256 records (a few ms of replay at most), so a stop is answered promptly. */
static bool replay_interrupted(const Assembler *a, uint64_t records, const TxnInfo *txn, Err *err)
{
    if (records % 256 != 0 || !a->sink.stop || !a->sink.stop(a->sink.ctx))
        return false;
    return !err_set(err, ERR_INTERRUPTED, "replay of staged transaction %u interrupted after %llu records",
                    txn->xid, (unsigned long long)records);
}

static bool replay_file(Assembler *a, const char *path, const TxnInfo *txn, const OpenStream *open,
                        Err *err)
{
    SpoolReader *r = spool_reader_open(path, err);
    if (!r)
        return false;
    SpoolRecord rec;
    int rc;
    uint32_t *aborted = NULL;
    size_t aborted_count = 0;
    /* data records per (sub)transaction, to tell whether anything survives the aborts */
    typedef struct { uint32_t xid; uint64_t n; } XidCount;
    XidCount *counts = NULL;
    size_t count_len = 0;
    uint64_t scanned = 0;
    while ((rc = spool_read(r, &rec, err)) == 1) {
        if (replay_interrupted(a, ++scanned, txn, err)) {
            rc = -1;
            break;
        }
        if (rec.kind == SPOOL_KIND_SUBABORT) {
            aborted = xrealloc(aborted, (aborted_count + 1) * sizeof *aborted);
            aborted[aborted_count++] = rec.xid;
        } else if (rec.len > 0 && is_data(rec.payload[0])) {
            size_t k = 0;
            while (k < count_len && counts[k].xid != rec.xid)
                k++;
            if (k == count_len) {
                counts = xrealloc(counts, (count_len + 1) * sizeof *counts);
                counts[count_len++] = (XidCount){rec.xid, 0};
            }
            counts[k].n++;
        }
    }
    uint64_t surviving = 0;
    for (size_t k = 0; k < count_len; k++) {
        bool dropped = open && is_aborted(open, counts[k].xid);
        for (size_t i = 0; i < aborted_count && !dropped; i++)
            dropped = aborted[i] == counts[k].xid;
        if (!dropped)
            surviving += counts[k].n;
    }
    free(counts);
    bool ok = rc == 0 && spool_rewind(r, err);
    if (ok && surviving == 0) {
        /* nothing left to deliver (empty, or every change rolled back to a savepoint) */
        free(aborted);
        spool_reader_close(r);
        return true;
    }
    bool begun = false;
    if (ok) {
        a->change_index = 0;
        ok = a->sink.begin(a->sink.ctx, txn, err);
        begun = ok;
    }
    uint64_t replayed = 0;
    while (ok && (rc = spool_read(r, &rec, err)) == 1) {
        if (replay_interrupted(a, ++replayed, txn, err)) {
            ok = false;
            break;
        }
        if (rec.kind != SPOOL_KIND_DATA)
            continue;
        bool skip = false;
        for (size_t i = 0; i < aborted_count && !skip; i++)
            skip = aborted[i] == rec.xid;
        if (open && is_aborted(open, rec.xid))
            skip = true;
        if (skip)
            continue;
        a->replay.in_stream = rec.flags & SPOOL_FLAG_STREAM_PREFIX;
        a->replay.stream_xid = txn->xid;
        PgoEvent ev;
        if (!pgo_decode_exact(&a->replay, rec.payload, rec.len, &ev, err)) {
            err_prefix(err, "replaying staged transaction %u", txn->xid);
            ok = false;
            break;
        }
        if (ev.type == PGO_RELATION) {
            /* pgoutput counts a committed stream's schema as sent for later transactions */
            relcache_put(a->rc, &ev);
            remember_raw_relation(a, ev.u.relation.oid, rec.flags, rec.payload, rec.len);
        } else if (ev.type == PGO_TYPE)
            relcache_put_type(a->rc, &ev);
        else if (is_data(ev.type))
            ok = deliver_change(a, txn, &ev, err);
    }
    if (ok && rc < 0)
        ok = false;
    if (ok) {
        a->stats.transactions++;
        ok = a->sink.commit(a->sink.ctx, txn, err);
    } else if (begun) {
        a->sink.rollback(a->sink.ctx);
    }
    a->replay.in_stream = false;
    free(aborted);
    spool_reader_close(r);
    return ok;
}

static void txn_from_commit(TxnInfo *txn, uint32_t xid, Lsn commit_lsn, Lsn end_lsn, int64_t ts)
{
    memset(txn, 0, sizeof *txn);
    txn->xid = xid;
    txn->commit_lsn = commit_lsn;
    txn->end_lsn = end_lsn;
    txn->commit_time_us = walproto_pg_to_unix_us(ts);
}

static bool on_stream_commit(Assembler *a, const PgoEvent *ev, Err *err)
{
    TxnInfo txn;
    txn_from_commit(&txn, ev->xid, ev->u.commit.commit_lsn, ev->u.commit.end_lsn,
                    ev->u.commit.commit_ts);
    /* nothing streamed for it in this session means it was empty: an empty spool */
    OpenStream *s = open_stream(a, ev->xid, false, err);
    if (!s)
        return false;
    bool ok = spool_writer_close(s->w, err);
    s->w = NULL;
    if (ok && a->sink.wants(a->sink.ctx, txn.commit_lsn)) {
        ok = replay(a, s->path, &txn, s, err);
        a->stats.streamed += ok;
    }
    drop_stream_at(a, stream_index(a, s), true);
    return ok;
}

static bool on_stream_abort(Assembler *a, const PgoEvent *ev, Err *err)
{
    OpenStream *s = find_stream(a, ev->xid);
    if (!s)
        return true; /* aborted before anything of it was streamed to us */
    uint32_t subxid = ev->u.stream_abort.subxid;
    if (subxid == ev->xid) {
        a->stats.stream_aborts++;
        drop_stream_at(a, stream_index(a, s), true);
        return true;
    }
    a->stats.subxact_aborts++;
    s->aborted = xrealloc(s->aborted, (s->aborted_count + 1) * sizeof *s->aborted);
    s->aborted[s->aborted_count++] = subxid;
    /* also on disk, for a Stream Prepare that turns this spool into a staged one */
    return spool_append(s->w, SPOOL_KIND_SUBABORT, 0, subxid, 0, NULL, 0, err);
}

static bool on_begin_prepare(Assembler *a, const PgoEvent *ev, Err *err)
{
    if (a->in_txn || a->in_prepare)
        return err_set(err, ERR_PROTOCOL, "pgoutput begin_prepare inside another transaction");
    a->prepare_path = prepared_path(a, &ev->u.prepare.gid);
    a->prepare_w = spool_writer_open(a->prepare_path, false, err);
    if (!a->prepare_w) {
        free(a->prepare_path);
        a->prepare_path = NULL;
        return false;
    }
    a->in_prepare = true;
    a->prepare_rel_count = 0;
    return true;
}

static bool on_prepare(Assembler *a, Err *err)
{
    if (!a->in_prepare)
        return err_set(err, ERR_PROTOCOL, "pgoutput prepare without begin_prepare");
    /* durable before the slot can be confirmed past the PREPARE: the server will not resend it */
    bool ok = spool_sync(a->prepare_w, err);
    ok = spool_writer_close(a->prepare_w, ok ? err : &(Err){0}) && ok;
    a->prepare_w = NULL;
    free(a->prepare_path);
    a->prepare_path = NULL;
    a->in_prepare = false;
    a->stats.prepared++;
    return ok;
}

static bool on_stream_prepare(Assembler *a, const PgoEvent *ev, Err *err)
{
    OpenStream *s = open_stream(a, ev->xid, false, err);
    if (!s)
        return false;
    bool ok = spool_sync(s->w, err) && spool_writer_close(s->w, err);
    s->w = NULL;
    char *target = prepared_path(a, &ev->u.prepare.gid);
    if (ok && rename(s->path, target) != 0)
        ok = err_sys(err, ERR_IO, "cannot stage prepared transaction \"%s\"", target);
    if (ok)
        ok = fs_sync_parent_dir(target, err);
    free(target);
    drop_stream_at(a, stream_index(a, s), !ok);
    a->stats.prepared++;
    return ok;
}

static bool on_commit_prepared(Assembler *a, const PgoEvent *ev, Err *err)
{
    TxnInfo txn;
    txn_from_commit(&txn, ev->xid, ev->u.prepare.lsn, ev->u.prepare.end_lsn, ev->u.prepare.ts);
    char *gid = xstrndup(ev->u.prepare.gid.p, ev->u.prepare.gid.len);
    txn.gid = gid;
    char *path = prepared_path(a, &ev->u.prepare.gid);
    bool ok = true;
    if (access(path, F_OK) != 0) {
        if (a->sink.wants(a->sink.ctx, txn.commit_lsn))
            ok = err_set(err, ERR_STORE,
                         "commit prepared \"%s\": the prepared transaction was never staged here "
                         "(state directory replaced?)",
                         gid);
    } else {
        if (a->sink.wants(a->sink.ctx, txn.commit_lsn))
            ok = replay(a, path, &txn, NULL, err);
        if (ok)
            unlink(path);
    }
    free(path);
    free(gid);
    return ok;
}

static bool on_rollback_prepared(Assembler *a, const PgoEvent *ev)
{
    char *path = prepared_path(a, &ev->u.rollback_prepared.gid);
    unlink(path);
    free(path);
    a->stats.rolled_back_prepared++;
    return true;
}

bool assembler_feed(Assembler *a, Lsn wal_start, const uint8_t *msg, size_t len, Err *err)
{
    PgoEvent ev;
    if (!pgo_decode_exact(&a->live, msg, len, &ev, err))
        return false;
    switch (ev.type) {
    case PGO_RELATION:
    case PGO_TYPE:
        /* Inside a stream block the schema belongs to that transaction alone (pgoutput
         * tracks it per streamed xid): it is only spooled, and applied at replay. */
        if (ev.in_stream) {
            OpenStream *s = open_stream(a, ev.stream_xid, false, err);
            return s && spool_event(a, s->w, &ev, wal_start, msg, len, err);
        }
        if (ev.type == PGO_RELATION) {
            relcache_put(a->rc, &ev);
            remember_raw_relation(a, ev.u.relation.oid, 0, msg, len);
        } else {
            relcache_put_type(a->rc, &ev);
        }
        /* staged prepared transactions replay their own schema messages */
        if (a->in_prepare) {
            if (ev.type == PGO_RELATION) {
                a->prepare_rels = xrealloc(a->prepare_rels, (a->prepare_rel_count + 1) * sizeof *a->prepare_rels);
                a->prepare_rels[a->prepare_rel_count++] = ev.u.relation.oid;
            }
            return spool_event(a, a->prepare_w, &ev, wal_start, msg, len, err);
        }
        return true;
    case PGO_ORIGIN:
        return true;
    case PGO_BEGIN:
        if (a->in_txn || a->in_prepare)
            return err_set(err, ERR_PROTOCOL, "pgoutput begin inside another transaction");
        a->in_txn = true;
        a->change_index = 0;
        memset(&a->txn, 0, sizeof a->txn);
        a->txn.xid = ev.xid;
        a->txn.commit_lsn = ev.u.begin.final_lsn;
        a->txn.commit_time_us = walproto_pg_to_unix_us(ev.u.begin.commit_ts);
        a->txn_wanted = a->sink.wants(a->sink.ctx, a->txn.commit_lsn);
        return !a->txn_wanted || a->sink.begin(a->sink.ctx, &a->txn, err);
    case PGO_COMMIT:
        if (!a->in_txn)
            return err_set(err, ERR_PROTOCOL, "pgoutput commit without begin");
        a->in_txn = false;
        a->txn.commit_lsn = ev.u.commit.commit_lsn;
        a->txn.end_lsn = ev.u.commit.end_lsn;
        if (!a->txn_wanted)
            return true;
        a->stats.transactions++;
        return a->sink.commit(a->sink.ctx, &a->txn, err);
    case PGO_MESSAGE:
        if (!(ev.u.message.flags & PGO_MESSAGE_TRANSACTIONAL)) {
            Change c;
            return build_change(a, &ev, &c, err) && a->sink.message(a->sink.ctx, &c, err);
        }
        /* a transactional message is data */
        __attribute__((fallthrough));
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
    case PGO_TRUNCATE:
        if (ev.in_stream) {
            OpenStream *s = open_stream(a, ev.stream_xid, false, err);
            return s && spool_event(a, s->w, &ev, wal_start, msg, len, err);
        }
        if (a->in_prepare)
            return stage_prepared_event(a, &ev, wal_start, msg, len, err);
        if (!a->in_txn)
            return err_set(err, ERR_PROTOCOL, "pgoutput %s outside a transaction",
                           pgo_type_name(ev.type));
        return !a->txn_wanted || deliver_change(a, &a->txn, &ev, err);
    case PGO_STREAM_START:
        return open_stream(a, ev.xid, ev.u.stream_start.first_segment, err) != NULL;
    case PGO_STREAM_STOP:
        return true;
    case PGO_STREAM_COMMIT:
        return on_stream_commit(a, &ev, err);
    case PGO_STREAM_ABORT:
        return on_stream_abort(a, &ev, err);
    case PGO_BEGIN_PREPARE:
        return on_begin_prepare(a, &ev, err);
    case PGO_PREPARE:
        return on_prepare(a, err);
    case PGO_STREAM_PREPARE:
        return on_stream_prepare(a, &ev, err);
    case PGO_COMMIT_PREPARED:
        return on_commit_prepared(a, &ev, err);
    case PGO_ROLLBACK_PREPARED:
        return on_rollback_prepared(a, &ev);
    default:
        return err_set(err, ERR_PROTOCOL, "pgoutput message type 0x%02x not handled", ev.type);
    }
}
