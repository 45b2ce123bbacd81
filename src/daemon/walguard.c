/*
 * daemon/walguard.c - see walguard.h.
 *
 * Called from the run loop's tick, it does its own timing on the monotonic clock:
 * every WALGUARD_POLL_MS it reads the slot's facts over an ordinary connection
 * (opened on demand, dropped and reopened on the next tick after an error), feeds
 * the metrics and judges the slot; a problem is logged when it starts and then
 * once per WALGUARD_WARN_EVERY_MS, and recovery once. A heartbeat message is
 * emitted only after heartbeat_interval_ms without source traffic or heartbeat,
 * so a busy source gets none; if the role may not emit messages that is said once
 * and heartbeats stop rather than failing the run.
 */
#include "daemon/walguard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "pg/conn.h"

struct WalGuard {
    const Config *cfg;
    Metrics *metrics;
    LogCtx log;
    PgConn *conn;
    int64_t last_poll_ms;
    int64_t last_warn_ms;
    WalGuardLevel last_level;
    int64_t last_heartbeat_ms;
    bool heartbeat_refused;        /* the role may not emit messages: said once, not retried */
};

WalGuard *walguard_new(const Config *cfg, Metrics *metrics)
{
    WalGuard *g = xcalloc(1, sizeof *g);
    g->cfg = cfg;
    g->metrics = metrics;
    g->log.component = "walguard";
    g->log.slot = cfg->source.slot;
    g->last_poll_ms = -WALGUARD_POLL_MS;
    g->last_warn_ms = -WALGUARD_WARN_EVERY_MS;
    return g;
}

void walguard_free(WalGuard *g)
{
    if (!g)
        return;
    pgconn_close(g->conn);
    free(g);
}

WalGuardLevel walguard_judge(const char *wal_status, int64_t retained_bytes, int64_t max_retained, char *what,
                             size_t size)
{
    char scratch[8];
    if (!what) {
        what = scratch;
        size = sizeof scratch;
    }
    what[0] = '\0';
    if (strcmp(wal_status, "lost") == 0) {
        snprintf(what, size, "is lost (wal_status lost): the server removed WAL it still needed");
        return WALGUARD_ERROR;
    }
    if (strcmp(wal_status, "unreserved") == 0) {
        snprintf(what, size, "is unreserved (wal_status unreserved): it will be lost at the next checkpoint "
                 "unless it catches up");
        return WALGUARD_WARNING;
    }
    if (retained_bytes > max_retained) {
        snprintf(what, size, "retains %lld bytes of WAL, over source.max_retained_wal_bytes (%lld)",
                 (long long)retained_bytes, (long long)max_retained);
        return WALGUARD_WARNING;
    }
    return WALGUARD_OK;
}

/* A connection, opened on demand; a failure is logged at debug and retried on the next tick. */
static PgConn *conn_of(WalGuard *g)
{
    if (!g->conn) {
        Err err;
        g->conn = pgconn_open(g->cfg->source.dsn, &err);
        if (!g->conn)
            log_debug(&g->log, "%s", err.msg);
    }
    return g->conn;
}

static void drop_conn(WalGuard *g, const Err *err)
{
    log_debug(&g->log, "%s", err->msg);
    pgconn_close(g->conn);
    g->conn = NULL;
}

static void poll_slot(WalGuard *g, int64_t now)
{
    g->last_poll_ms = now;
    PgConn *conn = conn_of(g);
    PgSlotFacts facts;
    Err err;
    if (!conn)
        return;
    if (!pgconn_slot_facts(conn, g->cfg->source.slot, &facts, &err)) {
        drop_conn(g, &err);
        return;
    }
    char what[256];
    WalGuardLevel level = facts.exists ? walguard_judge(facts.wal_status, facts.retained_bytes,
                                                        g->cfg->source.max_retained_wal_bytes, what, sizeof what)
                                       : WALGUARD_OK;
    metrics_slot(g->metrics, &facts, level == WALGUARD_OK ? NULL : what);
    /* said when it starts, then once a minute while it lasts */
    if (level != WALGUARD_OK && (level != g->last_level || now - g->last_warn_ms >= WALGUARD_WARN_EVERY_MS)) {
        g->last_warn_ms = now;
        log_msg(&g->log, level == WALGUARD_ERROR ? LOG_ERROR : LOG_WARN, "replication slot \"%s\" %s",
                g->cfg->source.slot, what);
    } else if (level == WALGUARD_OK && g->last_level != WALGUARD_OK) {
        log_info(&g->log, "replication slot \"%s\" is within its limits again", g->cfg->source.slot);
    }
    g->last_level = level;
}

static void heartbeat(WalGuard *g, int64_t now)
{
    g->last_heartbeat_ms = now;
    PgConn *conn = conn_of(g);
    if (!conn)
        return;
    char content[32];
    snprintf(content, sizeof content, "%lld", (long long)time(NULL));
    Err err;
    if (pgconn_emit_heartbeat(conn, content, &err)) {
        log_debug(&g->log, "heartbeat sent");
        return;
    }
    if (err.code == ERR_PG && strstr(err.msg, "permission denied")) {
        g->heartbeat_refused = true;
        log_warn(&g->log, "heartbeats are off: %s (grant EXECUTE ON FUNCTION pg_logical_emit_message to this "
                 "role, or set source.heartbeat_interval_ms to 0); an idle database may keep WAL pinned",
                 err.msg);
        return;
    }
    drop_conn(g, &err);
}

void walguard_tick(WalGuard *g, int64_t quiet_since_ms)
{
    int64_t now = clock_mono_ms();
    if (now - g->last_poll_ms >= WALGUARD_POLL_MS)
        poll_slot(g, now);
    int64_t interval = g->cfg->source.heartbeat_interval_ms;
    int64_t since = quiet_since_ms > g->last_heartbeat_ms ? quiet_since_ms : g->last_heartbeat_ms;
    if (interval > 0 && !g->heartbeat_refused && now - since >= interval)
        heartbeat(g, now);
}
