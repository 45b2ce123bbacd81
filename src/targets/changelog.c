/*
 * targets/changelog.c - see changelog.h. Lines are appended through a large
 * stdio buffer; flush is fflush + fdatasync. The checkpoint is the last commit
 * line, found by scanning back from the end on open - or, after a fence (an idle
 * stream moving the checkpoint with no transaction), PATH.ckpt, which names the
 * file length it was written at and counts only while the file still ends there.
 */
#include "targets/changelog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/json_text.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "pg/ddlmsg.h"
#include "targets/checkpoint.h"
#include "targets/core.h"

#define CHANGELOG_IO_BUFFER (1 << 20)
#define CHANGELOG_WRITEBACK_STEP (8 << 20)
/* A single rendered change may be as large as the row (1 GB fields): cap the line. */
#define CHANGELOG_LINE_MAX ((size_t)4 << 30)

typedef struct Changelog {
    Target base;
    char *path;
    FILE *f;
    char *iobuf;
    Buf line;
    bool pending;              /* written but not yet fsynced */
    TxnCore core;              /* skip / apply / broken; pending: the last commit written (durable after flush) */
    uint64_t changes;          /* in the current transaction */
    off_t offset;              /* bytes written so far (buffered included) */
    off_t unit_end;            /* offset just after the last commit or standalone message */
    off_t writeback_from;      /* bytes before this offset are already being written back */
    char *ckpt_path;           /* PATH.ckpt: the checkpoint of a fence */
    bool fenced;               /* a fence waits for the next flush to write ckpt_path */
} Changelog;

/* Decimal digits of v, without snprintf: this runs for every line. */
static bool append_lsn(Buf *b, const char *key, Lsn lsn, Err *err)
{
    char text[LSN_STR_MAX];
    lsn_format(lsn, text);
    return buf_append_str(b, ",\"", err) && buf_append_str(b, key, err) && buf_append_str(b, "\":\"", err) &&
           buf_append_str(b, text, err) && buf_append(b, "\"", 1, err);
}

static bool append_time(Buf *b, int64_t unix_us, Err *err)
{
    char text[TIMEFMT_ISO_MAX];
    return buf_append_str(b, ",\"commit_time\":\"", err) && buf_append_str(b, timefmt_iso(unix_us, 6, text), err) &&
           buf_append(b, "\"", 1, err);
}

static bool append_txn_head(Buf *b, const char *type, const TxnInfo *txn, Err *err)
{
    if (!buf_append_str(b, "{\"type\":\"", err) || !buf_append_str(b, type, err) ||
        !buf_append_str(b, "\",\"xid\":", err) || !buf_append_u64(b, txn->xid, err) ||
        !append_lsn(b, "commit_lsn", txn->commit_lsn, err))
        return false;
    if (txn->gid) {
        if (!buf_append_str(b, ",\"gid\":", err) ||
            !json_text_append_str(b, txn->gid, strlen(txn->gid), err))
            return false;
    }
    return true;
}

static bool append_value(Buf *b, const PgoCol *col, Err *err)
{
    switch (col->kind) {
    case PGO_COL_NULL:
        return buf_append_str(b, "null", err);
    case PGO_COL_UNCHANGED:
        return buf_append_str(b, "{\"unchanged_toast\":true}", err);
    case PGO_COL_TEXT:
        return json_text_append_str(b, (const char *)col->data, col->len, err);
    default: {
        /* binary (send-function) bytes, shown as bytea hex text */
        return buf_append_str(b, "\"\\\\x", err) && hex_append(b, col->data, col->len, err) &&
               buf_append_str(b, "\"", err);
    }
    }
}

static bool append_tuple(Buf *b, const char *key, const Rel *rel, const PgoTuple *tup, Err *err)
{
    if (!buf_append_str(b, ",\"", err) || !buf_append_str(b, key, err) || !buf_append_str(b, "\":{", err))
        return false;
    for (uint16_t i = 0; i < tup->ncols; i++) {
        if ((i && !buf_append_str(b, ",", err)) ||
            !json_text_append_str(b, rel->cols[i].name, strlen(rel->cols[i].name), err) ||
            !buf_append_str(b, ":", err) || !append_value(b, &tup->cols[i], err))
            return false;
    }
    return buf_append_str(b, "}", err);
}

