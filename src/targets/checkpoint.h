/*
 * targets/checkpoint.h - a target's checkpoint as its storage keeps it: two
 *                        LSNs in their "X/X" text form.
 *
 * Owns:     parsing a stored checkpoint (both LSNs or nothing), reading the
 *           checkpoint row of a slot from an embedded target's SQLite file - one
 *           rule for the D1, KV and queue targets - and the checkpoint file
 *           beside an append-only file (the queue spool, the change log):
 *           {"commit_lsn","end_lsn","offset"}, replaced atomically.
 * Not mine: where each target keeps it (its own table or file) and when it
 *           writes it (in the same transaction as its data).
 * Pure:     checkpoint_parse is; the others read or write files.
 */
#ifndef WAL2EDGE_TARGETS_CHECKPOINT_H
#define WAL2EDGE_TARGETS_CHECKPOINT_H

#include <stdbool.h>

#include "core/err.h"
#include "pg/lsn.h"
#include "state/sqlite.h"

/* Both LSNs of a stored checkpoint into *out; false (and *out untouched) when either is NULL or malformed. */
bool checkpoint_parse(const char *commit_lsn, const char *end_lsn, TargetCheckpoint *out) WARN_UNUSED;

/*
 * Run `query` (commit_lsn and end_lsn of the row whose ?1 is `slot`) on db into
 * *out; no row leaves *out as it was. A malformed row is ERR_STORE
 * "PATH: the WHAT of slot \"SLOT\" is corrupt" (what: "checkpoint", "KV checkpoint").
 */
bool checkpoint_read_sqlite(Sqlite *db, const char *query, const char *slot, const char *what,
                            TargetCheckpoint *out, Err *err) WARN_UNUSED;

/* Replace path durably and atomically with cp and the length of the file it stands for. */
bool checkpoint_file_write(const char *path, const TargetCheckpoint *cp, int64_t offset, Err *err) WARN_UNUSED;

/*
 * Read a checkpoint file: *found false (nothing else touched) when path does not exist;
 * ERR_IO "WHAT \"PATH\" is malformed" when it is not one (what: "queue spool checkpoint").
 */
bool checkpoint_file_read(const char *path, const char *what, TargetCheckpoint *cp, int64_t *offset, bool *found,
                          Err *err) WARN_UNUSED;

#endif
