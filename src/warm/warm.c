/*
 * warm/warm.c - see warm.h. In order: the selected mappings and their KV
 * namespaces (targets/registry), the state directory's lock, the point - a
 * finished snapshot's LSN (every table's manifest agreeing, the slot not past
 * it), or a consistent snapshot of the source taken on the slot (created here,
 * with its incarnation recorded, when missing) - then each table's rows into
 * KV through targets/kv (resumable: a table's progress is kept with its keys),
 * and last what lets `run` continue: the checkpoint at the snapshot's LSN, or
 * "complete through" the slot's position, and the tables' OIDs (source_watch).
 */
#include "warm/warm.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/source_watch.h"
#include "mapping/mapping.h"
#include "metrics/metrics.h"
#include "pg/catalog.h"
#include "pg/conn.h"
#include "pg/snapshot.h"
#include "pg/source.h"
#include "pg/stream.h"
#include "pipeline/deadletter.h"
#include "snapshot/manifest.h"
#include "snapshot/pgtext.h"
#include "snapshot/reader.h"
#include "state/lock.h"
#include "state/store.h"
#include "targets/kv.h"
#include "targets/registry.h"
#include "value/render.h"



typedef struct WarmUi {
    bool tty;
    int64_t start_ms, last_ms;
    uint64_t keys_before;      /* keys of finished tables */
    uint64_t keys_total;
    LogCtx log;
    Metrics *metrics;          /* metrics.listen: the endpoint serves the keys written so far */
    const char *ns;            /* the namespace of ns_before */
    uint64_t ns_before;        /* its keys of finished tables */
} WarmUi;

static void progress(void *user, const KvWarmProgress *p)
{
    WarmUi *ui = user;
    if (!ui->ns || strcmp(ui->ns, p->namespace_name) != 0) {
        ui->ns = p->namespace_name;
        ui->ns_before = 0;
    }
    metrics_warm_keys(ui->metrics, p->namespace_name, ui->ns_before + p->keys);
    if (p->done)
        ui->ns_before += p->keys;
    int64_t now = clock_mono_ms();
    if (!p->done && now - ui->last_ms < (ui->tty ? 200 : 5000))
        return;
    ui->last_ms = now;
    double secs = (double)(now - ui->start_ms) / 1000.0;
    uint64_t keys = ui->keys_before + p->keys;
    double rate = secs > 0 ? (double)keys / secs : 0;
    double row_rate = secs > 0 ? (double)p->rows / secs : 0;
    uint64_t done_rows = p->rows + p->resumed_rows;
    char eta[32] = "-";
    if (!p->done && p->rows_estimate > 0 && row_rate > 0 && (uint64_t)p->rows_estimate > done_rows)
        snprintf(eta, sizeof eta, "%.0fs", (double)((uint64_t)p->rows_estimate - done_rows) / row_rate);
    char total[32] = "?";
    if (p->rows_estimate >= 0)
        snprintf(total, sizeof total, "%" PRId64, p->rows_estimate > (int64_t)done_rows ? p->rows_estimate
                                                                                         : (int64_t)done_rows);
    if (ui->tty) {
        int pct = p->rows_estimate > 0 ? (int)(100.0 * (double)done_rows / (double)p->rows_estimate) : 0;
        if (pct > 100 || p->done)
            pct = 100;
        char bar[21];
        for (int i = 0; i < 20; i++)
            bar[i] = i < pct / 5 ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[Kkv.%s %s [%s] %3d%% %" PRIu64 "/%s rows, %" PRIu64 " keys, %.1f MB, %.0f keys/s, ETA %s",
                p->namespace_name, p->table, bar, pct, done_rows, total, p->keys, (double)p->bytes / 1e6, rate, eta);
        if (p->done)
            fputc('\n', stderr);
        fflush(stderr);
    } else {
        log_info(&ui->log, "kv.%s %s: %" PRIu64 "/%s rows, %" PRIu64 " keys, %.1f MB, %.0f keys/s, ETA %s%s",
                 p->namespace_name, p->table, done_rows, total, p->keys, (double)p->bytes / 1e6, rate, eta,
                 p->done ? " (done)" : "");
    }
    if (p->done)
        ui->keys_before += p->keys;
}

