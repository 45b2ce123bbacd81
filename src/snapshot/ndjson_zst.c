/*
 * snapshot/ndjson_zst.c - see ndjson_zst.h.
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
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(w->fd, w->out + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return err_sys(err, ERR_IO, "cannot write part file \"%s\"", w->path);
        off += (size_t)k;
    }
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

bool partw_file_sha256(const char *path, char out[65], uint64_t *size, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open \"%s\"", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    char *buf = xmalloc(1 << 16);
    uint64_t total = 0;
    bool ok = true;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ok = err_sys(err, ERR_IO, "cannot read \"%s\"", path);
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        total += (uint64_t)n;
    }
    close(fd);
    free(buf);
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    if (!ok)
        return false;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    if (size)
        *size = total;
    return true;
}
