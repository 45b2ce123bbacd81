/*
 * cli/cmd_warm.c - `wal2edge warm [--mapping NAME]... [--restart] [--from-snapshot ID]`:
 * fill the KV namespaces from a consistent snapshot of every mapped table
 * (targets/kv does the writing), resumably, then leave the slot so that `run`
 * continues exactly after the snapshot. docs/kv.md.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/conn.h"
#include "pg/snapshot.h"
#include "pg/stream.h"
#include "state/lock.h"
#include "targets/kv.h"


#define WARM_MAX_TARGETS 64

typedef struct WarmUi {
    bool tty;
    int64_t start_ms, last_ms;
    uint64_t keys_before;      /* keys of finished tables */
    uint64_t keys_total;
    LogCtx log;
} WarmUi;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress(void *user, const KvWarmProgress *p)
{
    WarmUi *ui = user;
    int64_t now = now_ms();
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

static bool mapping_selected(const Mapping *m, char **names, size_t n)
{
    if (n == 0)
        return true;
    const char *base = strrchr(m->file, '/');
    base = base ? base + 1 : m->file;
    size_t blen = strlen(base);
    if (blen > 6 && strcmp(base + blen - 6, ".jsonc") == 0)
        blen -= 6;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], m->source) == 0 || strcmp(names[i], m->relname) == 0 ||
            (strlen(names[i]) == blen && strncmp(names[i], base, blen) == 0))
            return true;
    return false;
}

static bool ns_used(const MappingSet *maps, const ConfigTarget *t, char **names, size_t n)
{
    for (size_t i = 0; i < maps->count; i++)
        for (size_t k = 0; mapping_selected(&maps->items[i], names, n) && k < maps->items[i].kv_count; k++)
            if (strcmp(maps->items[i].kv[k].namespace_name, t->name) == 0)
                return true;
    return false;
}

