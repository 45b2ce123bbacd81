/*
 * warm/warm.h - `wal2edge warm`: fill the KV namespaces from a consistent
 *               snapshot of the mapped tables, resumably, so that `run`
 *               continues exactly after it (docs/kv.md).
 *
 * Owns:     the warm job: which namespaces (the selected mappings' "kv"
 *           entries), the point (a snapshot of the source on the slot, the slot
 *           created when missing; or a finished `wal2edge snapshot` whose LSN the
 *           slot has not passed), resuming an interrupted warm of the same
 *           source, and what `run` needs afterwards (the KV checkpoint, the gap
 *           record, the tables' OIDs).
 * Not mine: writing KV (targets/kv), reading snapshots (snapshot/reader), the
 *           command line and its output (cli/cmd_warm).
 * Pure:     no (Postgres, the state directory, KV).
 */
#ifndef WAL2EDGE_WARM_WARM_H
#define WAL2EDGE_WARM_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/lsn.h"

typedef struct WarmOptions {
    char **names;              /* --mapping: the mappings to warm (mapping_selected); none: every one */
    size_t name_count;
    bool restart;              /* start over instead of resuming an interrupted warm */
    const char *from_snapshot; /* a snapshot id (manifest_id_valid) or NULL: read Postgres */
    const char *bucket;        /* with from_snapshot: its r2 target, NULL: the mapping's */
    bool tty;                  /* progress lines for a terminal */
} WarmOptions;

typedef struct WarmResult {
    uint64_t keys;             /* keys written */
    double seconds;
    bool rest;                 /* a namespace was remote: requests is meaningful */
    uint64_t requests;
    Lsn lsn;                   /* the point `run` continues from */
} WarmResult;

bool warm_run(const Config *cfg, const MappingSet *maps, const WarmOptions *o, WarmResult *out,
              Err *err) WARN_UNUSED;

#endif
