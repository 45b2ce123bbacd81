/*
 * snapshot/point.c - see point.h.
 *
 * CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export') on a replication connection
 * returns the slot's consistent point and a snapshot name that stays valid while
 * that connection is idle; readers import it (SET TRANSACTION SNAPSHOT). A
 * second, ordinary connection watches the slot's safe_wal_size meanwhile.
 */
#include "snapshot/point.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "pg/conn.h"
#include "pg/source.h"
#include "pg/stream.h"
#include "state/store.h"

#define SNAP_WAL_WARN_BYTES (1024ll * 1024 * 1024)

static const LogCtx LOGC = {.component = "snapshot"};

/* ================================================================ time */

void snap_time_id(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void snap_time_rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ================================================================ the point */

struct SnapPoint {
    const Config *cfg;
    PgStream *exporter;
    PgConn *watch;
    char snapshot_name[64];
    char slot[64];
    bool helper;               /* a temporary helper slot: it ends with the exporting session */
    bool created;
    Lsn lsn;
};

SnapPoint *snap_point_open(const Config *cfg, SnapPointMode mode, Err *err)
{
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    if (!conn)
        return NULL;
    PgServerFacts facts;
    if (!pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, err)) {
        pgconn_close(conn);
        return NULL;
    }
    if (!source_check_wal_level(&facts, err)) {
        pgconn_close(conn);
        return NULL;
    }
    SnapPoint *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->watch = conn;
    bool use_main = mode != SNAP_POINT_HELPER && !facts.slot.exists;
    if (use_main) {
        snprintf(p->slot, sizeof p->slot, "%s", cfg->source.slot);
    } else {
        snprintf(p->slot, sizeof p->slot, "w2e_snap_%ld", (long)getpid());
        p->helper = true;
    }
    p->exporter = pgstream_connect(cfg->source.dsn, err);
    if (!p->exporter) {
        snap_point_close(p);
        return NULL;
    }
    PgSlotCreated sc;
    /* the main slot as every command makes it; a helper only exports the snapshot, then goes */
    bool made = use_main ? source_create_slot(p->exporter, p->slot, (SlotFailover)cfg->source.failover_slot,
                                             PGSLOT_EXPORT_SNAPSHOT, &sc, NULL, err)
                         : pgstream_create_slot(p->exporter, p->slot, PGSLOT_EXPORT_SNAPSHOT | PGSLOT_TEMPORARY, &sc, err);
    if (!made) {
        err_prefix(err, "creating %sreplication slot \"%s\"", p->helper ? "helper " : "", p->slot);
        p->helper = false; /* nothing to drop */
        snap_point_close(p);
        return NULL;
    }
    p->created = use_main;
    p->lsn = sc.consistent_point;
    if (use_main && !store_record_incarnation(cfg->state_dir, p->lsn, err)) {
        snap_point_close(p);
        return NULL;
    }
    snprintf(p->snapshot_name, sizeof p->snapshot_name, "%s", sc.snapshot_name);
    char l[LSN_STR_MAX];
    if (use_main)
        log_info(&LOGC, "created replication slot \"%s\" at %s; `wal2edge run` continues right after this point",
                 p->slot, lsn_format(p->lsn, l));
    return p;
}

Lsn snap_point_lsn(const SnapPoint *p) { return p->lsn; }
bool snap_point_created_slot(const SnapPoint *p) { return p->created; }
const char *snap_point_slot(const SnapPoint *p) { return p->slot; }

PgSnapshot *snap_point_reader(SnapPoint *p, Err *err)
{
    return pgsnap_open(p->cfg->source.dsn, p->snapshot_name, err);
}

void snap_point_check_wal(SnapPoint *p)
{
    if (!p->watch || !p->slot[0])
        return;
    PgServerFacts f;
    Err e;
    if (!pgconn_server_facts(p->watch, p->cfg->source.publication, p->slot, &f, &e))
        return;
    if (f.slot.exists && f.slot.safe_wal_size >= 0 && f.slot.safe_wal_size < SNAP_WAL_WARN_BYTES)
        log_warn(&LOGC,
                 "slot \"%s\" holding the snapshot point has only %" PRId64
                 " MB of WAL left before max_slot_wal_keep_size invalidates it (wal_status %s); "
                 "a lost slot ends the snapshot",
                 p->slot, f.slot.safe_wal_size / (1024 * 1024), f.slot.wal_status);
}

void snap_point_close(SnapPoint *p)
{
    if (!p)
        return;
    /* The helper slot is temporary: the server drops it as this session ends, and
     * also when the process dies without getting here, so it never pins WAL. */
    pgstream_close(p->exporter);
    pgconn_close(p->watch);
    free(p);
}