static bool append_change_body(Buf *b, const Change *c, Err *err)
{
    switch (c->op) {
    case CHANGE_INSERT:
    case CHANGE_UPDATE:
    case CHANGE_DELETE:
        if (!buf_append_str(b, ",\"table\":", err) ||
            !json_text_append_str(b, c->rel->qualname, strlen(c->rel->qualname), err))
            return false;
        if (c->new_tuple && !append_tuple(b, "new", c->rel, c->new_tuple, err))
            return false;
        if (c->old_tuple && !append_tuple(b, "old", c->rel, c->old_tuple, err))
            return false;
        if (c->old_tuple && !buf_printf(b, err, ",\"old_kind\":\"%s\"", c->old_kind == 'K' ? "key" : "row"))
            return false;
        return true;
    case CHANGE_TRUNCATE:
        if (!buf_append_str(b, ",\"tables\":[", err))
            return false;
        for (uint32_t i = 0; i < c->truncate_count; i++) {
            const char *name = c->truncate_rels[i]->qualname;
            if ((i && !buf_append_str(b, ",", err)) || !json_text_append_str(b, name, strlen(name), err))
                return false;
        }
        return buf_printf(b, err, "],\"cascade\":%s,\"restart_identity\":%s",
                          c->truncate_cascade ? "true" : "false",
                          c->truncate_restart_identity ? "true" : "false");
    case CHANGE_MESSAGE: {
        if (!buf_printf(b, err, ",\"transactional\":%s", c->message_transactional ? "true" : "false") ||
            !append_lsn(b, "lsn", c->message_lsn, err) || !buf_append_str(b, ",\"prefix\":", err) ||
            !json_text_append_str(b, c->message_prefix.p, c->message_prefix.len, err))
            return false;
        /* a schema change is a "ddl" record: its message, as JSON (docs/schema-changes.md) */
        char *ddl = c->message_transactional ? ddlmsg_record_json(c->message_prefix.p, c->message_prefix.len,
                                                                   c->message_content, c->message_len)
                                             : NULL;
        bool ok = ddl ? buf_append_str(b, ",\"ddl\":", err) && buf_append_str(b, ddl, err)
                      : buf_append_str(b, ",\"content\":", err) &&
                            json_text_append_str(b, (const char *)c->message_content, c->message_len, err);
        free(ddl);
        return ok;
    }
    }
    return err_set(err, ERR_INTERNAL, "unknown change op %d", (int)c->op);
}

static const char *op_name(const Change *c)
{
    static const char *const names[] = {"insert", "update", "delete", "truncate", "message"};
    if (c->op == CHANGE_MESSAGE && c->message_transactional &&
        ddlmsg_prefix_is(c->message_prefix.p, c->message_prefix.len)) {
        char *ddl = ddlmsg_record_json(c->message_prefix.p, c->message_prefix.len, c->message_content,
                                       c->message_len);
        free(ddl);
        if (ddl)
            return "ddl";
    }
    return names[c->op];
}

static bool write_line(Changelog *cl, Err *err)
{
    if (!buf_append(&cl->line, "\n", 1, err))
        return false;
    if (!txn_core_ok(&cl->core, err))
        return false;
    if (fwrite(cl->line.data, 1, cl->line.len, cl->f) != cl->line.len)
        return err_sys(err, ERR_IO, "writing change log \"%s\"", cl->path);
    cl->offset += (off_t)cl->line.len;
    buf_reset(&cl->line);
    /* Under a steady stream, start the writeback every few MB so that flush's
     * fdatasync (which stops reading from the server) finds little to do. */
    if (cl->offset - cl->writeback_from >= CHANGELOG_WRITEBACK_STEP && fflush(cl->f) == 0) {
        fs_start_writeback(fileno(cl->f), cl->writeback_from, cl->offset - cl->writeback_from);
        cl->writeback_from = cl->offset;
    }
    cl->pending = true;
    return true;
}

