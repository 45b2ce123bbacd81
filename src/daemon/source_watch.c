/*
 * daemon/source_watch.c - see source_watch.h.
 *
 * Each filler (D1, KV, and the event stream for tables with neither) records the
 * OID of every table it copied in the state store. Every interval the watch reads
 * the current OIDs and publication membership over a connection it keeps, and
 * judges each table: a first sighting is recorded; a dropped table, one dropped
 * and created again under a new OID, or one missing from the publication stops
 * the run with the commands that restore it (which re-copies are needed depends
 * on which fillers hold old rows). A stream-only table created again just goes
 * on with a warning. Catalog errors only warn and the next check retries; a
 * store error or a verdict stops.
 */
#include "daemon/source_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "pg/conn.h"

struct SourceWatch {
    const Config *cfg;
    Store *store;
    const SourceWatchTable *tables;
    size_t count;
    const char **names;
    CatTableId *ids;
    int interval_ms;
    int64_t last_ms;
    PgConn *conn;              /* kept between checks */
    bool read_only;
    const ResyncHook *repair;  /* run: re-add, re-copy, go on (source_watch_repair); NULL: stop */
    bool *drop_logged;         /* per table: its drop was logged */
    LogCtx log;
};

/* when an OID was recorded: for people reading the store, seconds are plenty */
#define RECORDED_AT_US() ((int64_t)time(NULL) * 1000000)

SourceWatchTable *source_watch_tables(const MappingSet *maps)
{
    SourceWatchTable *t = xcalloc(maps->count + 1, sizeof *t);
    for (size_t i = 0; i < maps->count; i++)
        t[i] = (SourceWatchTable){maps->items[i].source, maps->items[i].d1.present, maps->items[i].kv_count > 0};
    return t;
}

SourceWatch *source_watch_new(const Config *cfg, Store *store, const SourceWatchTable *tables, size_t count,
                              int interval_ms)
{
    SourceWatch *w = xcalloc(1, sizeof *w);
    w->cfg = cfg;
    w->store = store;
    w->tables = tables;
    w->count = count;
    w->names = xcalloc(count + 1, sizeof *w->names);
    w->ids = xcalloc(count + 1, sizeof *w->ids);
    for (size_t i = 0; i < count; i++)
        w->names[i] = tables[i].qualname;
    w->interval_ms = interval_ms;
    w->last_ms = clock_mono_ms();
    w->log.component = "run";
    w->log.slot = cfg->source.slot;
    return w;
}

void source_watch_read_only(SourceWatch *w) { w->read_only = true; }

void source_watch_repair(SourceWatch *w, const ResyncHook *hook)
{
    w->repair = hook;
    free(w->drop_logged);
    w->drop_logged = xcalloc(w->count + 1, sizeof *w->drop_logged);
}

void source_watch_free(SourceWatch *w)
{
    if (!w)
        return;
    pgconn_close(w->conn);
    free(w->drop_logged);
    free(w->names);
    free(w->ids);
    free(w);
}

static const char *const filler_name[SOURCE_WATCH_FILLERS] = {"d1", "kv", "stream"};

/* The way back: re-copy what holds the old rows (stale[f]), then run. */
static bool way_back(Buf *b, const SourceWatchTable *t, const bool stale[SOURCE_WATCH_FILLERS], Err *e)
{
    return (!stale[SOURCE_WATCH_D1] || buf_append_str(b, "wal2edge migrate (its D1 table); ", e)) &&
           (!stale[SOURCE_WATCH_KV] || buf_printf(b, e, "wal2edge warm --mapping %s (its KV keys); ", t->qualname)) &&
           buf_append_str(b, "then wal2edge run", e);
}

static bool stop(Err *err, Buf *b)
{
    err_set(err, ERR_CHECK, "%s", b->data ? b->data : "a mapped table changed");
    buf_free(b);
    return false;
}

