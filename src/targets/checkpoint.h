/*
 * targets/checkpoint.h - a target's checkpoint as its storage keeps it: two
 *                        LSNs in their "X/X" text form.
 *
 * Owns:     parsing a stored checkpoint (both LSNs or nothing), and reading the
 *           checkpoint row of a slot from an embedded target's SQLite file - one
 *           rule for the D1, KV and queue targets.
 * Not mine: where each target keeps it (its own table or file) and when it
 *           writes it (in the same transaction as its data).
 * Pure:     checkpoint_parse is; checkpoint_read_sqlite reads the file.
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

#endif
