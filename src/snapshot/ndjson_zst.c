/*
 * snapshot/ndjson_zst.c - see ndjson_zst.h.
 *
 * Writing: rows are gathered with their newline in a 256 KiB buffer and handed to
 * a zstd stream (level 1..max, frame checksum on) when it fills; each compressed
 * block is written to the part file and fed to SHA-256 as it goes, so closing
 * (end the frame, fsync) yields the part's rows, sizes and hash without rereading
 * it. Reading is the reverse, push style: the caller feeds compressed bytes, rows
 * come out one at a time, pointing into zstd's output block when a row lies
 * within one and copied to a bounded line buffer only when it spans two. finish
 * refuses an empty part, a truncated frame and a last row without its newline.
 */
#include "snapshot/ndjson_zst.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/mem.h"

#define PARTW_IN_BYTES (256u * 1024u)

struct PartWriter {
    ZSTD_CCtx *cctx;
    int level;
    int fd;
    char *path;
    char *in;                  /* rows not yet handed to zstd */
    size_t in_len;
    char *out;                 /* compressed bytes not yet written */
    size_t out_cap;
    EVP_MD_CTX *md;
    uint64_t rows, raw_bytes, bytes;
};

PartWriter *partw_new(int level, Err *err)
{
    if (level == 0)
        level = 3;
    if (level < 1 || level > ZSTD_maxCLevel()) {
        err_set(err, ERR_USAGE, "zstd level %d is out of range (1..%d)", level, ZSTD_maxCLevel());
        return NULL;
    }
    PartWriter *w = xcalloc(1, sizeof *w);
    w->level = level;
    w->fd = -1;
    w->cctx = ZSTD_createCCtx();
    w->md = EVP_MD_CTX_new();
    w->in = xmalloc(PARTW_IN_BYTES);
    w->out_cap = ZSTD_CStreamOutSize();
    w->out = xmalloc(w->out_cap);
    if (!w->cctx || !w->md) {
        partw_free(w);
        err_set(err, ERR_INTERNAL, "cannot create a zstd or sha256 context");
        return NULL;
    }
    return w;
}

void partw_free(PartWriter *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    ZSTD_freeCCtx(w->cctx);
    EVP_MD_CTX_free(w->md);
    free(w->in);
    free(w->out);
    free(w->path);
    free(w);
}

bool partw_is_open(const PartWriter *w) { return w->fd >= 0; }
uint64_t partw_bytes(const PartWriter *w) { return w->bytes; }
uint64_t partw_rows(const PartWriter *w) { return w->rows; }

bool partw_open(PartWriter *w, const char *path, Err *err)
{
    if (w->fd >= 0)
        return err_set(err, ERR_INTERNAL, "part \"%s\" is still open", w->path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot create part file \"%s\"", path);
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_and_parameters);
    size_t rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->level);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(rc) || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        close(fd);
        return err_set(err, ERR_INTERNAL, "cannot set up zstd: %s", ZSTD_getErrorName(rc));
    }
    free(w->path);
    w->path = xstrdup(path);
    w->fd = fd;
    w->in_len = 0;
    w->rows = w->raw_bytes = w->bytes = 0;
    return true;
}

static bool write_out(PartWriter *w, size_t n, Err *err)
{
    if (!fs_write_all(w->fd, w->out, n))
        return err_sys(err, ERR_IO, "cannot write part file \"%s\"", w->path);
    EVP_DigestUpdate(w->md, w->out, n);
    w->bytes += n;
    return true;
}

/* Hand w->in to zstd; with end, finish the frame. */
static bool pump(PartWriter *w, ZSTD_EndDirective mode, Err *err)
{
    ZSTD_inBuffer in = {w->in, w->in_len, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return err_set(err, ERR_INTERNAL, "zstd: %s (part \"%s\")", ZSTD_getErrorName(left), w->path);
        if (out.pos && !write_out(w, out.pos, err))
            return false;
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
            break;
    }
    w->in_len = 0;
    return true;
}

bool partw_add_row(PartWriter *w, const char *json, size_t len, Err *err)
{
    if (w->fd < 0)
        return err_set(err, ERR_INTERNAL, "no part is open");
    while (len + 1 > PARTW_IN_BYTES - w->in_len) {
        /* a row longer than the buffer goes through in slices */
        size_t room = PARTW_IN_BYTES - w->in_len;
        if (room > len)
            room = len;
        memcpy(w->in + w->in_len, json, room);
        w->in_len += room;
        json += room;
        len -= room;
        w->raw_bytes += room;
        if (!pump(w, ZSTD_e_continue, err))
            return false;
    }
    memcpy(w->in + w->in_len, json, len);
    w->in[w->in_len + len] = '\n';
    w->in_len += len + 1;
    w->raw_bytes += len + 1;
    w->rows++;
    return true;
}

bool partw_close(PartWriter *w, PartInfo *out, Err *err)
{
    if (w->fd < 0)
        return err_set(err, ERR_INTERNAL, "no part is open");
    bool ok = pump(w, ZSTD_e_end, err);
    if (ok && fsync(w->fd) != 0)
        ok = err_sys(err, ERR_IO, "cannot fsync part file \"%s\"", w->path);
    if (close(w->fd) != 0 && ok)
        ok = err_sys(err, ERR_IO, "cannot close part file \"%s\"", w->path);
    w->fd = -1;
    if (!ok)
        return false;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(w->md, md, &mdlen);
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
    out->rows = w->rows;
    out->raw_bytes = w->raw_bytes;
    out->bytes = w->bytes;
    return true;
}

