/*
 * targets/changelog.h - the change-log target: every committed transaction as
 *                       NDJSON lines in one append-only file.
 *
 * Owns:     the change-log file format (docs/internals/changelog.md) and its
 *           durability: the file is its own checkpoint. On open, anything after
 *           the last complete unit (a commit line, or a non-transactional
 *           message line) is a torn write from a crash and is cut off; the
 *           last commit line gives the checkpoint, or PATH.ckpt when a fence
 *           moved it later with no line written.
 * Not mine: choosing which transactions arrive (daemon/run skips those at or
 *           below the checkpoint).
 * Format:   {"type":"begin",...} · one line per change · {"type":"commit",...}
 *           Values are Postgres text (binary values as \x hex), NULL as null,
 *           unchanged TOAST as {"unchanged_toast":true}, as in `wal2edge decode`.
 */
#ifndef WAL2EDGE_TARGETS_CHANGELOG_H
#define WAL2EDGE_TARGETS_CHANGELOG_H

#include "core/err.h"
#include "pipeline/target.h"

/* Open (creating) the change log at path and recover its checkpoint. */
Target *changelog_target_new(const char *path, Err *err) WARN_UNUSED;

#endif
