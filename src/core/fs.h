/*
 * core/fs.h - small filesystem helpers shared by the modules that own files.
 *
 * Owns:     creating directory trees (mode 0700: state is private), making a
 *           directory entry durable after a create or rename, writing a whole
 *           buffer, replacing a file durably (temporary file, fsync, rename), and
 *           the SHA-256 of a file or a range of it (snapshot parts, R2 uploads).
 */
#ifndef WAL2EDGE_CORE_FS_H
#define WAL2EDGE_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* mkdir -p path. */
bool fs_mkdir_p(const char *path, Err *err) WARN_UNUSED;
/* mkdir -p of the directory part of file_path (nothing when it has none). */
bool fs_mkdir_parents(const char *file_path, Err *err) WARN_UNUSED;
/* fsync the directory that holds file_path. */
bool fs_sync_parent_dir(const char *file_path, Err *err) WARN_UNUSED;

/* write(2) all of data, retrying short writes and EINTR; false with errno set. */
bool fs_write_all(int fd, const void *data, size_t len) WARN_UNUSED;

/*
 * Put data at path durably and atomically: directories created, written to
 * path + tmp_suffix (".tmp"), fsynced, renamed over path, the directory synced.
 * A reader sees the old file or the whole new one; a failure removes the
 * temporary file.
 */
bool fs_write_file_durably(const char *path, const char *tmp_suffix, const void *data, size_t len, int mode,
                           Err *err) WARN_UNUSED;

/* fs_sha256_hex's len for "to the end of the file". */
#define FS_TO_END UINT64_MAX

/*
 * The SHA-256 (lowercase hex) of path's bytes [offset, offset + len), or from
 * offset to the end with FS_TO_END; *size (may be NULL) gets how many bytes
 * were hashed. ERR_IO naming the file when it cannot be read or is shorter
 * than the range.
 */
bool fs_sha256_hex(const char *path, uint64_t offset, uint64_t len, char out[65], uint64_t *size,
                   Err *err) WARN_UNUSED;

/*
 * Start writing back fd's dirty pages in [from, from+len) without waiting
 * (Linux sync_file_range), so that a later fdatasync has little left to do.
 * A hint: errors are ignored.
 */
void fs_start_writeback(int fd, long long from, long long len);

#endif
