/*
 * resync/job.h - one online re-copy of a table (`wal2edge resync`, and `run`
 *                when it re-copies a table itself), as a job any caller runs.
 *
 * Owns:     the chunk loop: the table's key and columns from the catalog, a low
 *           and a high watermark around each primary-key chunk (pg/resync), and
 *           the progress file STATE_DIR/resync/SCHEMA.TABLE.json kept after every
 *           chunk so a killed job resumes after the last chunk it sent (with the
 *           job's targets, why, pid and times for `status`, resync/progress).
 * Not mine: applying the chunks (the targets, when the stream reaches them),
 *           which tables are mapped (the caller), printing (the caller's
 *           on_chunk).
 * Pure:     no (libpq, files).
 */
#ifndef WAL2EDGE_RESYNC_JOB_H
#define WAL2EDGE_RESYNC_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "pg/lsn.h"

#define RESYNC_DEFAULT_CHUNK 1000
#define RESYNC_MAX_CHUNK 100000
#define RESYNC_LOCK_WAIT_MS 30000 /* for the source's lock a killed copy's connection still holds (pg/resync) */

typedef struct ResyncJob {
    const char *table;               /* SCHEMA.TABLE, mapped */
    const char *const *targets;      /* "d1.NAME", "kv.NAME", "queues.NAME"; none: every target of the table */
    size_t ntargets;
    long chunk_rows;                 /* 0: RESYNC_DEFAULT_CHUNK */
    bool restart;                    /* start over instead of resuming a kept progress */
    const char *why;                 /* shown by `status` ("new mapping", "by hand"); NULL: none */
} ResyncJob;

/* Where a job stands, after each chunk sent (and once before the first when it resumes). */
typedef struct ResyncProgress {
    const char *table;
    const char *after;               /* the last key sent; NULL: none yet */
    long chunk;                      /* chunks sent in all (a resumed job's earlier ones included) */
    long long rows;                  /* rows sent in all */
    long long rows_now;              /* rows sent by this call */
    bool resumed;
    bool done;                       /* the last chunk (fewer rows than asked) was sent */
    Lsn first_lsn;                   /* the run's first low watermark (every chunk was read after it); 0: unknown */
} ResyncProgress;

/* Called after every chunk; false stops the job after it (its progress is kept: it resumes). */
typedef bool (*ResyncOnChunk)(void *ctx, const ResyncProgress *p);

/*
 * Run the job to its end (or until on_chunk says stop). On success *out has the
 * last progress and the elapsed seconds; the progress file is removed when the
 * table was sent to its end. ERR_INTERRUPTED when on_chunk stopped it.
 */
bool resync_job_run(const Config *cfg, const ResyncJob *job, ResyncOnChunk on_chunk, void *ctx, ResyncProgress *out,
                    double *secs, Err *err) WARN_UNUSED;

/* The progress file of TABLE's resync (owned). */
char *resync_job_progress_path(const Config *cfg, const char *table);

/*
 * Record durably that job->table is to be copied from its start: its progress file
 * with no chunk sent yet (a kept progress is replaced), with the job's targets and
 * why, so a job asked for and not begun (or to begin again) is resumed from the
 * start after a crash, into the same targets (resync/progress reads them back).
 * Under the table's lock: while another process copies the table, ERR_NOT_READY and
 * nothing written.
 */
bool resync_job_queue(const Config *cfg, const ResyncJob *job, Err *err) WARN_UNUSED;

#endif