bool source_watch_judge(const SourceWatchTable *t, const char *publication, const CatTableId *id, bool pub_exists,
                        const SourceWatchSeen seen[SOURCE_WATCH_FILLERS], SourceWatchVerdict *v, Err *err)
{
    memset(v, 0, sizeof *v);
    bool uses[SOURCE_WATCH_FILLERS] = {t->d1, t->kv, !t->d1 && !t->kv};
    bool stale[SOURCE_WATCH_FILLERS] = {false, false, false};
    bool any_stale = false, any_seen = false;
    uint32_t old_oid = 0;
    for (int f = 0; f < SOURCE_WATCH_FILLERS; f++) {
        if (!uses[f])
            continue;
        if (seen[f].found && !any_stale)
            old_oid = seen[f].oid;
        any_seen = any_seen || seen[f].found;
        if (!id->exists || (seen[f].found && seen[f].oid == id->oid))
            continue;
        if (!seen[f].found || f == SOURCE_WATCH_STREAM) {
            /* first sight; or events only: nothing to re-copy, the new table's changes simply follow */
            v->record[f] = true;
            v->recreated_stream = seen[f].found;
            continue;
        }
        stale[f] = true;
        if (!any_stale)
            old_oid = seen[f].oid;
        any_stale = true;
    }
    /* a message too long for the buffer is cut short by err_set anyway: ok only chains the parts */
    Buf b;
    Err e;
    buf_init(&b, 4 * ERR_MSG_MAX);
    bool ok;
    if (!id->exists) {
        if (!any_seen)
            return true; /* never seen: the targets report a table they cannot find */
        bool all[SOURCE_WATCH_FILLERS] = {t->d1, t->kv, false};
        ok = buf_printf(&b, &e,
                        "table %s was dropped (it was OID %u): its targets keep its last rows; the way back: create "
                        "it again, add it to publication \"%s\", then ",
                        t->qualname, old_oid, publication) &&
             way_back(&b, t, all, &e) && buf_append_str(&b, " (or remove its mapping)", &e);
        (void)ok;
        return stop(err, &b);
    }
    bool unpublished = pub_exists && !id->in_publication;
    if (!any_stale && !unpublished)
        return true;
    if (any_stale) {
        ok = buf_printf(&b, &e, "table %s was dropped and created again (OID %u, now %u)%s: its targets hold the "
                        "old table's rows; the way back: ",
                        t->qualname, old_oid, id->oid, unpublished ? " and is missing from the publication" : "");
    } else {
        /* its changes were missed meanwhile: everything that holds its rows is re-copied */
        stale[SOURCE_WATCH_D1] = t->d1;
        stale[SOURCE_WATCH_KV] = t->kv;
        ok = buf_printf(&b, &e, "table %s is missing from publication \"%s\": its changes are not streamed; the "
                        "way back: ", t->qualname, publication);
    }
    ok = ok && (!unpublished || buf_printf(&b, &e, "ALTER PUBLICATION \"%s\" ADD TABLE %s; ", publication,
                                           t->qualname)) &&
         way_back(&b, t, stale, &e);
    (void)ok;
    return stop(err, &b);
}

/*
 * run's way instead of a stop (source_watch_repair): *handled when t was dropped (logged once), or
 * dropped and created again or missing from the publication (added back, copied again, recorded).
 */
static bool repair(SourceWatch *w, size_t i, const CatTableId *id, bool pub_exists,
                   const SourceWatchSeen seen[SOURCE_WATCH_FILLERS], bool *handled, Err *err)
{
    const SourceWatchTable *t = &w->tables[i];
    bool uses[SOURCE_WATCH_FILLERS] = {t->d1, t->kv, !t->d1 && !t->kv};
    bool any_seen = false, stale = false;
    uint32_t old_oid = 0;
    for (int f = 0; f < SOURCE_WATCH_FILLERS; f++) {
        if (!uses[f] || !seen[f].found)
            continue;
        any_seen = true;
        if (id->exists && seen[f].oid != id->oid) {
            stale = true;
            old_oid = seen[f].oid;
        }
    }
    *handled = false;
    if (!id->exists) {
        *handled = any_seen;
        if (any_seen && !w->drop_logged[i])
            log_warn(&w->log, "table %s was dropped: its targets follow its mapping's \"on_drop\" (\"drop\" or "
                     "\"keep\"), and run goes on; created again, it is added back and copied again", t->qualname);
        w->drop_logged[i] = w->drop_logged[i] || any_seen;
        return true;
    }
    w->drop_logged[i] = false;
    bool unpublished = pub_exists && !id->in_publication;
    if (!stale && !unpublished)
        return true;
    bool added = false;
    if (unpublished && !pgconn_publication_add(w->conn, w->cfg->source.publication, t->qualname, &added, err))
        return false;
    char why[256];
    if (stale)
        snprintf(why, sizeof why, "it was dropped and created again (OID %u, now %u)", old_oid, id->oid);
    else
        snprintf(why, sizeof why, "it was missing from publication \"%s\": its changes were not streamed",
                 w->cfg->source.publication);
    log_warn(&w->log, "table %s: %s%s; it is copied again into its targets", t->qualname, why,
             unpublished ? ": added back to the publication" : "");
    if (!w->repair->request(w->repair->ctx, NULL, t->qualname, why, 0, err)) /* (no change in the stream asks) */
        return false;
    for (int f = 0; f < SOURCE_WATCH_FILLERS; f++)
        if (uses[f] && !store_set_table_oid(w->store, t->qualname, filler_name[f], id->oid, RECORDED_AT_US(), err))
            return false;
    *handled = true;
    return true;
}