/* ---------------------------------------------------------------- reading */

struct PartReader {
    ZSTD_DCtx *dctx;
    EVP_MD_CTX *md;
    char *name;
    ZSTD_inBuffer in;          /* borrowed from the caller */
    char *out;                 /* decompressed bytes not yet cut into lines */
    size_t out_cap, out_len, out_pos;
    Buf line;                  /* a line that spans two output blocks */
    bool line_done;            /* line was handed out: reset it on the next call */
    size_t frame_left;         /* ZSTD_decompressStream's hint: 0 = a frame just ended */
    bool out_full;             /* the last call filled out: zstd may hold more */
    bool started;
    uint64_t rows, raw_bytes, bytes;
};

PartReader *partr_new(Err *err)
{
    PartReader *r = xcalloc(1, sizeof *r);
    r->dctx = ZSTD_createDCtx();
    r->md = EVP_MD_CTX_new();
    r->out_cap = ZSTD_DStreamOutSize();
    r->out = xmalloc(r->out_cap);
    buf_init(&r->line, PARTR_MAX_LINE);
    if (!r->dctx || !r->md) {
        partr_free(r);
        err_set(err, ERR_INTERNAL, "cannot create a zstd or sha256 context");
        return NULL;
    }
    return r;
}

void partr_free(PartReader *r)
{
    if (!r)
        return;
    ZSTD_freeDCtx(r->dctx);
    EVP_MD_CTX_free(r->md);
    free(r->out);
    free(r->name);
    buf_free(&r->line);
    free(r);
}

bool partr_reset(PartReader *r, const char *name, Err *err)
{
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    if (EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1)
        return err_set(err, ERR_INTERNAL, "cannot set up sha256");
    free(r->name);
    r->name = xstrdup(name);
    r->in = (ZSTD_inBuffer){NULL, 0, 0};
    r->out_len = r->out_pos = 0;
    buf_reset(&r->line);
    r->line_done = false;
    r->frame_left = 0;
    r->out_full = false;
    r->started = false;
    r->rows = r->raw_bytes = r->bytes = 0;
    return true;
}

void partr_input(PartReader *r, const void *data, size_t len)
{
    r->in = (ZSTD_inBuffer){data, len, 0};
    if (len) {
        EVP_DigestUpdate(r->md, data, len);
        r->bytes += len;
        r->started = true;
    }
}

int partr_next(PartReader *r, const char **line, size_t *len, Err *err)
{
    if (r->line_done) {
        buf_reset(&r->line);
        r->line_done = false;
    }
    for (;;) {
        if (r->out_pos < r->out_len) {
            const char *p = r->out + r->out_pos;
            size_t avail = r->out_len - r->out_pos;
            const char *nl = memchr(p, '\n', avail);
            size_t take = nl ? (size_t)(nl - p) : avail;
            r->out_pos += nl ? take + 1 : take;
            if (nl && r->line.len == 0) {
                /* the whole line is in this block: no copy */
                *line = p;
                *len = take;
                r->rows++;
                return 1;
            }
            if (take && !buf_append(&r->line, p, take, err)) {
                err_set(err, ERR_TOO_LARGE, "part \"%s\": a row is longer than %zu bytes", r->name, PARTR_MAX_LINE);
                return -1;
            }
            if (nl) {
                r->line_done = true;
                *line = r->line.data ? r->line.data : "";
                *len = r->line.len;
                r->rows++;
                return 1;
            }
            continue;
        }
        /* a full output block may leave more to flush even without new input */
        if (r->in.pos >= r->in.size && !r->out_full)
            return 0;
        ZSTD_outBuffer out = {r->out, r->out_cap, 0};
        size_t rc = ZSTD_decompressStream(r->dctx, &out, &r->in);
        if (ZSTD_isError(rc)) {
            err_set(err, ERR_PROTOCOL, "part \"%s\" is not valid zstd: %s", r->name, ZSTD_getErrorName(rc));
            return -1;
        }
        r->frame_left = rc;
        r->out_full = out.pos == out.size;
        r->out_len = out.pos;
        r->out_pos = 0;
        r->raw_bytes += out.pos;
    }
}

bool partr_finish(PartReader *r, PartInfo *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!r->started)
        return err_set(err, ERR_PROTOCOL, "part \"%s\" is empty", r->name);
    if (r->frame_left != 0 || r->in.pos < r->in.size || r->out_pos < r->out_len)
        return err_set(err, ERR_PROTOCOL, "part \"%s\" ends in the middle of its zstd frame (truncated)", r->name);
    if (r->line.len && !r->line_done)
        return err_set(err, ERR_PROTOCOL, "part \"%s\" ends without a newline after its last row", r->name);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(r->md, md, &mdlen);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
    out->rows = r->rows;
    out->raw_bytes = r->raw_bytes;
    out->bytes = r->bytes;
    return true;
}
