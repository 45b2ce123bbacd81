/*
 * state/lock.h - one wal2edge process per state directory.
 *
 * Owns:     STATE_DIR/lock, held with flock(2) for the life of a command that
 *           writes the state directory (run, warm, snapshot, migrate); the
 *           holder's pid and command are written into it so a second process
 *           can say who is in the way. The kernel drops the lock when the
 *           holder exits, even on kill -9, so a stale lock never blocks.
 * Not mine: what lives in the directory (state/store, the targets).
 */
#ifndef WAL2EDGE_STATE_LOCK_H
#define WAL2EDGE_STATE_LOCK_H

#include <stdbool.h>

#include "core/err.h"

/* Create state_dir if needed and take its lock for `command` ("run", ...).
 * On success *fd_out holds it (close it to release). ERR_CHECK when another
 * process holds it, ERR_IO when the file cannot be opened. */
bool state_dir_lock(const char *state_dir, const char *command, int *fd_out, Err *err) WARN_UNUSED;
void state_dir_unlock(int fd);

#endif
