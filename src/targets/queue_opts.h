/*
 * targets/queue_opts.h - a mapping's "queue" section.
 *
 * Owns:     parsing Mapping.queue_node with FILE:LINE:COL errors ("queue",
 *           "ops", "exclude", "route", "oversize", "claim_check", "on_error"
 *           is the mapping's) and whether a mapping may send to a queue.
 * Not mine: publishing (targets/queue), the event format (pipeline/event).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_TARGETS_QUEUE_OPTS_H
#define WAL2EDGE_TARGETS_QUEUE_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"

#define QUEUE_CLAIM_PREFIX "wal2edge-claims"

enum {
    QUEUE_OP_C = 1,
    QUEUE_OP_U = 2,
    QUEUE_OP_D = 4,
    QUEUE_OP_T = 8,
    QUEUE_OP_ALL = 15,
};

typedef struct QueueRoute {
    char *value;               /* the column's Postgres text */
    char *queue;               /* a queues target of the config */
} QueueRoute;

/* A mapping's "queue" section. */
typedef struct QueueMapOptions {
    char *queue;               /* the default queue */
    unsigned ops;              /* QUEUE_OP_* */
    char **exclude;
    size_t exclude_count;
    char *route_column;        /* NULL: no routing */
    QueueRoute *routes;
    size_t route_count;
    bool claim_check;          /* "oversize": "claim_check" (default "error") */
    char *claim_bucket;        /* an r2 target of the config */
    char *claim_prefix;        /* default QUEUE_CLAIM_PREFIX */
} QueueMapOptions;

/*
 * Parse m->queue_node (the mapping's "queue" object):
 *   {"queue": "changes",
 *    "ops": ["c","u","d","t"],                 // or "insert","update","delete","truncate"
 *    "exclude": ["password_hash"],
 *    "route": {"column": "region", "queues": {"eu": "changes_eu"}},  // others → "queue"
 *    "oversize": "claim_check" | "error",      // default "error"
 *    "claim_check": {"bucket": "lake", "prefix": "wal2edge-claims"}}
 * ERR_CONFIG "FILE:LINE:COL: queue.KEY: problem". cfg (may be NULL) checks target names.
 */
bool queue_map_options_parse(const Mapping *m, const Config *cfg, QueueMapOptions *out, Err *err) WARN_UNUSED;
void queue_map_options_clear(QueueMapOptions *o);
/* Whether events of a mapping with these options may go to queue `name`. */
bool queue_map_options_uses(const QueueMapOptions *o, const char *name);

#endif
