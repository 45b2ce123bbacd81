/*
 * resync/progress.h - the re-copies under way, as `status` shows them: every
 *                     progress file in STATE_DIR/resync/ (resync/job writes
 *                     them, one per table, for `wal2edge resync` and for the
 *                     copies `run` makes itself).
 *
 * Owns:     listing and reading those files, whether the process that wrote
 *           one is still alive, and one entry's JSON for `status --json`.
 * Not mine: the files' writing and resuming (resync/job); printing (cli/cmd_status).
 * Pure:     no (reads a directory; kill(pid, 0)).
 * Secrets:  none: table and target names, a key value of the table.
 */
#ifndef WAL2EDGE_RESYNC_PROGRESS_H
#define WAL2EDGE_RESYNC_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

#define RESYNC_PROGRESS_MAX 256

typedef struct ResyncStatus {
    char *table;               /* SCHEMA.TABLE */
    char **targets;            /* none: every target of the table */
    size_t ntargets;
    char *why;                 /* NULL: not said (a file of an older wal2edge) */
    char *after;               /* the last key sent; NULL: none yet */
    long chunk;                /* chunks sent */
    long long rows;            /* rows sent */
    int64_t started_us, updated_us; /* wall clock; 0: not known */
    long pid;                  /* who writes it; 0: not known */
    bool alive;                /* that process is running: the copy goes on */
    bool queued;               /* asked for, no chunk sent yet (its writer's queue) */
} ResyncStatus;

/* One progress file (path) of table; false when it cannot be read as one. */
bool resync_progress_read(const char *path, const char *table, ResyncStatus *out);

/* Every progress file under state_dir/resync (none: *count 0), sorted by table. A file that
 * cannot be read as one is left out. */
bool resync_progress_list(const char *state_dir, ResyncStatus **out, size_t *count, Err *err) WARN_UNUSED;
void resync_progress_free(ResyncStatus *list, size_t count);
/* What resync_progress_read filled (not s itself). */
void resync_progress_free_one(ResyncStatus *s);

/* "queued" or "copying" (its writer is alive), or "stopped" (it resumes when started again). */
const char *resync_progress_state(const ResyncStatus *s);
/* {"table", "targets", "state", "why", "rows", "chunks", "last_key", "started_at", "updated_at", "pid"} (owned). */
json_t *resync_progress_json(const ResyncStatus *s);

#endif