/* Slot: create it (exporting its snapshot) when missing, so that run continues right after the warm. */
static bool open_snapshot(const Config *cfg, const MappingSet *maps, PgSnapshot **snap, Lsn *lsn, bool *created,
                          Err *err)
{
    *created = false;
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    if (!conn)
        return false;
    PgServerFacts facts;
    bool ok = pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, err);
    if (ok && !facts.slot.exists && strcmp(facts.wal_level, "logical") != 0)
        ok = err_set(err, ERR_CHECK, "wal_level is %s, logical replication needs logical (run wal2edge doctor)",
                     facts.wal_level);
    if (ok && !facts.publication_exists) {
        const char **tables = calloc(maps->count ? maps->count : 1, sizeof *tables);
        for (size_t i = 0; i < maps->count; i++)
            tables[i] = maps->items[i].source;
        ok = pgconn_create_publication(conn, cfg->source.publication, tables, maps->count, err);
        free(tables);
        if (ok)
            fprintf(stderr, "created publication \"%s\" for the mapped tables\n", cfg->source.publication);
    }
    pgconn_close(conn);
    if (!ok)
        return false;
    if (facts.slot.exists) {
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
    bool two_phase = pgstream_server_version(stream) >= 150000;
    ok = pgstream_create_slot(stream, cfg->source.slot, two_phase, true, &sc, err);
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

int cmd_warm(CliCtx *ctx, int argc, char **argv)
{
    char **names = NULL;
    size_t name_count = 0;
    bool restart = false;
    const char *from_snapshot = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "--mapping") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(a, "--mapping=", 10) == 0)
            v = a + 10;
        else if (strcmp(a, "--restart") == 0)
            restart = true;
        else if (strcmp(a, "--from-snapshot") == 0 && i + 1 < argc)
            from_snapshot = argv[++i];
        else if (strncmp(a, "--from-snapshot=", 16) == 0)
            from_snapshot = a + 16;
        else {
            free(names);
            return cli_usage_error(argv[0], "unknown option \"%s\"", a);
        }
        if (v) {
            names = xrealloc(names, (name_count + 1) * sizeof *names);
            names[name_count++] = (char *)v;
        }
    }
    Err err;
    if (from_snapshot) {
        free(names);
        err_set(&err, ERR_NOT_READY, "warm --from-snapshot: not available yet in this version (warm reads Postgres directly)");
        return cli_fail(&err);
    }
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg) {
        free(names);
        return cli_fail(&err);
    }
    MappingSet *maps = cfg->mapping_file_count ? mapping_set_load(cfg, &err) : mapping_set_new();
    bool ok = maps != NULL;
    for (size_t i = 0; ok && i < name_count; i++) {
        bool found = false;
        for (size_t k = 0; k < maps->count; k++)
            if (mapping_selected(&maps->items[k], &names[i], 1))
                found = true;
        if (!found)
            ok = err_set(&err, ERR_USAGE, "warm: no mapping named \"%s\"", names[i]);
    }
    Target *targets[WARM_MAX_TARGETS];
    size_t target_count = 0;
    CfClient *client = NULL;
    CatalogInfo *cat = NULL;
    PgSnapshot *snap = NULL;
    int lock_fd = -1;
    if (ok) {
        for (size_t i = 0; i < cfg->target_count; i++)
            if (cfg->targets[i].kind == TARGET_KV && ns_used(maps, &cfg->targets[i], names, name_count))
                target_count++;
        if (target_count == 0)
            ok = err_set(&err, ERR_CONFIG, "warm: no %smapping has \"kv\" entries", name_count ? "selected " : "");
        target_count = 0;
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
    for (size_t i = 0; ok && i < cfg->target_count; i++) {
        const ConfigTarget *t = &cfg->targets[i];
        if (t->kind != TARGET_KV || !ns_used(maps, t, names, name_count) || target_count == WARM_MAX_TARGETS)
            continue;
        if (t->remote_id && !client) {
            client = cf_client_new(cfg->cloudflare.api_base_url, cfg->cloudflare.account_id,
                                   cfg->cloudflare.api_token, NULL, &err);
            if (!client) {
                err_prefix(&err, "kv.%s (namespace_id %s)", t->name, t->remote_id);
                ok = false;
                break;
            }
        }
        Target *kt = kv_target_new(cfg, t, maps, cat, t->remote_id ? client : NULL, &err);
        if (!kt)
            ok = false;
        else
            targets[target_count++] = kt;
    }
    Lsn lsn = 0;
    bool created = false;
    ok = ok && open_snapshot(cfg, maps, &snap, &lsn, &created, &err);
    /* resume an interrupted warm; otherwise (or with a new slot, or --restart) start over */
    for (size_t i = 0; ok && i < target_count; i++) {
        bool interrupted = false;
        ok = kv_warm_interrupted(targets[i], &err, &interrupted);
        if (ok && (restart || created || !interrupted))
            ok = kv_warm_reset(targets[i], &err);
        else if (ok)
            fprintf(stderr, "%s: resuming an interrupted warm\n", targets[i]->name);
    }
    WarmUi ui = {.tty = isatty(STDERR_FILENO) == 1, .start_ms = now_ms(), .log = {.component = "warm"}};
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t time_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
    for (size_t i = 0; ok && i < target_count; i++) {
        for (size_t k = 0; ok && k < kv_target_table_count(targets[i]); k++) {
            const Mapping *m = mapping_set_find(maps, kv_target_table(targets[i], k));
            if (m && !mapping_selected(m, names, name_count))
                continue;
            ok = kv_warm_table(targets[i], k, snap, lsn, time_us, progress, &ui, &err);
        }
    }
    if (ok) {
        double secs = (double)(now_ms() - ui.start_ms) / 1000.0;
        uint64_t requests = client ? cf_client_stats(client).requests : 0;
        char l[LSN_STR_MAX];
        printf("warm done: %" PRIu64 " keys in %.1f s (%.0f keys/s", ui.keys_before, secs,
               secs > 0 ? (double)ui.keys_before / secs : 0.0);
        if (client)
            printf(", %" PRIu64 " requests", requests);
        printf("); snapshot at %s\n", lsn_format(lsn, l));
    }
    pgsnap_close(snap);
    for (size_t i = 0; i < target_count; i++)
        targets[i]->ops->free(targets[i]);
    cf_client_free(client);
    catalog_free(cat);
    mapping_set_free(maps);
    state_dir_unlock(lock_fd);
    config_free(cfg);
    free(names);
    return ok ? 0 : cli_fail(&err);
}
