/*
 * core/fs.c - see fs.h.
 *
 * Durable writes go to "path<suffix>", are fsynced, renamed over the target and
 * then the parent directory is fsynced, so a crash leaves either the old file or
 * the new one. Directories are created mode 0700 one path component at a time.
 * The file hash reads in 64 KiB chunks with pread, so it does not move the offset
 * of a descriptor the caller may share. This is the one Linux-specific file
 * (sync_file_range, to start writeback early).
 */
/* The one platform file: sync_file_range is Linux-only. */
#define _GNU_SOURCE
#include "core/fs.h"

#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/mem.h"

bool fs_mkdir_p(const char *path, Err *err)
{
    char *copy = xstrdup(path);
    bool ok = true;
    for (char *p = copy + 1; ok; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST)
            ok = err_sys(err, ERR_IO, "cannot create directory \"%s\"", copy);
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(copy);
    return ok;
}

static char *parent_of(const char *file_path)
{
    const char *slash = strrchr(file_path, '/');
    if (!slash)
        return NULL;
    if (slash == file_path)
        return xstrdup("/");
    return xstrndup(file_path, (size_t)(slash - file_path));
}

bool fs_mkdir_parents(const char *file_path, Err *err)
{
    char *dir = parent_of(file_path);
    bool ok = !dir || fs_mkdir_p(dir, err);
    free(dir);
    return ok;
}

bool fs_sync_parent_dir(const char *file_path, Err *err)
{
    char *dir = parent_of(file_path);
    const char *name = dir ? dir : ".";
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && fsync(fd) == 0;
    if (!ok)
        err_sys(err, ERR_IO, "syncing directory \"%s\"", name);
    if (fd >= 0)
        close(fd);
    free(dir);
    return ok;
}

bool fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool fs_write_file_durably(const char *path, const char *tmp_suffix, const void *data, size_t len, int mode,
                           Err *err)
{
    if (!fs_mkdir_parents(path, err))
        return false;
    char *tmp = xasprintf("%s%s", path, tmp_suffix);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    bool ok = true;
    if (fd < 0)
        ok = err_sys(err, ERR_IO, "cannot create \"%s\"", tmp);
    else if (!fs_write_all(fd, data, len))
        ok = err_sys(err, ERR_IO, "cannot write \"%s\"", tmp);
    else if (fsync(fd) != 0)
        ok = err_sys(err, ERR_IO, "cannot fsync \"%s\"", tmp);
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) != 0)
        ok = err_sys(err, ERR_IO, "cannot rename \"%s\" to \"%s\"", tmp, path);
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok && fs_sync_parent_dir(path, err);
}

void fs_start_writeback(int fd, long long from, long long len)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, (off_t)from, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    (void)from;
    (void)len;
#endif
}

bool fs_sha256_hex(const char *path, uint64_t offset, uint64_t len, char out[65], uint64_t *size, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open \"%s\"", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    if (!ok)
        err_set(err, ERR_INTERNAL, "sha-256 of \"%s\" failed", path);
    enum { CHUNK = 1 << 16 };
    char *buf = xmalloc(CHUNK);
    uint64_t done = 0;
    while (ok && done < len) {
        size_t want = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ok = err_sys(err, ERR_IO, "cannot read \"%s\"", path);
        } else if (got == 0) {
            if (len != FS_TO_END)
                ok = err_set(err, ERR_IO, "\"%s\" is shorter than the range to hash", path);
            break;
        } else {
            ok = EVP_DigestUpdate(md, buf, (size_t)got) == 1;
            done += (uint64_t)got;
        }
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (ok && (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32))
        ok = err_set(err, ERR_INTERNAL, "sha-256 of \"%s\" failed", path);
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    if (!ok)
        return false;
    hex_encode(d, 32, out);
    if (size)
        *size = done;
    return true;
}
