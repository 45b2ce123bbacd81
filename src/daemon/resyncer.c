/*
 * daemon/resyncer.c - see resyncer.h.
 *
 * One thread takes the jobs in the order they were asked for: the first queued
 * one (or a failed one whose backoff is over) runs through resync_job_run,
 * whose on_chunk records the progress for the view and stops the job when the
 * resyncer stops or the job was asked for again. Every request is on disk
 * before it returns: a new job's progress file (resync_job_queue), or for a job
 * already there a SCHEMA.TABLE.again file that says to start it over; the
 * thread rewrites the progress file from the start before that job's next
 * attempt and only then removes the .again file. A start finds both kinds of
 * file in STATE_DIR/resync and queues their tables again.
 * A request that comes with the LSN of the change that asks, for targets the
 * copy goes to already, does not start it over when every chunk of the copy is
 * read after that change: the copy has not sent its first chunk yet, or its
 * first low watermark (resync/job) is later in the WAL. So the targets that
 * each ask for a re-copy at one schema change get one copy, not one each.
 */
#include "daemon/resyncer.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/backoff.h"
#include "daemon/signals.h"
#include "resync/job.h"
#include "resync/progress.h"

#define RESYNCER_MAX_DONE 16            /* done jobs kept for the view */
#define RESYNCER_MAX_BACKOFF_MS 600000  /* a failure retrying cannot cure is tried again every 10 minutes */
#define AGAIN_WHATEVER UINT64_MAX       /* Job.again_after: start over, whatever the copy read when */

typedef struct Job {
    char *table, *why;
    char **targets;                /* ntargets 0: every target of the table */
    size_t ntargets;
    ResyncerState state;
    bool again;                    /* asked for again: start over (its .again file is on disk) */
    Lsn again_after;               /* again: the latest change that asked (AGAIN_WHATEVER: none to tell) */
    Lsn copy_lsn;                  /* the copy's first low watermark: every chunk read after it; 0 unknown */
    long chunk;
    long long rows;
    char *after;
    char *last_error;
    unsigned attempts;
    int64_t retry_at_ms;           /* RETRYING: when */
    Backoff backoff;
    int64_t done_seq;              /* DONE: the order they finished in */
} Job;

struct Resyncer {
    const Config *cfg;
    ResyncerOptions opts;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;            /* everything below */
    pthread_cond_t wake;           /* a request, or the stop */
    bool stopping;
    Job **jobs;
    size_t njobs;
    int64_t done_seq;
    LogCtx log;
};

static char *again_path(const Config *cfg, const char *table)
{
    return xasprintf("%s/resync/%s.again", cfg->state_dir, table);
}

/* Record durably that table's copy is to start over (its .again file holds why). */
static bool mark_again(Resyncer *r, const char *table, const char *why, Err *err)
{
    char *path = again_path(r->cfg, table);
    bool ok = fs_write_file_durably(path, ".tmp", why, strlen(why), 0600, err); /* (it makes the folder) */
    free(path);
    return ok;
}

static void job_free(Job *j)
{
    if (!j)
        return;
    free(j->table);
    free(j->why);
    for (size_t i = 0; i < j->ntargets; i++)
        free(j->targets[i]);
    free(j->targets);
    free(j->after);
    free(j->last_error);
    free(j);
}

static Job *find_job(Resyncer *r, const char *table)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i]->state != RESYNCER_DONE && strcmp(r->jobs[i]->table, table) == 0)
            return r->jobs[i];
    return NULL;
}

static Job *add_job(Resyncer *r, const char *table, const char *why)
{
    Job *j = xcalloc(1, sizeof *j);
    j->table = xstrdup(table);
    j->why = xstrdup(why ? why : "asked for");
    j->state = RESYNCER_QUEUED;
    backoff_init(&j->backoff, BACKOFF_MIN_MS, RESYNCER_MAX_BACKOFF_MS);
    r->jobs = xrealloc(r->jobs, (r->njobs + 1) * sizeof *r->jobs);
    r->jobs[r->njobs++] = j;
    return j;
}

static bool has_target(const Job *j, const char *target)
{
    for (size_t k = 0; k < j->ntargets; k++)
        if (strcmp(j->targets[k], target) == 0)
            return true;
    return false;
}

