/*
 * snapshot/sink.c - see sink.h.
 *
 * One interface over two places. A local sink (an embedded R2 target) is a
 * directory: a part is renamed from its ".partial" file next to the final key and
 * the directory fsynced. A remote sink uploads to the bucket through cf/r2: a part
 * no larger than the chunk size goes as one PUT, a larger one as a multipart
 * upload of chunk-sized slices read from the spool file, which is deleted once
 * uploaded. The multipart upload id is reported to the caller's hook before the
 * first part and cleared after completion or abort, so an upload a crash leaves
 * behind is aborted by the next run instead of being left open. Clones make
 * their own R2 client, one per worker thread.
 */
#include "snapshot/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf/r2.h"
#include "cf/r2_multipart.h"
#include "cf/r2_target.h"
#include "core/fs.h"
#include "core/mem.h"

struct SnapSink {
    char *name;                /* the r2 target */
    char *desc;
    char *dir;                 /* local: root directory */
    /* remote */
    R2Client *r2;
    const Config *cfg;         /* borrowed, with the target: both outlive the sink */
    const ConfigTarget *target;
    char *spool_dir;
    uint64_t chunk;
    SinkStats stats;
    unsigned spool_seq;
    SinkUploadHook hook;
    void *hook_ctx;
};

static SnapSink *make_remote(SnapSink *s, Err *err)
{
    s->r2 = r2_client_for_target(s->cfg, s->target, NULL, err);
    if (!s->r2) {
        sink_free(s);
        return NULL;
    }
    return s;
}

SnapSink *sink_open(const Config *cfg, const ConfigTarget *t, const char *spool_dir, uint64_t chunk_bytes,
                    Err *err)
{
    SnapSink *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(t->name);
    s->chunk = chunk_bytes ? chunk_bytes : SINK_DEFAULT_CHUNK_BYTES;
    if (s->chunk < R2_MIN_PART_BYTES)
        s->chunk = R2_MIN_PART_BYTES;
    if (target_is_embedded(t)) {
        s->dir = xstrdup(t->embedded_path);
        size_t n = strlen(s->dir);
        while (n > 1 && s->dir[n - 1] == '/')
            s->dir[--n] = '\0';
        s->desc = xasprintf("r2.%s (%s)", t->name, s->dir);
        if (!fs_mkdir_p(s->dir, err)) {
            sink_free(s);
            return NULL;
        }
        return s;
    }
    s->cfg = cfg;
    s->target = t;
    s->spool_dir = xstrdup(spool_dir);
    s->desc = xasprintf("r2.%s (bucket %s)", t->name, t->remote_id);
    if (!fs_mkdir_p(s->spool_dir, err)) {
        sink_free(s);
        return NULL;
    }
    return make_remote(s, err);
}

SnapSink *sink_clone(const SnapSink *o, Err *err)
{
    SnapSink *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(o->name);
    s->desc = xstrdup(o->desc);
    s->chunk = o->chunk;
    if (o->dir) {
        s->dir = xstrdup(o->dir);
        return s;
    }
    s->cfg = o->cfg;
    s->target = o->target;
    s->spool_dir = xstrdup(o->spool_dir);
    return make_remote(s, err);
}

void sink_free(SnapSink *s)
{
    if (!s)
        return;
    r2_client_free(s->r2);
    free(s->name);
    free(s->desc);
    free(s->dir);
    free(s->spool_dir);
    free(s);
}

void sink_set_upload_hook(SnapSink *s, SinkUploadHook hook, void *ctx)
{
    s->hook = hook;
    s->hook_ctx = ctx;
}

bool sink_abort_upload(SnapSink *s, const char *key, const char *upload_id, Err *err)
{
    if (!s->r2)
        return true;
    if (!r2_mpu_abort(s->r2, key, upload_id, err)) /* a 404 (NoSuchUpload) counts as done */
        return err_prefix(err, "%s: aborting the upload of \"%s\"", s->desc, key), false;
    return true;
}

bool sink_is_remote(const SnapSink *s) { return s->r2 != NULL; }
const char *sink_describe(const SnapSink *s) { return s->desc; }
SinkStats sink_stats(const SnapSink *s) { return s->stats; }

char *sink_spool_path(const SnapSink *s, const char *key)
{
    if (s->dir)
        return xasprintf("%s/%s.partial", s->dir, key);
    /* flatten the key: the spool is one directory */
    char *flat = xstrdup(key);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '~';
    char *path = xasprintf("%s/%s", s->spool_dir, flat);
    free(flat);
    return path;
}

static bool local_place(SnapSink *s, const char *key, const char *path, Err *err)
{
    char *dst = xasprintf("%s/%s", s->dir, key);
    bool ok = fs_mkdir_parents(dst, err);
    if (ok && rename(path, dst) != 0)
        ok = err_sys(err, ERR_IO, "cannot move part into \"%s\"", dst);
    ok = ok && fs_sync_parent_dir(dst, err);
    free(dst);
    return ok;
}

