/*
 * daemon/newmap.h - a mapping new to a running pipeline: found at every start of
 *                   `run` (and so at every SIGHUP reload), and its table copied
 *                   into the new targets only.
 *
 * Owns:     comparing a config's (mapped table, target) pairs with
 *           the record of the pairs already copied (pg/copied: in Postgres, so
 *           a standby taking over with an empty state directory finds the same
 *           record); beginning that record with every pair mapped at the first
 *           start that has it (an upgraded pipeline copies nothing again);
 *           putting a new pair's table into the publication; asking a runner
 *           to copy each new table into its new targets only; recording the
 *           pairs once the runner has sent every chunk.
 * Not mine: the copy (the runner: daemon/resyncer in `run`, newmap_attach), creating the D1
 *           tables (each D1 target creates its mapped tables when it opens),
 *           loading the config (cli/cmd_run).
 * Threads:  newmap_start starts a thread that watches the runner until
 *           newmap_stop; the runner's functions are called from it.
 */
#ifndef WAL2EDGE_DAEMON_NEWMAP_H
#define WAL2EDGE_DAEMON_NEWMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "daemon/resyncer.h"
#include "pg/copied.h"

#define NEWMAP_WHY "new mapping"

/* What copies a table into some of its targets (daemon/resyncer behind it). */
typedef struct NewMapRunner {
    bool (*request)(void *ctx, const char *table, const char *const *targets, size_t ntargets, const char *why,
                    Err *err);
    /* every chunk of the copy of table asked for is sent */
    bool (*done)(void *ctx, const char *table);
    void *ctx;
} NewMapRunner;

typedef struct NewMap NewMap;

/*
 * pairs: every (target, table) pair the config maps (cli/cmd_run, through targets/registry).
 * Read the record and find the new pairs (each logged, its table put into the publication
 * when that is not FOR ALL TABLES and lacks it). NULL with *err when Postgres cannot be read
 * or written (ERR_PG: the record needs CREATE on schema public).
 */
NewMap *newmap_prepare(const Config *cfg, const CopiedPair *pairs, size_t count, Err *err) WARN_UNUSED;
/* How many pairs are new (to copy). */
size_t newmap_count(const NewMap *nm);
/* Ask runner for the copies and watch it, recording each table's pairs once sent. cfg must
 * outlive newmap_stop. A request that fails is logged and asked again. */
void newmap_start(NewMap *nm, const NewMapRunner *runner);
/* RunOptions.on_resyncer (user: the NewMap): run's resyncer is the runner - started with it, stopped
 * before it goes (NULL). */
void newmap_attach(void *user, Resyncer *resyncer);
/* Stop watching (pairs not recorded are found new again at the next start). */
void newmap_stop(NewMap *nm);
void newmap_free(NewMap *nm);

#endif
