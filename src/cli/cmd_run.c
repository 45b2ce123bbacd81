/*
 * cli/cmd_run.c - `wal2edge run [--exit-when-caught-up] [--standby] [--target-log FILE] [--accept-gap TARGET]...`:
 * build the targets from the config and the mapping files, then run the loop; with --standby,
 * first wait for the replication slot another instance holds (daemon/standby). A mapping new
 * since the last start (daemon/newmap) has its table copied into its new targets while the
 * loop streams. SIGHUP: the config and mappings are loaded again and checked as `plan` checks
 * them; a good one ends the loop cleanly and it runs again from it (new mappings found as at a
 * start), a bad one is logged and the run goes on with the one it has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf/client.h"
#include "cli/commands.h"
#include "cli/mapcheck.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/backoff.h"
#include "daemon/newmap.h"
#include "daemon/run.h"
#include "daemon/signals.h"
#include "daemon/standby.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/deadletter.h"
#include "targets/changelog.h"
#include "targets/registry.h"

/* The HTTP client's waits (retry backoff, rate budget) end once a stop is requested: its
 * remaining attempts then fail at once, so SIGTERM is answered in moments even while a
 * failing target is being retried (what was not flushed is sent again by the next run). */
static void stop_aware_sleep_ms(void *user, uint64_t ms)
{
    (void)user;
    signals_sleep_ms((int64_t)ms);
}

/*
 * Postgres unreachable at start is retried like a connection lost later (daemon/run): the
 * same backoff and jitter, one warning per attempt with the reason, a clean stop on
 * SIGINT/SIGTERM (*stopped). Errors that retrying cannot cure end at once.
 */