/* j's copy goes to every one of targets (none: every target) already. */
static bool goes_to(const Job *j, const char *const *targets, size_t ntargets)
{
    if (!j->ntargets)
        return true;
    if (!ntargets)
        return false; /* every target, and j's goes to some */
    for (size_t i = 0; i < ntargets; i++)
        if (!has_target(j, targets[i]))
            return false;
    return true;
}

/* Join targets into j's (none on either side: every target). */
static void merge_targets(Job *j, const char *const *targets, size_t ntargets, bool fresh)
{
    if (!fresh && !j->ntargets)
        return; /* already every target */
    if (!ntargets) {
        for (size_t i = 0; i < j->ntargets; i++)
            free(j->targets[i]);
        free(j->targets);
        j->targets = NULL;
        j->ntargets = 0;
        return;
    }
    for (size_t i = 0; i < ntargets; i++) {
        if (has_target(j, targets[i]))
            continue;
        j->targets = xrealloc(j->targets, (j->ntargets + 1) * sizeof *j->targets);
        j->targets[j->ntargets++] = xstrdup(targets[i]);
    }
}

/* Every chunk of j's copy was read after the change at cause (a copy's first low watermark later in the WAL). */
static bool read_after(const Job *j, Lsn cause)
{
    return cause && cause != AGAIN_WHATEVER && j->copy_lsn && cause < j->copy_lsn;
}

/* Locked: j was asked for again by changes its copy read after (every one of them; nothing_sent: the
 * copy sends its first chunk only after this): it goes on, and its .again file goes. */
static void again_answered(Resyncer *r, Job *j, bool nothing_sent)
{
    if (!j->again || j->again_after == AGAIN_WHATEVER || (!nothing_sent && !read_after(j, j->again_after)))
        return;
    char *path = again_path(r->cfg, j->table);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_warn(&r->log, "resync %s: removing %s: %s", j->table, path, strerror(errno));
    } else {
        j->again = false;
        log_info(&r->log, "resync %s: the copy under way answers the request again: it reads every chunk after the "
                 "change that asked",
                 j->table);
    }
    free(path);
}

static void prune_done(Resyncer *r)
{
    size_t done = 0;
    for (size_t i = 0; i < r->njobs; i++)
        done += r->jobs[i]->state == RESYNCER_DONE;
    while (done > RESYNCER_MAX_DONE) {
        size_t oldest = r->njobs;
        for (size_t i = 0; i < r->njobs; i++)
            if (r->jobs[i]->state == RESYNCER_DONE &&
                (oldest == r->njobs || r->jobs[i]->done_seq < r->jobs[oldest]->done_seq))
                oldest = i;
        job_free(r->jobs[oldest]);
        memmove(&r->jobs[oldest], &r->jobs[oldest + 1], (r->njobs - oldest - 1) * sizeof *r->jobs);
        r->njobs--;
        done--;
    }
}

/* ---- the thread ---- */

typedef struct ChunkCtx {
    Resyncer *r;
    Job *job;
} ChunkCtx;

static bool on_chunk(void *ctx, const ResyncProgress *p)
{
    ChunkCtx *c = ctx;
    pthread_mutex_lock(&c->r->mu);
    c->job->chunk = p->chunk;
    c->job->rows = p->rows;
    free(c->job->after);
    c->job->after = p->after ? xstrdup(p->after) : NULL;
    c->job->copy_lsn = p->first_lsn;
    again_answered(c->r, c->job, p->chunk == 0);
    bool go = !c->r->stopping && !signals_stop_requested() && !c->job->again;
    pthread_mutex_unlock(&c->r->mu);
    if (p->resumed && p->rows_now == 0 && !p->done && p->chunk > 0)
        log_info(&c->r->log, "resync %s: resuming after key %s (chunk %ld)", p->table, p->after ? p->after : "-",
                 p->chunk);
    else
        log_debug(&c->r->log, "resync %s: %lld rows in %ld chunks, up to key %s", p->table, p->rows, p->chunk,
                  p->after ? p->after : "-");
    return go;
}

/* The next job to run (locked): the first queued one, or a failed one whose wait is over; else
 * *wait_ms says how long until the next retry (-1: none). */
