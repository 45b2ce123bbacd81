/*
 * daemon/resyncer.h - the re-copies `wal2edge run` makes itself, beside the stream.
 *
 * Owns:     a thread with its own Postgres connections that runs queued
 *           resync jobs (resync/job) one at a time while the stream goes on;
 *           the queue (a request for a table already queued is merged into it;
 *           one for a table being copied starts it over once the copy in hand
 *           stops after its chunk); the jobs a crash left (a progress file
 *           STATE_DIR/resync/SCHEMA.TABLE.json, or SCHEMA.TABLE.again: asked to
 *           start over while it ran), resumed at the start; retrying a failed
 *           job with backoff (logged, never dropped); stopping after the
 *           current chunk (SIGTERM, resyncer_stop), the progress kept; a view
 *           of each job's progress.
 * Not mine: the chunk loop and its progress file (resync/job), applying the
 *           chunks (the targets, when the stream reaches them), deciding that a
 *           table needs a re-copy (the targets at a schema change, the caller).
 * Threads:  resyncer_request and resyncer_jobs may be called from any thread.
 */
#ifndef WAL2EDGE_DAEMON_RESYNCER_H
#define WAL2EDGE_DAEMON_RESYNCER_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "pg/lsn.h"

typedef struct Resyncer Resyncer;

typedef struct ResyncerOptions {
    long chunk_rows;               /* 0: RESYNC_DEFAULT_CHUNK */
    bool resume;                   /* resume the jobs a previous run left (progress files) */
} ResyncerOptions;

/* Start the thread (and queue the jobs a previous run left, when opts->resume). cfg is borrowed. */
Resyncer *resyncer_start(const Config *cfg, const ResyncerOptions *opts, Err *err) WARN_UNUSED;

/*
 * Ask for a re-copy of table (SCHEMA.TABLE) into targets ("d1.NAME", "kv.NAME",
 * "queues.NAME"; none: every target of the table), `why` for the log. Recorded
 * durably (the job's progress file) before it returns, so a crash never loses
 * it. A request for a table already queued is merged into it (the targets
 * joined); for a table being copied, the copy starts over after its current
 * chunk (its earlier chunks may hold rows of before what asked again) - unless
 * `cause`, the LSN of the change that asks (0: none), is before the copy's
 * first low watermark (every chunk of it was read after the change) and the
 * copy goes to the targets asked for already; such a copy, done or not,
 * answers the request as it is. (A schema change holds its table's lock until
 * its commit, so a chunk read after a watermark later in the WAL than the
 * change reads the rows as they are after it.)
 */
bool resyncer_request(Resyncer *r, const char *table, const char *const *targets, size_t ntargets, const char *why,
                      Lsn cause, Err *err) WARN_UNUSED;

typedef enum ResyncerState {
    RESYNCER_QUEUED,               /* waiting for the job before it */
    RESYNCER_COPYING,              /* its chunks are being sent */
    RESYNCER_RETRYING,             /* failed (last_error), waiting for its next attempt */
    RESYNCER_DONE,                 /* every chunk sent (the targets apply them as the stream reaches them) */
} ResyncerState;

/* One job as it stands (a copy: every string owned by the view). */
typedef struct ResyncerJobView {
    char *table;
    char *why;
    char **targets;                /* none: every target of the table */
    size_t ntargets;
    ResyncerState state;
    long chunk;                    /* chunks sent (a resumed job's earlier ones included) */
    long long rows;                /* rows sent */
    char *after;                   /* the last key sent; NULL: none yet */
    char *last_error;              /* the last failure; NULL: none */
    unsigned attempts;             /* failed attempts so far */
} ResyncerJobView;

/* Every job queued, copying, retrying or done since the start (done ones: the last few). */
size_t resyncer_jobs(Resyncer *r, ResyncerJobView **out);
void resyncer_jobs_free(ResyncerJobView *v, size_t n);
const char *resyncer_state_name(ResyncerState s);   /* "queued", "copying", "retrying", "done" */

/* Whether any job is queued, copying or retrying; *done (may be NULL): how many jobs ended so far. */
bool resyncer_busy(Resyncer *r, unsigned long *done);

/* Stop after the current chunk (its progress kept: the next start resumes it), join, free. NULL: nothing. */
void resyncer_stop(Resyncer *r);

#endif
