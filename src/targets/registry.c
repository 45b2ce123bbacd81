/*
 * targets/registry.c - see registry.h. A configured target is built only when
 * a mapping uses it (a routed queue mapping counts for every queue it may send
 * to), so an unused target costs no file, connection or credential check. The
 * REST targets get the one client of the set, created the first time one needs it.
 */
#include "targets/registry.h"

#include <stdio.h>
#include <string.h>

#include "targets/d1_embedded.h"
#include "targets/d1_remote.h"
#include "targets/kv.h"
#include "targets/queue.h"

static bool mapping_uses(const Mapping *m, const ConfigTarget *t)
{
    if (t->kind == TARGET_D1)
        return mapping_d1_database_index(m, t->name) >= 0;
    for (size_t k = 0; t->kind == TARGET_KV && k < m->kv_count; k++)
        if (strcmp(m->kv[k].namespace_name, t->name) == 0)
            return true;
    if (t->kind == TARGET_QUEUE && m->queue_node) {
        QueueMapOptions o;
        Err ignored;
        bool uses = queue_map_options_parse(m, NULL, &o, &ignored) && queue_map_options_uses(&o, t->name);
        queue_map_options_clear(&o);
        return uses;
    }
    return false;
}

bool registry_mapping_uses(const MappingSet *maps, const ConfigTarget *t, char **names, size_t name_count)
{
    for (size_t i = 0; i < maps->count; i++)
        if ((!names || mapping_selected(&maps->items[i], names, name_count)) && mapping_uses(&maps->items[i], t))
            return true;
    return false;
}

bool registry_add(TargetSet *ts, Target *t, Err *err)
{
    if (!t)
        return false;
    if (ts->count == REGISTRY_MAX_TARGETS) {
        err_set(err, ERR_CONFIG, "more than %d targets in one run (%s left out)", REGISTRY_MAX_TARGETS, t->name);
        t->ops->free(t);
        return false;
    }
    ts->items[ts->count++] = t;
    return true;
}

CfClient *registry_client(TargetSet *ts, const Config *cfg, const ConfigTarget *t, const CfClientOptions *opts,
                         Err *err)
{
    if (!ts->client)
        ts->client = cf_client_new(cfg->cloudflare.api_base_url, cfg->cloudflare.account_id,
                                   cfg->cloudflare.api_token, opts, err);
    if (!ts->client) {
        err_prefix(err, "%s.%s (%s)", target_kind_name(t->kind), t->name, t->remote_id);
        return NULL;
    }
    /* the target's own handle: its requests are counted under its name (metrics) */
    char label[256];
    snprintf(label, sizeof label, "%s.%s", target_kind_name(t->kind), t->name);
    return cf_client_for_target(ts->client, label);
}

Target *registry_target_new(TargetSet *ts, const Config *cfg, const MappingSet *maps, const CatalogInfo *cat,
                            const ConfigTarget *t, const CfClientOptions *client_opts, Err *err)
{
    CfClient *client = NULL;
    if (!target_is_embedded(t) && (t->kind == TARGET_D1 || t->kind == TARGET_KV || t->kind == TARGET_QUEUE)) {
        client = registry_client(ts, cfg, t, client_opts, err);
        if (!client)
            return NULL;
    }
    if (t->kind == TARGET_D1 && !client)
        return d1_embedded_target_new(t, maps, cat, cfg->source.slot, err);
    if (t->kind == TARGET_D1)
        return d1_remote_target_new(t, maps, cat, cfg->source.slot, client,
                                    &(D1RemoteOptions){.fence_interval_ms = cfg->run.fence_interval_ms}, err);
    if (t->kind == TARGET_QUEUE)
        return queue_target_new(cfg, t, maps, cat, client, NULL, err);
    if (t->kind == TARGET_KV)
        return kv_target_new(cfg, t, maps, cat, client, err);
    err_set(err, ERR_CONFIG, "%s.%s: not a target of the change stream", target_kind_name(t->kind), t->name);
    return NULL;
}

bool registry_build(TargetSet *ts, const Config *cfg, const MappingSet *maps, const CatalogInfo *cat,
                    const RegistryWant *want, Err *err)
{
    static const RegistryWant all = {0};
    if (!want)
        want = &all;
    bool ok = true;
    for (size_t i = 0; ok && i < cfg->target_count; i++) {
        const ConfigTarget *t = &cfg->targets[i];
        if (t->kind != TARGET_D1 && t->kind != TARGET_KV && t->kind != TARGET_QUEUE)
            continue;
        if ((want->kinds && !(want->kinds & (1u << t->kind))) ||
            !registry_mapping_uses(maps, t, want->names, want->name_count))
            continue;
        ok = registry_add(ts, registry_target_new(ts, cfg, maps, cat, t, want->client_opts, err), err);
    }
    return ok;
}

void registry_free_targets(TargetSet *ts)
{
    for (size_t i = 0; i < ts->count; i++)
        ts->items[i]->ops->free(ts->items[i]);
    ts->count = 0;
}

void registry_free_client(TargetSet *ts)
{
    cf_client_free(ts->client);
    ts->client = NULL;
}