static Job *next_job(Resyncer *r, int64_t *wait_ms)
{
    int64_t now = clock_mono_ms();
    *wait_ms = -1;
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i]->state == RESYNCER_QUEUED)
            return r->jobs[i];
    Job *next = NULL;
    for (size_t i = 0; i < r->njobs; i++) {
        Job *j = r->jobs[i];
        if (j->state != RESYNCER_RETRYING)
            continue;
        if (j->retry_at_ms <= now)
            return j;
        if (!next || j->retry_at_ms < next->retry_at_ms)
            next = j;
    }
    if (next)
        *wait_ms = next->retry_at_ms - now;
    return NULL;
}

static void wait_locked(Resyncer *r, int64_t ms)
{
    if (ms < 0) {
        pthread_cond_wait(&r->wake, &r->mu);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->wake, &r->mu, &ts);
}

/* Run job j once (unlocked; j's table and targets are not changed meanwhile but by merges, which
 * the copies below ignore until the next attempt). */
static bool attempt(Resyncer *r, Job *j, bool *again, Err *err)
{
    pthread_mutex_lock(&r->mu);
    char *table = xstrdup(j->table);
    size_t ntargets = j->ntargets;
    char **targets = xcalloc(ntargets + 1, sizeof *targets);
    for (size_t i = 0; i < ntargets; i++)
        targets[i] = xstrdup(j->targets[i]);
    char *why = xstrdup(j->why);
    pthread_mutex_unlock(&r->mu);
    bool ok = true;
    if (*again) {
        /* start over: the progress file from the start first, then the .again file may go */
        char *path = again_path(r->cfg, table);
        ResyncJob queued = {.table = table, .targets = (const char *const *)targets, .ntargets = ntargets, .why = why};
        ok = resync_job_queue(r->cfg, &queued, err);
        if (ok && unlink(path) != 0 && errno != ENOENT)
            log_warn(&r->log, "resync %s: removing %s: %s", table, path, strerror(errno));
        *again = !ok;
        free(path);
    }
    if (ok) {
        ResyncJob rj = {table, (const char *const *)targets, ntargets, r->opts.chunk_rows, false, why};
        ChunkCtx ctx = {r, j};
        ResyncProgress out;
        double secs = 0;
        ok = resync_job_run(r->cfg, &rj, on_chunk, &ctx, &out, &secs, err);
        if (ok)
            log_info(&r->log, "resync %s: every chunk sent: %lld rows in %ld chunks in %.1f s; the targets apply "
                     "each as the stream reaches it",
                     table, out.rows, out.chunk, secs);
    }
    for (size_t i = 0; i < ntargets; i++)
        free(targets[i]);
    free(targets);
    free(why);
    free(table);
    return ok;
}

