/*
 * daemon/standby.c - see standby.h. One Postgres connection polls the slot's row in
 * pg_replication_slots (active, active_pid) with a backoff from 200 ms to 1 s; a connection
 * that fails is closed and opened again at the next poll. The log says when the holder
 * changes and how long the wait lasted, not every poll.
 */
#include "daemon/standby.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "daemon/backoff.h"
#include "daemon/signals.h"
#include "metrics/metrics.h"
#include "state/lock.h"

bool standby_check_config(const Config *cfg, const char *target_log, Err *err)
{
    const char *log_path = target_log ? target_log : cfg->changelog_path;
    if (log_path)
        return err_set(err, ERR_CONFIG,
                       "run --standby: the change log (%s) is a file of this machine, which the instance that "
                       "takes over cannot continue; leave it out of a standby group",
                       log_path);
    for (size_t i = 0; i < cfg->target_count; i++) {
        const ConfigTarget *t = &cfg->targets[i];
        if (t->kind != TARGET_R2 && target_is_embedded(t))
            return err_set(err, ERR_CONFIG,
                           "run --standby: %s.%s is the embedded store (%s), a file of this machine that the "
                           "instance that takes over cannot read; give it its Cloudflare id (%s:%d:%d)",
                           target_kind_name(t->kind), t->name, t->embedded_path, cfg->path, t->line, t->col);
    }
    return true;
}

StandbyVerdict standby_judge(const PgSlotFacts *slot, const char *slot_name, char *why, size_t why_size)
{
    if (!slot->exists) {
        snprintf(why, why_size, "replication slot \"%s\" does not exist (the run creates it)", slot_name);
        return STANDBY_TAKE;
    }
    if (!slot->active) {
        snprintf(why, why_size, "replication slot \"%s\" is free", slot_name);
        return STANDBY_TAKE;
    }
    if (slot->active_pid > 0)
        snprintf(why, why_size, "replication slot \"%s\" is held by the walsender of PID %d (another instance)",
                 slot_name, slot->active_pid);
    else
        snprintf(why, why_size, "replication slot \"%s\" is held by another instance", slot_name);
    return STANDBY_WAIT;
}

bool standby_wait(const Config *cfg, bool *stopped, Err *err)
{
    LogCtx lc = {.component = "standby", .slot = cfg->source.slot};
    int lock_fd = -1;
    if (!state_dir_lock(cfg->state_dir, "run", &lock_fd, err))
        return false;
    Metrics *metrics = NULL;
    if (!metrics_open(cfg, NULL, 0, &metrics, err)) {
        state_dir_unlock(lock_fd);
        return false;
    }
    Backoff poll;
    backoff_init(&poll, STANDBY_POLL_MIN_MS, STANDBY_POLL_MAX_MS);
    PgConn *conn = NULL;
    char why[ERR_MSG_MAX + 64] = "", last[ERR_MSG_MAX + 64] = "";
    int64_t since_ms = clock_mono_ms();
    bool free_now = false;
    while (!free_now) {
        if (signals_stop_requested()) {
            *stopped = true;
            break;
        }
        Err perr;
        PgSlotFacts facts;
        if (!conn)
            conn = pgconn_open(cfg->source.dsn, &perr);
        if (conn && pgconn_slot_facts(conn, cfg->source.slot, &facts, &perr)) {
            free_now = standby_judge(&facts, cfg->source.slot, why, sizeof why) == STANDBY_TAKE;
        } else {
            pgconn_close(conn); /* opened again at the next poll */
            conn = NULL;
            snprintf(why, sizeof why, "cannot read the slot: %s", perr.msg);
        }
        if (!free_now) {
            if (strcmp(why, last) != 0) {
                log_info(&lc, "standby: %s; waiting (polling every %d ms at most)", why, STANDBY_POLL_MAX_MS);
                snprintf(last, sizeof last, "%s", why);
            }
            metrics_set_state(metrics, METRICS_STANDBY, why);
            signals_sleep_ms(backoff_next(&poll, (uint32_t)clock_wall_us()));
        }
    }
    if (free_now)
        log_info(&lc, "standby: %s after %.1f s of waiting; taking over", why,
                 (double)(clock_mono_ms() - since_ms) / 1e3);
    pgconn_close(conn);
    metrics_stop(metrics);
    state_dir_unlock(lock_fd);
    return free_now;
}
