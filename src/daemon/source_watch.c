/*
 * daemon/source_watch.c - see source_watch.h.
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

void source_watch_free(SourceWatch *w)
{
    if (!w)
        return;
    pgconn_close(w->conn);
    free(w->names);
    free(w->ids);
    free(w);
}

/* The way back for table t: re-copy what holds its rows, then run. */
static bool way_back(Buf *b, const SourceWatchTable *t, Err *e)
{
    return (!t->d1 || buf_append_str(b, "wal2edge migrate (its D1 table); ", e)) &&
           (!t->kv || buf_printf(b, e, "wal2edge warm --mapping %s (its KV keys); ", t->qualname)) &&
           buf_append_str(b, "then wal2edge run", e);
}

static bool stop(Err *err, Buf *b)
{
    err_set(err, ERR_CHECK, "%s", b->data ? b->data : "a mapped table changed");
    buf_free(b);
    return false;
}

/* Compare one table with what its fillers recorded; false (with the message) to stop. */
static bool check_table(SourceWatch *w, const SourceWatchTable *t, const CatTableId *id, bool pub_exists,
                        Err *err)
{
    const char *pub = w->cfg->source.publication;
    const char *fillers[3];
    size_t nf = 0;
    if (t->d1)
        fillers[nf++] = "d1";
    if (t->kv)
        fillers[nf++] = "kv";
    if (nf == 0)
        fillers[nf++] = "stream";
    uint32_t recorded = 0;
    bool copied_from_old = false, any_recorded = false;
    for (size_t f = 0; f < nf; f++) {
        uint32_t oid;
        bool found;
        if (!store_table_oid(w->store, t->qualname, fillers[f], &oid, &found, err))
            return false;
        if (found) {
            any_recorded = true;
            recorded = oid;
        }
        if (!id->exists || (found && oid == id->oid))
            continue;
        if (found && strcmp(fillers[f], "d1") != 0 && strcmp(fillers[f], "kv") != 0) {
            /* events only: nothing to re-copy, the new table's changes simply follow */
            log_warn(&w->log, "table %s was dropped and created again (OID %u, now %u)", t->qualname, oid, id->oid);
        } else if (found) {
            copied_from_old = true;
            continue;
        }
        if (!w->read_only && !store_set_table_oid(w->store, t->qualname, fillers[f], id->oid, RECORDED_AT_US(), err))
            return false;
    }
    /* a message too long for the buffer is cut short by err_set anyway: ok only chains the parts */
    Buf b;
    Err e;
    buf_init(&b, 4 * ERR_MSG_MAX);
    bool ok;
    if (!id->exists) {
        if (!any_recorded)
            return true; /* never seen: the targets report a table they cannot find */
        ok = buf_printf(&b, &e,
                        "table %s was dropped (it was OID %u): its targets keep its last rows; the way back: create "
                        "it again, add it to publication \"%s\", then ",
                        t->qualname, recorded, pub) &&
             way_back(&b, t, &e) && buf_append_str(&b, " (or remove its mapping)", &e);
        (void)ok;
        return stop(err, &b);
    }
    bool unpublished = pub_exists && !id->in_publication;
    if (!copied_from_old && !unpublished)
        return true;
    if (copied_from_old)
        ok = buf_printf(&b, &e, "table %s was dropped and created again (OID %u, now %u)%s: its targets hold the "
                        "old table's rows; the way back: ",
                        t->qualname, recorded, id->oid, unpublished ? " and is missing from the publication" : "");
    else
        ok = buf_printf(&b, &e, "table %s is missing from publication \"%s\": its changes are not streamed; the "
                        "way back: ", t->qualname, pub);
    ok = ok && (!unpublished || buf_printf(&b, &e, "ALTER PUBLICATION \"%s\" ADD TABLE %s; ", pub, t->qualname)) &&
         way_back(&b, t, &e);
    (void)ok;
    return stop(err, &b);
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
        if (!check_table(w, &w->tables[i], &w->ids[i], pub_exists, err))
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
