/*
 * daemon/newmap.c - see newmap.h. At a start the config's pairs are compared
 * with the record in Postgres (pg/copied); the new ones are grouped by table,
 * and each table is asked of the runner with just its new targets, so the
 * targets that already hold the table get nothing again (no read events twice
 * into a queue). A watcher thread asks the runner every NEWMAP_POLL_MS whether
 * a table's copy has sent its last chunk and then records its pairs: the
 * chunks travel in the WAL after every target's checkpoint, so once sent they
 * reach the new targets even across a restart. A start that finds a pair not
 * recorded (a stop, a crash or a takeover before the copy ended) copies it
 * again: upserts and range deletes, the same rows.
 */
#include "daemon/newmap.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "daemon/resyncer.h"

#define NEWMAP_POLL_MS 500

typedef struct NewTable {
    char *table;
    char **targets;
    size_t ntargets;
    bool asked, recorded;
} NewTable;

struct NewMap {
    const Config *cfg;
    NewTable *tables;
    size_t count, pairs;
    LogCtx log;
    NewMapRunner runner;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stopping;
};

static void add_new(NewMap *nm, const CopiedPair *p)
{
    NewTable *t = NULL;
    for (size_t i = 0; i < nm->count && !t; i++)
        if (strcmp(nm->tables[i].table, p->table) == 0)
            t = &nm->tables[i];
    if (!t) {
        nm->tables = xrealloc(nm->tables, (nm->count + 1) * sizeof *nm->tables);
        t = &nm->tables[nm->count++];
        memset(t, 0, sizeof *t);
        t->table = xstrdup(p->table);
    }
    t->targets = xrealloc(t->targets, (t->ntargets + 1) * sizeof *t->targets);
    t->targets[t->ntargets++] = xstrdup(p->target);
    nm->pairs++;
}

/* Compare with the record (begun now when it has not been) and put the new tables into the publication. */
static bool find_new(NewMap *nm, PgConn *conn, const CopiedPair *pairs, size_t n, Err *err)
{
    const char *slot = nm->cfg->source.slot;
    CopiedPair *done = NULL;
    size_t ndone = 0;
    bool begun = false;
    if (!copied_ensure(conn, err) || !copied_load(conn, slot, &done, &ndone, &begun, err))
        return false;
    bool ok = true;
    if (!begun) {
        /* the first start with the record: what is mapped now was copied by migrate and warm */
        ok = copied_begin(conn, slot, pairs, n, err);
        if (ok)
            log_info(&nm->log, "recording the tables copied into each target in " COPIED_TABLE
                     " (%zu now mapped, taken as copied)", n);
    } else {
        for (size_t i = 0; i < n; i++)
            if (!copied_has(done, ndone, pairs[i].target, pairs[i].table))
                add_new(nm, &pairs[i]);
    }
    copied_pairs_free(done, ndone);
    for (size_t i = 0; ok && i < nm->count; i++) {
        NewTable *t = &nm->tables[i];
        bool added = false;
        ok = pgconn_publication_add(conn, nm->cfg->source.publication, t->table, &added, err);
        if (!ok)
            err_prefix(err, "new mapping of %s", t->table);
        if (ok && added)
            log_info(&nm->log, "added %s to publication \"%s\" (a new mapping)", t->table,
                     nm->cfg->source.publication);
        for (size_t k = 0; ok && k < t->ntargets; k++)
            log_info(&nm->log, "%s: a new mapping of %s: its rows are copied into it while run streams",
                     t->targets[k], t->table);
    }
    return ok;
}

NewMap *newmap_prepare(const Config *cfg, const CopiedPair *pairs, size_t n, Err *err)
{
    NewMap *nm = xcalloc(1, sizeof *nm);
    nm->cfg = cfg;
    nm->log.component = "run";
    nm->log.slot = cfg->source.slot;
    pthread_mutex_init(&nm->mu, NULL);
    pthread_cond_init(&nm->wake, NULL);
    if (n == 0)
        return nm; /* a change-log-only run: nothing to copy, no record needed */
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    bool ok = conn && find_new(nm, conn, pairs, n, err);
    pgconn_close(conn);
    if (!ok) {
        newmap_free(nm);
        return NULL;
    }
    return nm;
}

size_t newmap_count(const NewMap *nm) { return nm ? nm->pairs : 0; }

/* Record the pairs of t (its copy sent); false with *err to try again later. */
static bool record(NewMap *nm, PgConn **conn, NewTable *t, Err *err)
{
    if (!*conn && !(*conn = pgconn_open(nm->cfg->source.dsn, err)))
        return false;
    for (size_t k = 0; k < t->ntargets; k++)
        if (!copied_save(*conn, nm->cfg->source.slot, t->targets[k], t->table, err)) {
            pgconn_close(*conn);
            *conn = NULL;
            return false;
        }
    log_info(&nm->log, "%s: every chunk of the new mapping's copy is sent (recorded in " COPIED_TABLE ")", t->table);
    t->recorded = true;
    return true;
}

