/*
 * core/fs.c - see fs.h.
 */
/* The one platform file: sync_file_range is Linux-only. */
#define _GNU_SOURCE
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
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
