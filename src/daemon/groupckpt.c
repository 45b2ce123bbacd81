/*
 * daemon/groupckpt.c - see groupckpt.h. It remembers, per target index, the checkpoint it last
 * wrote, so a save with nothing new costs no round trip.
 */
#include "daemon/groupckpt.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "pg/sharedckpt.h"

#define GROUPCKPT_MAX_TARGETS 256

struct GroupCkpt {
    const Config *cfg;
    const LogCtx *log;
    PgConn *conn;
    bool table_ready;
    TargetCheckpoint saved[GROUPCKPT_MAX_TARGETS];
};

GroupCkpt *groupckpt_new(const Config *cfg, const LogCtx *log)
{
    GroupCkpt *g = xcalloc(1, sizeof *g);
    g->cfg = cfg;
    g->log = log;
    return g;
}

void groupckpt_free(GroupCkpt *g)
{
    if (!g)
        return;
    pgconn_close(g->conn);
    free(g);
}

static bool open_conn(GroupCkpt *g, Err *err)
{
    if (!g->conn)
        g->conn = pgconn_open(g->cfg->source.dsn, err);
    return g->conn != NULL;
}

static bool failed(GroupCkpt *g)
{
    pgconn_close(g->conn); /* opened again next time */
    g->conn = NULL;
    g->table_ready = false;
    return false;
}

/* Queues and KV keep their checkpoint on the machine; D1's is in D1, the change log's in its file. */
static bool kept_locally(const Target *t)
{
    return strcmp(t->ops->kind, "queue") == 0 || strcmp(t->ops->kind, "kv") == 0;
}

bool groupckpt_adopt(GroupCkpt *g, Fanout *f, Err *err)
{
    if (!open_conn(g, err))
        return false;
    for (size_t i = 0; i < fanout_count(f); i++) {
        Target *t = fanout_target(f, i);
        TargetCheckpoint own = target_durable(t), group;
        bool found = false;
        if (!kept_locally(t) || !t->ops->fence)
            continue;
        if (!sharedckpt_load(g->conn, g->cfg->source.slot, t->name, &group, &found, err))
            return failed(g);
        if (!found || group.end_lsn <= own.end_lsn)
            continue;
        char was[LSN_STR_MAX], now[LSN_STR_MAX];
        log_info(g->log, "%s: its checkpoint here (%s) is behind the standby group's (%s): it moves there", t->name,
                 lsn_format(own.end_lsn, was), lsn_format(group.end_lsn, now));
        if ((t->ops->adopt && !t->ops->adopt(t, err)) || !t->ops->fence(t, &group, clock_wall_us(), err) ||
            !t->ops->flush(t, err)) {
            err_prefix_name(err, t->name);
            return false;
        }
    }
    return true;
}

bool groupckpt_save(GroupCkpt *g, const Fanout *f, Err *err)
{
    size_t n = fanout_count(f) < GROUPCKPT_MAX_TARGETS ? fanout_count(f) : GROUPCKPT_MAX_TARGETS;
    for (size_t i = 0; i < n; i++) {
        TargetCheckpoint cp = target_durable(fanout_target(f, i));
        if (cp.commit_lsn == 0 || cp.end_lsn == g->saved[i].end_lsn)
            continue;
        if (!open_conn(g, err))
            return false;
        if (!g->table_ready && !sharedckpt_ensure(g->conn, err))
            return failed(g);
        g->table_ready = true;
        if (!sharedckpt_save(g->conn, g->cfg->source.slot, fanout_target(f, i)->name, &cp, err))
            return failed(g);
        g->saved[i] = cp;
    }
    return true;
}
