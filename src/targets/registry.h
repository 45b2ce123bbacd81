/*
 * targets/registry.h - the targets of a command, built from the config and the
 *                      mappings: one place for run, warm and migrate.
 *
 * Owns:     which configured targets a set of mappings uses (D1 databases, KV
 *           namespaces, queues, routed queues included), building one target of
 *           each (embedded or REST) for run, warm and migrate, and the one
 *           Cloudflare client the REST targets of a command share (one account,
 *           one request budget).
 * Not mine: reading the catalog (pg/catalog; run retries it), what a target
 *           does (each target module), the change log target (run adds it).
 * Pure:     no (the targets open their files and clients).
 */
#ifndef WAL2EDGE_TARGETS_REGISTRY_H
#define WAL2EDGE_TARGETS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "cf/client.h"
#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/target.h"

#define REGISTRY_MAX_TARGETS 64

typedef struct TargetSet {
    Target *items[REGISTRY_MAX_TARGETS];
    size_t count;
    CfClient *client;          /* the REST targets' shared client, made on first need; owned. Each
                                  target gets its own handle of it (cf_client_for_target) */
} TargetSet;

typedef struct RegistryWant {
    unsigned kinds;            /* (1u << TARGET_D1) | ...; 0: every kind */
    char **names;              /* the mappings selected (mapping_selected); NULL: all */
    size_t name_count;
    const CfClientOptions *client_opts; /* for the shared client; NULL: the defaults */
} RegistryWant;

/* Whether a mapping of maps (of those selected by names, when given) uses target t. */
bool registry_mapping_uses(const MappingSet *maps, const ConfigTarget *t, char **names, size_t name_count);

/* Add t to ts (taken). False when t is NULL (its maker failed: err set) or ts is full (t freed). */
bool registry_add(TargetSet *ts, Target *t, Err *err) WARN_UNUSED;

/*
 * Add one target per configured target of the wanted kinds that the selected
 * mappings use, in the config's order. On failure the targets made so far stay
 * in ts (registry_free_targets frees them).
 */
bool registry_build(TargetSet *ts, const Config *cfg, const MappingSet *maps, const CatalogInfo *cat,
                    const RegistryWant *want, Err *err) WARN_UNUSED;

/* One target for configured target t (a D1 database, KV namespace or queue): embedded, or
 * REST through ts's shared client (made on first need). Not added to ts; NULL with *err. */
Target *registry_target_new(TargetSet *ts, const Config *cfg, const MappingSet *maps, const CatalogInfo *cat,
                            const ConfigTarget *t, const CfClientOptions *client_opts, Err *err) WARN_UNUSED;
/* ts's shared Cloudflare client, made on first need (t names the target that needs it in an error). */
CfClient *registry_client(TargetSet *ts, const Config *cfg, const ConfigTarget *t, const CfClientOptions *opts,
                         Err *err) WARN_UNUSED;

/* Free the targets of ts (not its client: the targets may be handed on, see run_pipeline). */
void registry_free_targets(TargetSet *ts);
/* Free the shared client; after the targets are gone. */
void registry_free_client(TargetSet *ts);

#endif
