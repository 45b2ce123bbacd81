/*
 * core/fs.c - see fs.h.
 */
/* The one platform file: sync_file_range is Linux-only. */
#define _GNU_SOURCE
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