static void *thread_main(void *arg)
{
    Resyncer *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        int64_t wait_ms;
        Job *j = next_job(r, &wait_ms);
        if (!j) {
            wait_locked(r, wait_ms);
            continue;
        }
        bool again = j->again;
        j->again = false;
        if (again)
            j->copy_lsn = 0; /* a new copy: its first low watermark is not sent yet */
        j->state = RESYNCER_COPYING;
        log_info(&r->log, "resync %s: copying (%s)%s", j->table, j->why,
                 j->attempts ? " again after a failure" : "");
        pthread_mutex_unlock(&r->mu);
        Err err;
        bool ok = attempt(r, j, &again, &err);
        pthread_mutex_lock(&r->mu);
        if (ok)
            again_answered(r, j, false); /* asked after its last chunk */
        if (j->again) {
            /* asked for again meanwhile: start over (before anything else) */
            j->state = RESYNCER_QUEUED;
            log_info(&r->log, "resync %s: asked for again (%s): starting over", j->table, j->why);
        } else if (ok) {
            j->state = RESYNCER_DONE;
            j->done_seq = ++r->done_seq;
            free(j->last_error);
            j->last_error = NULL;
            prune_done(r);
        } else if (err.code == ERR_INTERRUPTED && (r->stopping || signals_stop_requested())) {
            j->state = RESYNCER_QUEUED;
            log_info(&r->log, "resync %s: stopped after chunk %ld; the next start of `wal2edge run` resumes it",
                     j->table, j->chunk);
            break;
        } else {
            if (again) { /* the start over failed: its .again file is still there */
                j->again = true;
                j->again_after = AGAIN_WHATEVER;
            }
            j->attempts++;
            free(j->last_error);
            j->last_error = xstrdup(err.msg);
            int64_t delay = backoff_next(&j->backoff, (uint32_t)clock_wall_us());
            j->retry_at_ms = clock_mono_ms() + delay;
            j->state = RESYNCER_RETRYING;
            if (err_retryable(&err))
                log_warn(&r->log, "resync %s: %s; trying again in %lld ms (attempt %u)", j->table, err.msg,
                         (long long)delay, j->attempts);
            else
                log_error(&r->log, "resync %s: %s; trying again in %lld ms (attempt %u; its progress is kept in "
                          "the state directory's resync/ folder)",
                          j->table, err.msg, (long long)delay, j->attempts);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the API ---- */

/* The jobs a previous run left: SCHEMA.TABLE.json (resume) and SCHEMA.TABLE.again (start over). */
static void queue_left_over(Resyncer *r)
{
    char *dir = xasprintf("%s/resync", r->cfg->state_dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        bool json = n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
        bool again = n > 6 && strcmp(e->d_name + n - 6, ".again") == 0;
        if (!json && !again)
            continue;
        char *table = xstrdup(e->d_name);
        table[n - (json ? 5 : 6)] = '\0';
        /* a copy another process is making right now (`wal2edge resync` started with this run) is its own */
        ResyncStatus kept = {0};
        char *path = xasprintf("%s/%s", dir, e->d_name);
        bool read = json && resync_progress_read(path, table, &kept);
        free(path);
        if (read && kept.alive && kept.pid != (long)getpid()) {
            log_info(&r->log, "resync %s: being copied by process %ld: left to it", table, kept.pid);
            resync_progress_free_one(&kept);
            free(table);
            continue;
        }
        Job *j = find_job(r, table);
        if (!j)
            j = add_job(r, table, "left unfinished by an earlier run");
        if (again) {
            j->again = true;
            j->again_after = AGAIN_WHATEVER;
        }
        /* the targets it was asked for and why, kept in its progress file (resync/job) */
        if (read) {
            merge_targets(j, (const char *const *)kept.targets, kept.ntargets, true);
            if (kept.why) {
                free(j->why);
                j->why = xstrdup(kept.why);
            }
            resync_progress_free_one(&kept);
        }
        log_info(&r->log, "resync %s: left unfinished by an earlier run: %s", table,
                 j->again ? "starting it over" : "resuming it");
        free(table);
    }
    if (d)
        closedir(d);
    free(dir);
}

Resyncer *resyncer_start(const Config *cfg, const ResyncerOptions *opts, Err *err)
{
    Resyncer *r = xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->opts = *opts;
    r->log.component = "resync";
    r->log.slot = cfg->source.slot;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (opts->resume)
        queue_left_over(r);
    /* the signals stay the main loop's: the thread starts with them blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, thread_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "resync: starting its thread: %s", strerror(rc));
        r->started = false;
        resyncer_stop(r);
        return NULL;
    }
    r->started = true;
    return r;
}

/* Locked: a job of table done whose copy went to targets, every chunk read after cause, or NULL. */
static const Job *done_answering(const Resyncer *r, const char *table, const char *const *targets, size_t ntargets,
                                 Lsn cause)
{
    for (size_t i = 0; i < r->njobs; i++) {
        const Job *j = r->jobs[i];
        if (j->state == RESYNCER_DONE && strcmp(j->table, table) == 0 && goes_to(j, targets, ntargets) &&
            read_after(j, cause))
            return j;
    }
    return NULL;
}

bool resyncer_request(Resyncer *r, const char *table, const char *const *targets, size_t ntargets, const char *why,
                      Lsn cause, Err *err)
{
    pthread_mutex_lock(&r->mu);
    Job *j = find_job(r, table);
    bool ok = true, goes = j && goes_to(j, targets, ntargets);
    char at[LSN_STR_MAX];
    if (!j && done_answering(r, table, targets, ntargets, cause)) {
        log_info(&r->log, "resync %s: asked for (%s) by a change at %s: the copy sent since answers it (it read every "
                 "chunk after that change)",
                 table, why ? why : "asked for", lsn_format(cause, at));
    } else if (!j) {
        ResyncJob queued = {.table = table, .targets = targets, .ntargets = ntargets, .why = why ? why : "asked for"};
        ok = resync_job_queue(r->cfg, &queued, err);
        bool busy = !ok && err->code == ERR_NOT_READY;
        if (busy) {
            /* a `wal2edge resync` copies it now: its progress stays its own, and this job starts
             * over once that one is done (the .again marker keeps that across a crash) */
            ok = mark_again(r, table, why ? why : "asked for", err);
        }
        if (ok) {
            j = add_job(r, table, why);
            merge_targets(j, targets, ntargets, true);
            j->again = busy;
            j->again_after = AGAIN_WHATEVER;
            log_info(&r->log, "resync %s: queued (%s)%s", table, j->why,
                     busy ? "; another process copies it now: this copy starts over after it" : "");
        }
    } else if (goes && read_after(j, cause)) {
        log_info(&r->log, "resync %s: asked for again (%s) by a change at %s: the copy under way answers it (it reads "
                 "every chunk after that change)",
                 table, why ? why : "asked for", lsn_format(cause, at));
    } else {
        /* a target the copy does not go to yet, or a change it may have read before: start over,
         * unless the copy turns out to read every chunk after it (again_answered) */
        Lsn after = goes && cause ? cause : AGAIN_WHATEVER;
        merge_targets(j, targets, ntargets, false);
        if (!j->again) {
            /* what it sent so far may be older than what asks again: on disk first, then start over */
            ok = mark_again(r, table, why, err);
            j->again = ok;
            j->again_after = after;
        } else if (after > j->again_after) {
            j->again_after = after;
        }
        if (ok) {
            free(j->why);
            j->why = xstrdup(why ? why : "asked for");
            if (j->state == RESYNCER_RETRYING)
                j->state = RESYNCER_QUEUED;
            log_info(&r->log, "resync %s: asked for again (%s): %s", table, j->why,
                     j->state == RESYNCER_COPYING ? "the copy starts over after its current chunk"
                                                  : "merged with the one queued");
        }
    }
    if (ok)
        pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    return ok;
}

const char *resyncer_state_name(ResyncerState s)
{
    switch (s) {
    case RESYNCER_QUEUED:
        return "queued";
    case RESYNCER_COPYING:
        return "copying";
    case RESYNCER_RETRYING:
        return "retrying";
    case RESYNCER_DONE:
        return "done";
    }
    return "?";
}

size_t resyncer_jobs(Resyncer *r, ResyncerJobView **out)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->njobs;
    ResyncerJobView *v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const Job *j = r->jobs[i];
        v[i].table = xstrdup(j->table);
        v[i].why = xstrdup(j->why);
        v[i].ntargets = j->ntargets;
        v[i].targets = xcalloc(j->ntargets + 1, sizeof *v[i].targets);
        for (size_t k = 0; k < j->ntargets; k++)
            v[i].targets[k] = xstrdup(j->targets[k]);
        v[i].state = j->state;
        v[i].chunk = j->chunk;
        v[i].rows = j->rows;
        v[i].after = j->after ? xstrdup(j->after) : NULL;
        v[i].last_error = j->last_error ? xstrdup(j->last_error) : NULL;
        v[i].attempts = j->attempts;
    }
    pthread_mutex_unlock(&r->mu);
    *out = v;
    return n;
}

void resyncer_jobs_free(ResyncerJobView *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].table);
        free(v[i].why);
        for (size_t k = 0; k < v[i].ntargets; k++)
            free(v[i].targets[k]);
        free(v[i].targets);
        free(v[i].after);
        free(v[i].last_error);
    }
    free(v);
}

bool resyncer_busy(Resyncer *r, unsigned long *done)
{
    pthread_mutex_lock(&r->mu);
    if (done)
        *done = (unsigned long)r->done_seq;
    bool busy = false;
    for (size_t i = 0; i < r->njobs && !busy; i++)
        busy = r->jobs[i]->state != RESYNCER_DONE;
    pthread_mutex_unlock(&r->mu);
    return busy;
}

void resyncer_stop(Resyncer *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stopping = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (size_t i = 0; i < r->njobs; i++)
        job_free(r->jobs[i]);
    free(r->jobs);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