/* Slot: create it (exporting its snapshot) when missing, so that run continues right after the warm. */
static bool open_snapshot(const Config *cfg, const MappingSet *maps, PgSnapshot **snap, Lsn *lsn, bool *created,
                          Lsn *slot_at, Err *err)
{
    *created = false;
    *slot_at = 0;
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    if (!conn)
        return false;
    PgServerFacts facts;
    bool ok = pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, err);
    if (ok && !facts.slot.exists)
        ok = source_check_wal_level(&facts, err);
    if (ok && !facts.publication_exists) {
        const char **tables = calloc(maps->count ? maps->count : 1, sizeof *tables);
        for (size_t i = 0; i < maps->count; i++)
            tables[i] = maps->items[i].source;
        ok = source_ensure_publication(conn, &facts, cfg->source.publication, tables, maps->count, NULL, err);
        free(tables);
        if (ok)
            fprintf(stderr, "created publication \"%s\" for the mapped tables\n", cfg->source.publication);
    }
    pgconn_close(conn);
    if (!ok)
        return false;
    if (facts.slot.exists) {
        /* read before the snapshot: everything the slot has confirmed is in it */
        if (!lsn_parse(facts.slot.confirmed_flush_lsn, slot_at, err))
            return false;
        *snap = pgsnap_open(cfg->source.dsn, NULL, err);
        if (!*snap)
            return false;
        if (!pgsnap_current_lsn(*snap, lsn, err)) {
            pgsnap_close(*snap);
            *snap = NULL;
            return false;
        }
        return true;
    }
    PgStream *stream = pgstream_connect(cfg->source.dsn, err);
    if (!stream)
        return false;
    PgSlotCreated sc;
    ok = source_create_slot(stream, cfg->source.slot, (SlotFailover)cfg->source.failover_slot, PGSLOT_EXPORT_SNAPSHOT,
                            &sc, NULL, err);
    ok = ok && store_record_incarnation(cfg->state_dir, sc.consistent_point, err);
    if (ok) {
        *created = true;
        *lsn = sc.consistent_point;
        /* import while the exporting connection is still open and idle */
        *snap = pgsnap_open(cfg->source.dsn, sc.snapshot_name, err);
        ok = *snap != NULL;
        if (ok) {
            char l[LSN_STR_MAX];
            fprintf(stderr, "created replication slot \"%s\" at %s; warming from its snapshot\n", cfg->source.slot,
                    lsn_format(sc.consistent_point, l));
        }
    }
    pgstream_close(stream);
    return ok;
}

/* Every table of the namespace was warmed (none left out by --mapping). */
static bool warmed_whole(Target *t, const MappingSet *maps, char **names, size_t name_count)
{
    for (size_t k = 0; k < kv_target_table_count(t); k++) {
        const Mapping *m = mapping_set_find(maps, kv_target_table(t, k));
        if (m && !mapping_selected(m, names, name_count))
            return false;
    }
    return true;
}

/* The namespaces warmed whole are complete through the slot's position `at` (pipeline/gap):
 * one transaction of the state store for all of them. */
static bool record_complete_through(const Config *cfg, Target *const *targets, size_t count, const MappingSet *maps,
                                    char **names, size_t name_count, Lsn at, Err *err)
{
    const char **whole = xcalloc(count ? count : 1, sizeof *whole);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (warmed_whole(targets[i], maps, names, name_count))
            whole[n++] = targets[i]->name;
    Store *store = n ? store_open(cfg->state_dir, err) : NULL;
    bool ok = n == 0 || (store && store_save_through(store, whole, n, at, err));
    store_close(store);
    free(whole);
    return ok;
}

/* ---- --from-snapshot ---- */

/* One table of the snapshot as a KV warm source: its rows as Postgres text. */
typedef struct SnapRows {
    SnapReader *reader;
    Rel rel;
    const char **names;        /* borrowed by parser */
    D1Type **types;
    PgTextRow *parser;
    PgoCol *vals;
    char tag[96];
} SnapRows;

static int snaprows_next(void *src, PgoTuple *tup, Err *err)
{
    SnapRows *s = src;
    const char *line;
    size_t len;
    int rc = snapreader_next(s->reader, &line, &len, err);
    if (rc <= 0)
        return rc;
    if (!pgtext_row_parse(s->parser, line, len, s->vals, err)) {
        err_prefix(err, "%s", snapreader_describe(s->reader));
        return -1;
    }
    *tup = (PgoTuple){.ncols = s->rel.ncols, .cols = s->vals};
    return 1;
}

static void snaprows_free(SnapRows *s)
{
    pgtext_row_free(s->parser);
    for (uint16_t i = 0; i < s->rel.ncols; i++)
        d1_type_free(s->types[i]);
    free(s->types);
    free(s->names);
    free(s->rel.cols);
    free(s->vals);
    snapreader_free(s->reader);
    memset(s, 0, sizeof *s);
}

