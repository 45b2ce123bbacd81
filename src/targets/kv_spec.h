/*
 * targets/kv_spec.h - what a KV namespace is asked to hold, per source table:
 *                     the key, value and metadata templates of each "kv"
 *                     entry, resolved against the catalog.
 *
 * Owns:     building a table's KV spec from a mapping (templates parsed, the
 *           row identity, the columns the keys and values need, the TOAST-able
 *           ones kept as row state) and the problems `plan` reports about it.
 * Not mine: rendering keys and values (targets/kv_apply), storage.
 * Pure:     yes (reads the catalog and the mappings it is given).
 */
#ifndef WAL2EDGE_TARGETS_KV_SPEC_H
#define WAL2EDGE_TARGETS_KV_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/relcache.h"
#include "pipeline/keytemplate.h"
#include "pipeline/rowjson.h"

/* Largest KV value and metadata (cloudflare-api.md §3). */
#define KV_MAX_VALUE_BYTES (25u * 1024 * 1024)
#define KV_MAX_METADATA_BYTES 1024
/* Keys per bulk request. */
#define KV_BULK_PAIRS 10000

typedef enum { KVV_ROW, KVV_TEMPLATE, KVV_COLUMNS } KvValueKind;

typedef struct KvEntry {
    size_t index;              /* position in the mapping's "kv" array */
    KeyTemplate *key;
    KvValueKind vkind;
    KeyTemplate *value_tpl;    /* KVV_TEMPLATE */
    char **value_cols;         /* KVV_COLUMNS */
    size_t value_col_count;
    char **meta_names;         /* "metadata": {"name": "template"} */
    KeyTemplate **meta_tpls;
    size_t meta_count;
    int64_t ttl;
    bool key_from_identity;    /* every key column is a row-identity column */
} KvEntry;

typedef struct KvTable {
    char *qualname, *schema, *name;
    RowShape *row_shape;       /* "row": every column but the mapping's d1.exclude */
    RowShape *all_shape;       /* column lists: every column */
    KvEntry *entries;
    size_t entry_count;
    char **ident;              /* row identity columns (replica identity) */
    size_t ident_count;
    bool ordered;              /* ident is a unique key: warm can resume by it */
    char **state_cols;         /* TOAST-able columns the keys/values need: kept as row state */
    size_t state_count;
    bool keys_fixed;           /* every key names only identity columns: a row's keys never change */
    char **needed;             /* every column the keys, values, metadata and identity use */
    size_t needed_count;
    Rel rel;                   /* the catalog's columns, as a Relation (warm) */
    const Mapping *mapping;    /* borrowed: its kv[].on_error */
} KvTable;

/* A KV target's counters (for tests, benchmarks and logs). */
typedef struct KvStats {
    uint64_t puts;             /* keys written (sent or stored) */
    uint64_t deletes;          /* keys deleted */
    uint64_t requests;         /* bulk requests made (remote) */
    uint64_t retried_keys;     /* unsuccessful_keys sent again */
    uint64_t coalesced;        /* key writes dropped because a newer value replaced them in the window */
    uint64_t skipped_keys;     /* keys not written: NULL key column, invalid key, value over the limit */
    uint64_t cooldown_waits;   /* flushes that waited for the 1-write-per-second-per-key window */
} KvStats;

typedef struct KvPlanNotes {
    char **errors;             /* "mappings/users.jsonc:3:40: kv[0].key: unknown column \"emial\" ..." */
    size_t error_count;
    char **warnings;
    size_t warning_count;
} KvPlanNotes;

/*
 * The KV spec of mapping m for namespace ns (NULL: every namespace, for plan)
 * into *t (always to be cleared with kv_spec_clear). Problems go to notes;
 * false when there is an error.
 */
bool kv_spec_build(const Mapping *m, const CatalogInfo *cat, const char *ns, KvTable *t, KvPlanNotes *notes);
void kv_spec_clear(KvTable *t);
/* The specs of every mapping that writes to namespace ns (*tables owned, *count of them);
 * ERR_CONFIG naming the first problem (and how many more). */
bool kv_spec_build_namespace(const MappingSet *maps, const CatalogInfo *cat, const char *ns, KvTable **tables,
                             size_t *count, Err *err) WARN_UNUSED;

/* The KV checks of `plan`: templates naming unknown columns, tables without a
 * row identity, values that could exceed 25 MiB, unchanged TOAST columns a
 * value needs (filled from local row state; REPLICA IDENTITY FULL otherwise). */
void kv_plan_check(const MappingSet *maps, const CatalogInfo *cat, KvPlanNotes *out);
void kv_plan_notes_free(KvPlanNotes *n);

/* A list of distinct strings (column names, keys to retry): add s unless present; free all. */
void kv_names_add(char ***v, size_t *n, const char *s);
void kv_names_free(char **v, size_t n);

#endif