/* Compare one table with what its fillers recorded; false (with the message) to stop. */
static bool check_table(SourceWatch *w, size_t i, const CatTableId *id, bool pub_exists, Err *err)
{
    const SourceWatchTable *t = &w->tables[i];
    SourceWatchSeen seen[SOURCE_WATCH_FILLERS];
    memset(seen, 0, sizeof seen);
    for (int f = 0; f < SOURCE_WATCH_FILLERS; f++)
        if (!store_table_oid(w->store, t->qualname, filler_name[f], &seen[f].oid, &seen[f].found, err))
            return false;
    bool handled = false;
    if (w->repair && !w->read_only && !repair(w, i, id, pub_exists, seen, &handled, err))
        return false;
    if (handled)
        return true;
    SourceWatchVerdict v;
    if (!source_watch_judge(t, w->cfg->source.publication, id, pub_exists, seen, &v, err))
        return false;
    if (v.recreated_stream)
        log_warn(&w->log, "table %s was dropped and created again (OID %u, now %u); its events go on", t->qualname,
                 seen[SOURCE_WATCH_STREAM].oid, id->oid);
    for (int f = 0; f < SOURCE_WATCH_FILLERS && !w->read_only; f++)
        if (v.record[f] && !store_set_table_oid(w->store, t->qualname, filler_name[f], id->oid, RECORDED_AT_US(), err))
            return false;
    return true;
}

bool source_watch_check(SourceWatch *w, Err *err)
{
    w->last_ms = clock_mono_ms();
    if (w->count == 0)
        return true;
    if (!w->conn && !(w->conn = pgconn_open(w->cfg->source.dsn, err)))
        return false;
    bool pub_exists;
    if (!catalog_table_ids(w->conn, w->cfg->source.publication, w->names, w->count, w->ids, &pub_exists, err)) {
        pgconn_close(w->conn); /* a broken connection is opened afresh next time */
        w->conn = NULL;
        return false;
    }
    for (size_t i = 0; i < w->count; i++)
        if (!check_table(w, i, &w->ids[i], pub_exists, err))
            return false;
    return true;
}

bool source_watch_tick(SourceWatch *w, Err *err)
{
    if (clock_mono_ms() - w->last_ms < w->interval_ms)
        return true;
    Err e;
    if (source_watch_check(w, &e))
        return true;
    if (e.code == ERR_CHECK || e.code == ERR_STORE) {
        *err = e;
        return false;
    }
    log_warn(&w->log, "checking the mapped tables: %s", e.msg);
    return true;
}

bool source_watch_record(const Config *cfg, const CatalogInfo *cat, const char *const *qualnames, size_t count,
                         const char *filled_by, Err *err)
{
    Store *store = store_open(cfg->state_dir, err);
    if (!store)
        return false;
    bool ok = true;
    int64_t now = RECORDED_AT_US();
    for (size_t i = 0; ok && i < count; i++) {
        const CatTable *t = catalog_table(cat, qualnames[i]);
        if (t && t->exists)
            ok = store_set_table_oid(store, qualnames[i], filled_by, t->oid, now, err);
    }
    store_close(store);
    return ok;
}