/* Open table qualname of the snapshot; its columns must still have the types they had. */
static bool snaprows_open(SnapRows *s, const Config *cfg, const MappingSet *maps, const CatalogInfo *cat,
                          const char *qualname, const char *bucket, const char *id, Err *err)
{
    memset(s, 0, sizeof *s);
    const Mapping *m = mapping_set_find(maps, qualname);
    s->reader = snapreader_open(cfg, m, qualname, bucket, id, err);
    if (!s->reader)
        return false;
    const CatTable *ct = catalog_table(cat, qualname);
    size_t n = snapreader_column_count(s->reader);
    if (!ct || n > UINT16_MAX)
        return err_set(err, ERR_CHECK, "%s: table %s is not in the catalog", snapreader_describe(s->reader), qualname);
    s->rel = (Rel){.nspname = (char *)ct->schema, .relname = (char *)ct->name, .qualname = (char *)ct->qualname,
                   .oid = ct->oid, .replident = (uint8_t)ct->replident, .ncols = (uint16_t)n};
    s->rel.cols = xcalloc(n + 1, sizeof *s->rel.cols);
    s->types = xcalloc(n + 1, sizeof *s->types);
    s->vals = xcalloc(n + 1, sizeof *s->vals);
    s->names = xcalloc(n + 1, sizeof *s->names);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const char *name = snapreader_column(s->reader, i);
        long ci = catalog_column_index(ct, name);
        if (ci < 0 || ct->cols[ci].type_oid != snapreader_column_type(s->reader, i)) {
            ok = err_set(err, ERR_CHECK,
                         "%s: column \"%s\" of %s %s since the snapshot was taken; take a new snapshot "
                         "(or warm from Postgres without --from-snapshot)",
                         snapreader_describe(s->reader), name, qualname, ci < 0 ? "was dropped" : "changed type");
            break;
        }
        s->rel.cols[i] = (RelCol){(char *)ct->cols[ci].name, ct->cols[ci].type_oid, ct->cols[ci].typmod, false};
        s->names[i] = ct->cols[ci].name;
        Err ignored;
        /* the same type resolution as the rendering (pipeline/rowjson) */
        s->types[i] = d1_type_resolve(cat, ct->cols[ci].type_oid, NULL, &ignored);
        if (!s->types[i])
            s->types[i] = d1_type_resolve(cat, ct->cols[ci].type_oid, "TEXT", &ignored);
        if (!s->types[i])
            ok = err_set(err, ERR_CHECK, "%s: column \"%s\" of %s: type %u cannot be read back",
                         snapreader_describe(s->reader), name, qualname, ct->cols[ci].type_oid);
    }
    if (ok)
        s->parser = pgtext_row_new(s->names, (const D1Type *const *)s->types, n);
    snprintf(s->tag, sizeof s->tag, "snapshot:%s", id);
    return ok;
}

/*
 * run continues from the snapshot's LSN only if the slot has not confirmed
 * anything past it (those changes would never be streamed again).
 */
static bool check_slot_for(const Config *cfg, const char *id, Lsn lsn, Err *err)
{
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    if (!conn)
        return false;
    PgServerFacts facts;
    bool ok = pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, err);
    pgconn_close(conn);
    if (!ok)
        return false;
    char l[LSN_STR_MAX];
    lsn_format(lsn, l);
    if (!facts.slot.exists)
        return err_set(err, ERR_CHECK,
                       "replication slot \"%s\" does not exist, so `run` could not continue from snapshot \"%s\" "
                       "(at %s) without losing the changes since: take a new snapshot while the slot is missing "
                       "(`wal2edge snapshot` then creates the slot at the snapshot's point) and warm from it, or "
                       "warm from Postgres (without --from-snapshot)",
                       cfg->source.slot, id, l);
    Lsn confirmed = LSN_INVALID;
    Err sub;
    if (facts.slot.confirmed_flush_lsn[0] && !lsn_parse(facts.slot.confirmed_flush_lsn, &confirmed, &sub))
        return err_set(err, ERR_PG, "replication slot \"%s\": unreadable confirmed_flush_lsn \"%s\"",
                       cfg->source.slot, facts.slot.confirmed_flush_lsn);
    if (confirmed > lsn)
        return err_set(err, ERR_CHECK,
                       "replication slot \"%s\" has already confirmed changes up to %s, past snapshot \"%s\" "
                       "(at %s): the changes in between would never reach KV. Take a new snapshot "
                       "(`wal2edge snapshot`) and warm from it before `run` moves the slot on, or warm from "
                       "Postgres (without --from-snapshot)",
                       cfg->source.slot, facts.slot.confirmed_flush_lsn, id, l);
    return true;
}