static void *watch(void *arg)
{
    NewMap *nm = arg;
    PgConn *conn = NULL;
    pthread_mutex_lock(&nm->mu);
    while (!nm->stopping) {
        bool left = false;
        pthread_mutex_unlock(&nm->mu);
        for (size_t i = 0; i < nm->count; i++) {
            NewTable *t = &nm->tables[i];
            Err err;
            if (t->recorded)
                continue;
            if (!t->asked) {
                t->asked = nm->runner.request(nm->runner.ctx, t->table, (const char *const *)t->targets, t->ntargets,
                                              NEWMAP_WHY, &err);
                if (!t->asked)
                    log_warn(&nm->log, "asking for the copy of %s (a new mapping): %s; asked again shortly",
                             t->table, err.msg);
            }
            bool sent = t->asked && nm->runner.done(nm->runner.ctx, t->table);
            if (sent && !record(nm, &conn, t, &err))
                log_warn(&nm->log, "recording the copy of %s: %s; recorded again shortly", t->table, err.msg);
            left = left || !t->recorded;
        }
        pthread_mutex_lock(&nm->mu);
        if (!left)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += NEWMAP_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!nm->stopping)
            (void)pthread_cond_timedwait(&nm->wake, &nm->mu, &until);
    }
    pthread_mutex_unlock(&nm->mu);
    pgconn_close(conn);
    return NULL;
}

void newmap_start(NewMap *nm, const NewMapRunner *runner)
{
    if (!nm || nm->count == 0 || nm->started)
        return;
    nm->runner = *runner;
    nm->stopping = false;
    /* the signals stay the main loop's: the thread starts with them blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    nm->started = pthread_create(&nm->thread, NULL, watch, nm) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!nm->started)
        log_warn(&nm->log, "cannot start the new mappings' copy (no thread); the next start tries again");
}

/* ---- the runner: run's resyncer ---- */

/* Whether view v covers copying table into targets[0..n) (its targets none: every one). */
static bool covers(const ResyncerJobView *v, const char *table, const char *const *targets, size_t n)
{
    if (strcmp(v->table, table) != 0)
        return false;
    if (!v->ntargets)
        return true;
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        for (size_t k = 0; k < v->ntargets && !have; k++)
            have = strcmp(v->targets[k], targets[i]) == 0;
        if (!have)
            return false;
    }
    return true;
}

/* Ask for the copy, unless a job that covers it is already there (left unfinished by the last
 * run, and resumed: asking again would start it over). */
static bool rs_request(void *ctx, const char *table, const char *const *targets, size_t n, const char *why, Err *err)
{
    ResyncerJobView *v = NULL;
    size_t nv = resyncer_jobs(ctx, &v);
    bool there = false;
    for (size_t i = 0; i < nv && !there; i++)
        there = v[i].state != RESYNCER_DONE && covers(&v[i], table, targets, n);
    resyncer_jobs_free(v, nv);
    return there || resyncer_request(ctx, table, targets, n, why, 0, err);
}

/* Every chunk sent: no job of the table left, one done. */
static bool rs_done(void *ctx, const char *table)
{
    ResyncerJobView *v = NULL;
    size_t nv = resyncer_jobs(ctx, &v);
    bool done = false, open = false;
    for (size_t i = 0; i < nv; i++) {
        if (strcmp(v[i].table, table) != 0)
            continue;
        open = open || v[i].state != RESYNCER_DONE;
        done = done || v[i].state == RESYNCER_DONE;
    }
    resyncer_jobs_free(v, nv);
    return done && !open;
}

void newmap_attach(void *user, Resyncer *resyncer)
{
    NewMap *nm = user;
    if (!resyncer) {
        newmap_stop(nm);
        return;
    }
    NewMapRunner runner = {rs_request, rs_done, resyncer};
    newmap_start(nm, &runner);
}

void newmap_stop(NewMap *nm)
{
    if (!nm || !nm->started)
        return;
    pthread_mutex_lock(&nm->mu);
    nm->stopping = true;
    pthread_cond_signal(&nm->wake);
    pthread_mutex_unlock(&nm->mu);
    pthread_join(nm->thread, NULL);
    nm->started = false;
}

void newmap_free(NewMap *nm)
{
    if (!nm)
        return;
    newmap_stop(nm);
    for (size_t i = 0; i < nm->count; i++) {
        for (size_t k = 0; k < nm->tables[i].ntargets; k++)
            free(nm->tables[i].targets[k]);
        free(nm->tables[i].targets);
        free(nm->tables[i].table);
    }
    free(nm->tables);
    pthread_cond_destroy(&nm->wake);
    pthread_mutex_destroy(&nm->mu);
    free(nm);
}