static CatalogInfo *read_catalog(const Config *cfg, const char **names, size_t count, bool *stopped, Err *err)
{
    Backoff backoff;
    backoff_init(&backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    LogCtx lc = {.component = "run", .slot = cfg->source.slot};
    for (;;) {
        CatalogInfo *cat = catalog_read(cfg->source.dsn, cfg->source.publication, names, count, err);
        if (cat || !err_retryable(err))
            return cat;
        int64_t delay = backoff_next(&backoff, (uint32_t)clock_mono_us());
        log_warn(&lc, "%s; retrying in %lld ms (attempt %u)", err->msg, (long long)delay, backoff.attempts);
        signals_sleep_ms(delay);
        if (signals_stop_requested()) {
            *stopped = true;
            return NULL;
        }
    }
}

/* One target per configured target that a mapping uses (targets/registry); the REST ones share a
 * client whose waits end on SIGINT/SIGTERM. */
static bool add_mapped_targets(const Config *cfg, const MappingSet *maps, TargetSet *ts, bool *stopped, Err *err)
{
    const char **names = calloc(maps->count ? maps->count : 1, sizeof *names);
    for (size_t i = 0; i < maps->count; i++)
        names[i] = maps->items[i].source;
    CatalogInfo *cat = read_catalog(cfg, names, maps->count, stopped, err);
    free(names);
    if (!cat)
        return false;
    static NetClock clock;
    clock = *net_clock_system();
    clock.sleep_ms = stop_aware_sleep_ms;
    CfClientOptions opts;
    cf_client_options_default(&opts);
    opts.clock = &clock;
    RegistryWant want = {.client_opts = &opts};
    bool ok = registry_build(ts, cfg, maps, cat, &want, err);
    catalog_free(cat);
    return ok;
}

/* The run's write deadline (its replication lease, daemon/lease) bounds every request of the REST targets. */
static void bound_requests(void *client, int64_t (*deadline)(void *), void *user)
{
    if (client)
        cf_client_set_deadline(client, deadline, user);
}

/* Every (target, table) pair maps has for cfg's targets (owned: copied_pairs_free). */
static CopiedPair *mapped_pairs(const Config *cfg, const MappingSet *maps, size_t *count)
{
    size_t cap = maps ? maps->count * (cfg->target_count + 1) + 1 : 1;
    CopiedPair *pairs = xcalloc(cap, sizeof *pairs);
    *count = 0;
    for (size_t i = 0; maps && i < maps->count; i++) {
        MappingSet one = {.items = &maps->items[i], .count = 1};
        for (size_t k = 0; k < cfg->target_count; k++) {
            const ConfigTarget *t = &cfg->targets[k];
            if ((t->kind != TARGET_D1 && t->kind != TARGET_KV && t->kind != TARGET_QUEUE) ||
                !registry_mapping_uses(&one, t, NULL, 0))
                continue;
            char *name = xasprintf("%s.%s", target_kind_name(t->kind), t->name);
            if (copied_has(pairs, *count, name, maps->items[i].source)) {
                free(name);
                continue;
            }
            pairs[*count].target = name;
            pairs[*count].table = xstrdup(maps->items[i].source);
            (*count)++;
        }
    }
    return pairs;
}

/*
 * The mapped (table, target) pairs new since the last start (daemon/newmap). Postgres unreachable
 * is waited out as in read_catalog; the record refused (no CREATE on schema public) only means no
 * new mapping is copied this time: a warning names the way (`wal2edge resync`), and the run goes on.
 */
static NewMap *find_new_mappings(const Config *cfg, const MappingSet *maps, bool *stopped)
{
    Backoff backoff;
    backoff_init(&backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    LogCtx lc = {.component = "run", .slot = cfg->source.slot};
    size_t n = 0;
    CopiedPair *pairs = mapped_pairs(cfg, maps, &n);
    for (;;) {
        Err err;
        NewMap *nm = newmap_prepare(cfg, pairs, n, &err);
        if (nm || err.code != ERR_PG_CONNECT)
            copied_pairs_free(pairs, n);
        if (nm)
            return nm;
        if (err.code != ERR_PG_CONNECT) {
            log_warn(&lc, "new mappings are not looked for this time: %s; copy a newly mapped table by hand with "
                     "`wal2edge resync TABLE --target NAME`", err.msg);
            return NULL;
        }
        int64_t delay = backoff_next(&backoff, (uint32_t)clock_mono_us());
        log_warn(&lc, "%s; retrying in %lld ms (attempt %u)", err.msg, (long long)delay, backoff.attempts);
        signals_sleep_ms(delay);
        if (signals_stop_requested()) {
            copied_pairs_free(pairs, n);
            *stopped = true;
            return NULL;
        }
    }
}

/* The run's metrics count every request of the REST targets, per target (cf_client_for_target). */
static void observe_requests(void *client, Metrics *metrics)
{
    if (client)
        cf_client_observe(client, metrics ? metrics_target_http : NULL, metrics);
}

/* What one run is asked for, from the command line. */
typedef struct RunWant {
    bool exit_when_caught_up, standby;
    const char *target_log;
    const char **accept_gap;
    size_t accept_gap_count;
    const CliCtx *ctx;             /* where the config is loaded again from (SIGHUP) */
    const Config *cfg;             /* the config running now */
    Config *next;                  /* SIGHUP: the new config, checked, not running yet */
} RunWant;

/* The new config's mappings as `plan` checks them (the tables read from Postgres). */
static bool check_mappings(const Config *cfg, Err *err)
{
    MappingSet *maps = mapping_set_load(cfg, err);
    CatalogInfo *cat = maps ? mapcheck_catalog(cfg, maps, err) : NULL;
    bool ok = cat != NULL;
    if (ok) {
        MapCheck mc;
        mapcheck_run(cfg, maps, cat, &mc);
        if (mc.problem_count)
            ok = err_set(err, ERR_CONFIG, "%s%s", mc.problems[0],
                         mc.problem_count > 1 ? " (and more: `wal2edge plan` lists them)" : "");
        mapcheck_clear(&mc);
    }
    catalog_free(cat);
    mapping_set_free(maps);
    return ok;
}

/* SIGHUP (RunOptions.on_reload): load the config again and check it; keep it for the next run. */
static bool reload_config(void *user)
{
    RunWant *w = user;
    LogCtx lc = {.component = "run", .slot = w->cfg->source.slot};
    Err err;
    Config *cfg = cli_load_config(w->ctx, &err);
    bool ok = cfg != NULL;
    if (ok && strcmp(cfg->state_dir, w->cfg->state_dir) != 0)
        ok = err_set(&err, ERR_CONFIG, "state_dir changed (%s): restart run to move it", cfg->state_dir);
    if (ok && strcmp(cfg->source.slot, w->cfg->source.slot) != 0)
        ok = err_set(&err, ERR_CONFIG, "source.slot changed (%s): restart run to use another slot", cfg->source.slot);
    ok = ok && (!w->standby || standby_check_config(cfg, w->target_log, &err));
    ok = ok && (cfg->mapping_file_count == 0 || check_mappings(cfg, &err));
    if (!ok) {
        log_error(&lc, "reloading the config (SIGHUP): %s; the run goes on with the config it has", err.msg);
        config_free(cfg);
        return false;
    }
    config_free(w->next);
    w->next = cfg;
    return true;
}

/* Build the targets and run the loop once (run_pipeline frees the targets). *stopped: SIGINT or
 * SIGTERM while the source was still unreachable. */
static bool run_once(const Config *cfg, RunWant *w, bool *stopped, bool *reloaded, Err *err)
{
    RunOptions opts = {.exit_when_caught_up = w->exit_when_caught_up, .standby = w->standby};
    w->cfg = cfg;
    opts.on_reload = reload_config;
    opts.on_reload_user = w;
    opts.reloaded = reloaded;
    NewMap *newmap = NULL;
    opts.accept_gap = w->accept_gap;
    opts.accept_gap_count = w->accept_gap_count;
    TargetSet ts = {.count = 0}; /* its client outlives the targets (run_pipeline frees them) */
    MappingSet *maps = NULL;
    bool ok = true;
    const char *log_path = w->target_log ? w->target_log : cfg->changelog_path;
    if (log_path)
        ok = registry_add(&ts, changelog_target_new(log_path, err), err);
    if (ok && cfg->mapping_file_count > 0) {
        maps = mapping_set_load(cfg, err);
        ok = maps && add_mapped_targets(cfg, maps, &ts, stopped, err);
        /* the source answered: which mapped (table, target) pairs are new since the last start */
        if (ok)
            newmap = find_new_mappings(cfg, maps, stopped);
        ok = ok && !*stopped;
    }
    if (*stopped) {
        LogCtx lc = {.component = "run", .slot = cfg->source.slot};
        log_info(&lc, "stopped before the source could be reached");
    }
    if (ok && ts.count == 0)
        ok = err_set(err, ERR_CONFIG,
                     "nothing to run: no target is configured (map tables to a d1 database, pass "
                     "--target-log FILE, or set \"changelog\": {\"path\": ...} in %s)",
                     cfg->path);
    const char **tables = calloc(maps && maps->count ? maps->count : 1, sizeof *tables);
    for (size_t i = 0; maps && i < maps->count; i++)
        tables[i] = maps->items[i].source;
    opts.publication_tables = tables;
    opts.publication_table_count = maps ? maps->count : 0;
    SourceWatchTable *watch = maps ? source_watch_tables(maps) : NULL;
    opts.watch_tables = watch;
    opts.watch_table_count = opts.publication_table_count;
    opts.flush_interval_ms = cfg->run.flush_interval_ms;
    opts.status_interval_ms = cfg->run.status_interval_ms;
    opts.on_metrics = observe_requests;
    opts.on_metrics_user = ts.client;
    opts.on_deadline = bound_requests;
    opts.on_deadline_user = ts.client;
    DeadLetter *dl = deadletter_new(cfg->state_dir); /* outlives the targets */
    for (size_t i = 0; i < ts.count; i++)
        ts.items[i]->deadletter = dl;
    for (size_t g = 0; ok && g < w->accept_gap_count; g++) {
        bool known = false;
        for (size_t i = 0; i < ts.count; i++)
            known = known || strcmp(ts.items[i]->name, w->accept_gap[g]) == 0;
        if (!known)
            ok = err_set(err, ERR_USAGE, "--accept-gap %s: no such target in this run (targets are named like "
                         "\"d1.app\", \"kv.cache\", \"queues.changes\", \"changelog\"; wal2edge status lists them)",
                         w->accept_gap[g]);
    }
    if (ok) {
        if (newmap && newmap_count(newmap)) { /* run's resyncer copies the new pairs */
            opts.on_resyncer = newmap_attach;
            opts.on_resyncer_user = newmap;
        }
        ok = run_pipeline(cfg, &opts, ts.items, ts.count, err); /* frees the targets */
        newmap_stop(newmap);
    } else {
        registry_free_targets(&ts);
    }
    newmap_free(newmap);
    deadletter_free(dl);
    registry_free_client(&ts);
    free(tables);
    free(watch);
    mapping_set_free(maps);
    return ok;
}

int cmd_run(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    RunWant w = {.ctx = ctx,
                 .exit_when_caught_up = cli_args_flag(&a, "--exit-when-caught-up"),
                 .standby = cli_args_flag(&a, "--standby"),
                 .target_log = cli_args_value(&a, "--target-log"),
                 .accept_gap_count = cli_args_count(&a, "--accept-gap")};
    w.accept_gap = calloc(w.accept_gap_count + 1, sizeof *w.accept_gap);
    for (size_t g = 0; g < w.accept_gap_count; g++)
        w.accept_gap[g] = cli_args_nth(&a, "--accept-gap", g);
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg) {
        free(w.accept_gap);
        return cli_fail(&err);
    }
    signals_install();
    Config *prev = NULL; /* the config before the last reload */
    bool ok, stopped = false;
    /* A standby waits for the slot, then runs; a run that finds the slot taken by another
     * instance (a race lost, or this one's connection lost while another took over) stands
     * by again, and builds its targets afresh from the checkpoints the other one left. */
    ok = !w.standby || standby_check_config(cfg, w.target_log, &err);
    while (ok) {
        ok = !w.standby || standby_wait(cfg, &stopped, &err);
        if (!ok || stopped)
            break;
        bool reloaded = false;
        ok = run_once(cfg, &w, &stopped, &reloaded, &err);
        if (ok && reloaded && w.next) {
            config_free(prev);
            prev = cfg; /* kept: a new config whose targets cannot be built gives way to it */
            cfg = w.next;
            w.next = NULL;
            continue;
        }
        if (!ok && !stopped && prev && err.code == ERR_CONFIG) {
            LogCtx lc = {.component = "run", .slot = cfg->source.slot};
            log_error(&lc, "the reloaded config: %s; going on with the config before it", err.msg);
            config_free(cfg);
            cfg = prev;
            prev = NULL;
            ok = true;
            continue;
        }
        /* a lapsed lease (daemon/lease) drops the targets with what they held unflushed: they
         * are built afresh from their checkpoints, after standing by or at once */
        if (ok || stopped || (err.code != ERR_LEASE && (!w.standby || err.code != ERR_SLOT_BUSY)))
            break;
        LogCtx lc = {.component = "run", .slot = cfg->source.slot};
        if (err.code == ERR_LEASE)
            log_info(&lc, "the replication lease lapsed: the targets are built again from their checkpoints%s",
                     w.standby ? "; back to standby" : "; connecting again");
        else
            log_info(&lc, "%s; back to standby", err.msg);
        ok = true;
    }
    free(w.accept_gap);
    config_free(w.next);
    config_free(prev);
    config_free(cfg);
    return ok || stopped ? 0 : cli_fail(&err);
}