bool warm_run(const Config *cfg, const MappingSet *maps, const WarmOptions *o, WarmResult *out, Err *errp)
{
    memset(out, 0, sizeof *out);
    char **names = o->names;
    size_t name_count = o->name_count;
    bool restart = o->restart;
    const char *from_snapshot = o->from_snapshot;
    const char *bucket = o->bucket;
    Err err;
    bool ok = true;
    for (size_t i = 0; ok && i < name_count; i++) {
        bool found = false;
        for (size_t k = 0; k < maps->count; k++)
            if (mapping_selected(&maps->items[k], &names[i], 1))
                found = true;
        if (!found)
            ok = err_set(&err, ERR_USAGE, "warm: no mapping named \"%s\"", names[i]);
    }
    TargetSet ts = {.count = 0};
    Target **targets = ts.items;
    size_t target_count = 0;
    DeadLetter *dl = NULL;
    CatalogInfo *cat = NULL;
    PgSnapshot *snap = NULL;
    int lock_fd = -1;
    if (ok) {
        bool any = false;
        for (size_t i = 0; i < cfg->target_count; i++)
            any = any || (cfg->targets[i].kind == TARGET_KV &&
                          registry_mapping_uses(maps, &cfg->targets[i], names, name_count));
        if (!any)
            ok = err_set(&err, ERR_CONFIG, "warm: no %smapping has \"kv\" entries", name_count ? "selected " : "");
    }
    ok = ok && state_dir_lock(cfg->state_dir, "warm", &lock_fd, &err);
    if (ok) {
        const char **qn = calloc(maps->count ? maps->count : 1, sizeof *qn);
        for (size_t i = 0; i < maps->count; i++)
            qn[i] = maps->items[i].source;
        cat = catalog_read(cfg->source.dsn, cfg->source.publication, qn, maps->count, &err);
        free(qn);
        ok = cat != NULL;
    }
    if (ok) {
        RegistryWant want = {.kinds = 1u << TARGET_KV, .names = names, .name_count = name_count};
        ok = registry_build(&ts, cfg, maps, cat, &want, &err);
        target_count = ts.count;
        if (ok)
            dl = deadletter_new(cfg->state_dir); /* rows "on_error": "skip" leaves out */
        for (size_t i = 0; ok && i < target_count; i++)
            targets[i]->deadletter = dl;
    }
    CfClient *client = ts.client;
    Lsn lsn = 0, slot_at = 0;
    bool created = false;
    char tag[96] = "";
    if (from_snapshot) {
        snprintf(tag, sizeof tag, "snapshot:%s", from_snapshot);
        /* every table's manifest before anything is written: all there, one point */
        for (size_t i = 0; ok && i < target_count; i++)
            for (size_t k = 0; ok && k < kv_target_table_count(targets[i]); k++) {
                const char *q = kv_target_table(targets[i], k);
                const Mapping *m = mapping_set_find(maps, q);
                if (m && !mapping_selected(m, names, name_count))
                    continue;
                SnapReader *r = snapreader_open(cfg, m, q, bucket, from_snapshot, &err);
                ok = r != NULL;
                if (ok && lsn && snapreader_lsn(r) != lsn)
                    ok = err_set(&err, ERR_CHECK, "%s: its LSN differs from the other tables' of the same snapshot",
                                 snapreader_describe(r));
                if (ok)
                    lsn = snapreader_lsn(r);
                snapreader_free(r);
            }
        /* the checkpoint moves to the snapshot's LSN for the whole namespace: a table of it left out by
         * --mapping would skip its changes up to there unless the namespace is already past that point */
        for (size_t i = 0; ok && i < target_count; i++)
            for (size_t k = 0; ok && k < kv_target_table_count(targets[i]); k++) {
                const Mapping *m = mapping_set_find(maps, kv_target_table(targets[i], k));
                if (m && !mapping_selected(m, names, name_count) && target_durable(targets[i]).end_lsn < lsn)
                    ok = err_set(&err, ERR_USAGE,
                                 "%s also holds %s, which --mapping leaves out: after a warm from a snapshot `run` "
                                 "continues from the snapshot's point for the whole namespace, so every table of it "
                                 "must come from the snapshot (leave out --mapping, or name %s too)",
                                 targets[i]->name, m->source, m->source);
            }
        ok = ok && check_slot_for(cfg, from_snapshot, lsn, &err);
    } else {
        ok = ok && open_snapshot(cfg, maps, &snap, &lsn, &created, &slot_at, &err);
    }
    /* resume an interrupted warm of the same source; otherwise (or with a new slot, or --restart) start over */
    for (size_t i = 0; ok && i < target_count; i++) {
        bool interrupted = false;
        char *was = NULL;
        ok = kv_warm_interrupted(targets[i], &err, &interrupted) && kv_warm_progress_tag(targets[i], &was, &err);
        bool same_source = from_snapshot ? was && strcmp(was, tag) == 0 : was == NULL;
        free(was);
        if (ok && (restart || created || !interrupted || !same_source))
            ok = kv_warm_reset(targets[i], &err);
        else if (ok)
            fprintf(stderr, "%s: resuming an interrupted warm\n", targets[i]->name);
    }
    WarmUi ui = {.tty = o->tty, .start_ms = clock_mono_ms(), .log = {.component = "warm"}};
    ok = ok && metrics_start(cfg, NULL, 0, &ui.metrics, &err);
    metrics_set_state(ui.metrics, METRICS_JOB, "warm");
    if (client && ui.metrics) /* the namespaces' requests, per target, as run counts them */
        cf_client_observe(client, metrics_target_http, ui.metrics);
    int64_t time_us = clock_wall_us();
    for (size_t i = 0; ok && i < target_count; i++) {
        for (size_t k = 0; ok && k < kv_target_table_count(targets[i]); k++) {
            const Mapping *m = mapping_set_find(maps, kv_target_table(targets[i], k));
            if (m && !mapping_selected(m, names, name_count))
                continue;
            if (!from_snapshot) {
                ok = kv_warm_table(targets[i], k, snap, lsn, time_us, progress, &ui, &err);
                continue;
            }
            SnapRows rows;
            ok = snaprows_open(&rows, cfg, maps, cat, kv_target_table(targets[i], k), bucket, from_snapshot, &err);
            if (ok && snapreader_lsn(rows.reader) != lsn)
                ok = err_set(&err, ERR_CHECK, "%s was replaced while warming", snapreader_describe(rows.reader));
            if (ok) {
                KvWarmSource src = {.rel = &rows.rel,
                                    .tag = rows.tag,
                                    .rows_estimate = (int64_t)snapreader_rows(rows.reader),
                                    .next = snaprows_next,
                                    .src = &rows};
                ok = kv_warm_table_from(targets[i], k, &src, lsn, time_us, progress, &ui, &err);
                const char *part;
                uint64_t row;
                if (!ok && snapreader_position(rows.reader, &part, &row))
                    err_prefix(&err, "%s row %" PRIu64, part, row);
            }
            snaprows_free(&rows);
        }
    }
    /* every table is in KV as of the snapshot: run continues from its point (if the slot
     * still allows it: a `run` on another state directory could have moved it meanwhile) */
    ok = ok && (!from_snapshot || check_slot_for(cfg, from_snapshot, lsn, &err));
    for (size_t i = 0; ok && from_snapshot && i < target_count; i++)
        ok = kv_warm_set_checkpoint(targets[i], lsn, &err);
    /* From a fresh snapshot of an existing slot, the checkpoint stays (run replays from the slot);
     * a namespace warmed whole is complete through the slot's position (pipeline/gap). */
    if (ok && slot_at)
        ok = record_complete_through(cfg, targets, target_count, maps, names, name_count, slot_at, &err);
    /* KV now holds these relations' rows: `run` goes on from them (daemon/source_watch); a snapshot
     * may predate a table dropped and created again, so only a warm from Postgres says so */
    for (size_t i = 0; ok && !from_snapshot && i < target_count; i++)
        for (size_t k = 0; ok && k < kv_target_table_count(targets[i]); k++) {
            const char *table = kv_target_table(targets[i], k);
            const Mapping *m = mapping_set_find(maps, table);
            if (!m || mapping_selected(m, names, name_count))
                ok = source_watch_record(cfg, cat, &table, 1, "kv", &err);
        }
    if (ok) {
        out->seconds = (double)(clock_mono_ms() - ui.start_ms) / 1000.0;
        out->keys = ui.keys_before;
        out->rest = client != NULL;
        out->requests = client ? cf_client_stats(client).requests : 0;
        out->lsn = lsn;
    }
    if (client)
        cf_client_observe(client, NULL, NULL);
    metrics_stop(ui.metrics);
    pgsnap_close(snap);
    registry_free_targets(&ts);
    deadletter_free(dl);
    registry_free_client(&ts);
    catalog_free(cat);
    state_dir_unlock(lock_fd);
    if (!ok)
        *errp = err;
    return ok;
}