static bool cl_begin(Target *t, const TxnInfo *txn, Err *err)
{
    Changelog *cl = (Changelog *)t;
    TxnStep step = txn_core_begin(&cl->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    cl->changes = 0;
    buf_reset(&cl->line);
    return append_txn_head(&cl->line, "begin", txn, err) && append_time(&cl->line, txn->commit_time_us, err) &&
           buf_append_str(&cl->line, "}", err) && write_line(cl, err);
}

static bool cl_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    Changelog *cl = (Changelog *)t;
    TxnStep step = txn_core_change(&cl->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    buf_reset(&cl->line);
    cl->changes++;
    return append_txn_head(&cl->line, op_name(c), txn, err) &&
           buf_append_str(&cl->line, ",\"index\":", err) && buf_append_u64(&cl->line, c->index, err) &&
           append_change_body(&cl->line, c, err) && buf_append_str(&cl->line, "}", err) &&
           write_line(cl, err);
}

static bool cl_commit(Target *t, const TxnInfo *txn, Err *err)
{
    Changelog *cl = (Changelog *)t;
    TxnStep step = txn_core_commit(&cl->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    buf_reset(&cl->line);
    if (!append_txn_head(&cl->line, "commit", txn, err) || !append_lsn(&cl->line, "end_lsn", txn->end_lsn, err) ||
        !append_time(&cl->line, txn->commit_time_us, err) ||
        !buf_printf(&cl->line, err, ",\"changes\":%" PRIu64 "}", cl->changes) || !write_line(cl, err))
        return false;
    txn_core_committed(&cl->core, txn);
    cl->unit_end = cl->offset;
    return true;
}

static bool cl_message(Target *t, const Change *c, Err *err)
{
    Changelog *cl = (Changelog *)t;
    buf_reset(&cl->line);
    if (!buf_printf(&cl->line, err, "{\"type\":\"%s\"", op_name(c)) || !append_change_body(&cl->line, c, err) ||
        !buf_append_str(&cl->line, "}", err) || !write_line(cl, err))
        return false;
    cl->unit_end = cl->offset;
    return true;
}

/* Cut the file back to the end of the last complete unit; used on open and rollback. */
static bool truncate_to(Changelog *cl, off_t size, Err *err)
{
    if (fflush(cl->f) != 0 || ftruncate(fileno(cl->f), size) != 0 || fseeko(cl->f, size, SEEK_SET) != 0)
        return err_sys(err, ERR_IO, "truncating change log \"%s\"", cl->path);
    return true;
}

static void cl_rollback(Target *t)
{
    Changelog *cl = (Changelog *)t;
    /* The server sends the interrupted transaction again in full: cut its lines. */
    txn_core_rollback(&cl->core);
    Err err;
    if (!truncate_to(cl, cl->unit_end, &err))
        txn_core_break(&cl->core); /* reported by the next write or flush */
    cl->offset = cl->unit_end;
    if (cl->writeback_from > cl->offset)
        cl->writeback_from = cl->offset;
}

static bool write_fence(Changelog *cl, Err *err)
{
    return checkpoint_file_write(cl->ckpt_path, &cl->core.pending, cl->unit_end, err);
}

static bool cl_flush(Target *t, Err *err)
{
    Changelog *cl = (Changelog *)t;
    if (!cl->pending)
        return true;
    if (!txn_core_ok(&cl->core, err))
        return false;
    if (fflush(cl->f) != 0 || fdatasync(fileno(cl->f)) != 0)
        return err_sys(err, ERR_IO, "syncing change log \"%s\"", cl->path);
    if (cl->fenced && !write_fence(cl, err))
        return false;
    cl->pending = false;
    cl->fenced = false;
    t->durable = cl->core.pending;
    return true;
}

/* The checkpoint moves to `at` with no line written (the format has none for it): PATH.ckpt
 * records it, with the file length it stands for, at the next flush. */
static bool cl_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    (void)at_us;
    Changelog *cl = (Changelog *)t;
    TxnStep step = txn_core_fence(&cl->core, at, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    txn_core_fenced(&cl->core, at);
    cl->fenced = cl->pending = true;
    return true;
}

static bool cl_has_pending(const Target *t) { return ((const Changelog *)t)->pending; }

static void cl_free(Target *t)
{
    Changelog *cl = (Changelog *)t;
    if (cl->f)
        fclose(cl->f);
    free(cl->iobuf);
    buf_free(&cl->line);
    free(cl->path);
    free(cl->ckpt_path);
    txn_core_free(&cl->core);
    free(t->name);
    free(cl);
}

#define COMMIT_PREFIX "{\"type\":\"commit\""
#define STANDALONE_PREFIX "{\"type\":\"message\",\"transactional\":false"
#define SCAN_BLOCK 65536

/* Read up to n bytes at off into buf; returns bytes read. */
static size_t read_at(int fd, off_t off, char *buf, size_t n)
{
    ssize_t got = pread(fd, buf, n, off);
    return got > 0 ? (size_t)got : 0;
}

static bool line_has_prefix(int fd, off_t start, const char *prefix)
{
    char head[64];
    size_t n = strlen(prefix);
    return read_at(fd, start, head, n) == n && memcmp(head, prefix, n) == 0;
}

static bool parse_commit_line(int fd, off_t start, off_t end, TargetCheckpoint *out)
{
    if (end - start > 4096)
        return false;
    char text[4097];
    size_t n = read_at(fd, start, text, (size_t)(end - start));
    text[n] = '\0';
    json_t *doc = json_loads(text, 0, NULL);
    const char *commit = json_string_value(json_object_get(doc, "commit_lsn"));
    const char *end_lsn = json_string_value(json_object_get(doc, "end_lsn"));
    bool ok = checkpoint_parse(commit, end_lsn, out);
    json_decref(doc);
    return ok;
}

/*
 * Find, scanning backwards from the end, the end of the last complete unit
 * (*unit_end) and the last commit line's checkpoint. Lines are only complete
 * when they end with '\n'.
 */
static bool recover(int fd, off_t size, off_t *unit_end, TargetCheckpoint *checkpoint, const char *path,
                    Err *err)
{
    *unit_end = 0;
    memset(checkpoint, 0, sizeof *checkpoint);
    bool have_unit = false;
    off_t line_end = -1; /* offset of the '\n' ending the line being examined */
    char *block = xmalloc(SCAN_BLOCK);
    off_t pos = size;
    while (pos > 0) {
        size_t n = pos >= SCAN_BLOCK ? SCAN_BLOCK : (size_t)pos;
        pos -= (off_t)n;
        if (read_at(fd, pos, block, n) != n) {
            free(block);
            return err_sys(err, ERR_IO, "reading change log \"%s\"", path);
        }
        for (size_t i = n; i-- > 0;) {
            if (block[i] != '\n')
                continue;
            off_t nl = pos + (off_t)i;
            if (line_end >= 0) {
                off_t start = nl + 1;
                if (!have_unit && (line_has_prefix(fd, start, COMMIT_PREFIX) ||
                                   line_has_prefix(fd, start, STANDALONE_PREFIX))) {
                    have_unit = true;
                    *unit_end = line_end + 1;
                }
                if (have_unit && line_has_prefix(fd, start, COMMIT_PREFIX)) {
                    bool ok = parse_commit_line(fd, start, line_end, checkpoint);
                    free(block);
                    return ok || err_set(err, ERR_IO, "change log \"%s\": malformed commit line at byte %lld",
                                         path, (long long)start);
                }
            }
            line_end = nl;
        }
    }
    /* the first line of the file */
    if (line_end >= 0) {
        if (!have_unit && (line_has_prefix(fd, 0, COMMIT_PREFIX) || line_has_prefix(fd, 0, STANDALONE_PREFIX))) {
            have_unit = true;
            *unit_end = line_end + 1;
        }
        if (have_unit && line_has_prefix(fd, 0, COMMIT_PREFIX) && !parse_commit_line(fd, 0, line_end, checkpoint)) {
            free(block);
            return err_set(err, ERR_IO, "change log \"%s\": malformed commit line at byte 0", path);
        }
    }
    free(block);
    return true;
}

static const TargetOps changelog_ops = {
    .kind = "changelog",
    .begin = cl_begin,
    .change = cl_change,
    .commit = cl_commit,
    .rollback = cl_rollback,
    .message = cl_message,
    .flush = cl_flush,
    .fence = cl_fence,
    .has_pending = cl_has_pending,
    .free = cl_free,
};

/*
 * A fence's checkpoint (PATH.ckpt) replaces the last commit line's when the file still ends
 * where it was written (nothing came after the fence) and it is further on; otherwise the file
 * speaks for itself. A malformed one is an error: it was written atomically.
 */
static bool read_fence(const char *ckpt_path, off_t unit_end, TargetCheckpoint *checkpoint, Err *err)
{
    TargetCheckpoint fence;
    int64_t offset;
    bool found;
    if (!checkpoint_file_read(ckpt_path, "change log checkpoint", &fence, &offset, &found, err))
        return false;
    if (found && offset == (int64_t)unit_end && fence.end_lsn > checkpoint->end_lsn)
        *checkpoint = fence;
    return true;
}

Target *changelog_target_new(const char *path, Err *err)
{
    if (!fs_mkdir_parents(path, err))
        return NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open change log \"%s\"", path), NULL;
    struct stat st;
    off_t unit_end;
    TargetCheckpoint checkpoint;
    if (fstat(fd, &st) != 0) {
        err_sys(err, ERR_IO, "cannot stat change log \"%s\"", path);
        close(fd);
        return NULL;
    }
    if (!recover(fd, st.st_size, &unit_end, &checkpoint, path, err)) {
        close(fd);
        return NULL;
    }
    if (unit_end != st.st_size && (ftruncate(fd, unit_end) != 0 || fsync(fd) != 0)) {
        err_sys(err, ERR_IO, "cannot cut the torn tail of change log \"%s\"", path);
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r+");
    if (!f) {
        err_sys(err, ERR_IO, "cannot open change log \"%s\"", path);
        close(fd);
        return NULL;
    }
    char *iobuf = xmalloc(CHANGELOG_IO_BUFFER);
    setvbuf(f, iobuf, _IOFBF, CHANGELOG_IO_BUFFER); /* before any other use of the stream */
    char *ckpt_path = xasprintf("%s.ckpt", path);
    bool ok = fseeko(f, unit_end, SEEK_SET) == 0 || err_sys(err, ERR_IO, "cannot open change log \"%s\"", path);
    if (!ok || !read_fence(ckpt_path, unit_end, &checkpoint, err)) {
        fclose(f);
        free(iobuf);
        free(ckpt_path);
        return NULL;
    }
    Changelog *cl = xcalloc(1, sizeof *cl);
    cl->base.ops = &changelog_ops;
    cl->base.name = xstrdup("changelog");
    cl->base.threadable = true; /* its own file (pipeline/target.h) */
    cl->base.durable = checkpoint;
    cl->path = xstrdup(path);
    cl->ckpt_path = ckpt_path;
    txn_core_init(&cl->core, &cl->base, ERR_IO, xasprintf("change log \"%s\" could not be rolled back", path));
    cl->core.messages = true;
    cl->f = f;
    cl->iobuf = iobuf;
    buf_init(&cl->line, CHANGELOG_LINE_MAX);
    cl->offset = unit_end;
    cl->unit_end = unit_end;
    cl->writeback_from = unit_end;
    return &cl->base;
}
