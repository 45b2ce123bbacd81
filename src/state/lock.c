/*
 * state/lock.c - see lock.h.
 *
 * An flock(LOCK_EX | LOCK_NB) on "<state_dir>/lock", held as long as the
 * descriptor stays open, so the kernel releases it when the process dies, even
 * after kill -9, and no stale lock is left. The holder writes "command, pid N"
 * into the file; a refused caller reads that back (non-printable bytes masked)
 * to say who holds the directory.
 */
#include "state/lock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mem.h"

/* "run (pid 123)" from what the holder wrote; "" when unreadable. */
static void read_holder(int fd, char *out, size_t cap)
{
    out[0] = '\0';
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    snprintf(out, cap, " (%s)", buf);
}

bool state_dir_lock(const char *state_dir, const char *command, int *fd_out, Err *err)
{
    *fd_out = -1;
    if (!fs_mkdir_p(state_dir, err))
        return false;
    char *path = xasprintf("%s/lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open the lock file in \"%s\"", state_dir);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[160];
        read_holder(fd, holder, sizeof holder);
        close(fd);
        return err_set(err, ERR_CHECK,
                       "another wal2edge%s is using state directory \"%s\"; stop it first (wal2edge %s needs it alone)",
                       holder, state_dir, command);
    }
    char who[96];
    int len = snprintf(who, sizeof who, "%s, pid %ld\n", command, (long)getpid());
    if (ftruncate(fd, 0) == 0 && len > 0)
        (void)!pwrite(fd, who, (size_t)len, 0);
    *fd_out = fd;
    return true;
}

void state_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