static bool r2_multipart(SnapSink *s, const char *key, const char *path, uint64_t size, Err *err)
{
    size_t n = 0;
    if (!r2_part_count(size, s->chunk, &n, err))
        return false;
    char *upload_id = NULL;
    if (!r2_mpu_create(s->r2, key, "application/zstd", &upload_id, err))
        return false;
    R2Part *parts = xcalloc(n, sizeof *parts);
    /* recorded first: a crash from here on leaves an upload that the next run aborts */
    bool ok = !s->hook || s->hook(s->hook_ctx, s->name, key, upload_id, true, err);
    bool recorded = ok && s->hook;
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t off = (uint64_t)i * s->chunk;
        uint64_t len = size - off < s->chunk ? size - off : s->chunk;
        parts[i].part_number = (unsigned)(i + 1);
        parts[i].size = len;
        /* cf/r2 retries each chunk (429, 5xx, transport errors) */
        ok = r2_mpu_upload_part_file(s->r2, key, upload_id, (unsigned)(i + 1), path, off, len, &parts[i].etag,
                                     err);
        if (ok)
            s->stats.chunks++;
    }
    ok = ok && r2_mpu_complete(s->r2, key, upload_id, parts, n, NULL, err);
    bool ended = ok;
    if (!ok) {
        Err abort_err;
        /* if this fails too, the record stays and the next run aborts it */
        ended = r2_mpu_abort(s->r2, key, upload_id, &abort_err);
    } else {
        s->stats.multipart++;
    }
    Err ignored;
    if (recorded && ended && !s->hook(s->hook_ctx, s->name, key, upload_id, false, &ignored)) {
        /* a stale record only costs an abort of an upload that is gone */
    }
    r2_parts_free(parts, n);
    free(upload_id);
    return ok;
}

bool sink_put_file(SnapSink *s, const char *key, const char *path, uint64_t size, Err *err)
{
    bool ok;
    if (s->dir) {
        ok = local_place(s, key, path, err);
    } else {
        if (size > s->chunk)
            ok = r2_multipart(s, key, path, size, err);
        else
            ok = r2_put_object_file(s->r2, key, path, 0, size, &(R2PutOptions){.content_type = "application/zstd"},
                                    NULL, err);
        if (ok)
            unlink(path);
    }
    if (!ok) {
        err_prefix(err, "%s: uploading \"%s\"", s->desc, key);
        return false;
    }
    s->stats.objects++;
    s->stats.bytes += size;
    return true;
}

bool sink_put_bytes(SnapSink *s, const char *key, const void *data, size_t len, const char *content_type, Err *err)
{
    bool ok;
    if (s->dir) {
        char *dst = xasprintf("%s/%s", s->dir, key);
        ok = fs_write_file_durably(dst, ".partial", data, len, 0600, err);
        free(dst);
    } else {
        ok = r2_put_object(s->r2, key, data, len, &(R2PutOptions){.content_type = content_type}, NULL, err);
    }
    if (!ok) {
        err_prefix(err, "%s: writing \"%s\"", s->desc, key);
        return false;
    }
    s->stats.objects++;
    s->stats.bytes += len;
    return true;
}

bool sink_get_bytes(SnapSink *s, const char *key, size_t max, Buf *out, bool *found, Err *err)
{
    *found = false;
    if (!s->dir)
        return r2_get_object(s->r2, key, 0, 0, max, out, NULL, found, err);
    char *path = xasprintf("%s/%s", s->dir, key);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) {
        if (errno == ENOENT)
            return true;
        return err_sys(err, ERR_IO, "cannot open \"%s\" in %s", key, s->desc);
    }
    char chunk[8192];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max)
            ok = err_set(err, ERR_TOO_LARGE, "\"%s\" in %s is larger than %zu bytes", key, s->desc, max);
        else
            ok = buf_append(out, chunk, n, err);
    }
    fclose(f);
    *found = ok;
    return ok;
}

bool sink_head(SnapSink *s, const char *key, uint64_t *size, bool *found, Err *err)
{
    *found = false;
    if (!s->dir) {
        R2ObjectInfo info = {0};
        bool ok = r2_head_object(s->r2, key, &info, found, err);
        if (ok && *found)
            *size = info.size;
        r2_object_info_free(&info);
        return ok;
    }
    char *path = xasprintf("%s/%s", s->dir, key);
    struct stat st;
    int rc = stat(path, &st);
    free(path);
    if (rc == 0) {
        *found = true;
        *size = (uint64_t)st.st_size;
    }
    return true;
}

bool sink_delete(SnapSink *s, const char *key, Err *err)
{
    if (!s->dir)
        return r2_delete_object(s->r2, key, err);
    char *path = xasprintf("%s/%s", s->dir, key);
    bool ok = unlink(path) == 0 || errno == ENOENT;
    if (!ok)
        err_sys(err, ERR_IO, "cannot delete \"%s\"", path);
    free(path);
    return ok;
}
