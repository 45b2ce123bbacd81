/*
 * cli/mapcheck.h - the mapping checks `plan` and `doctor` share: what `run`
 * would refuse (a mapped table that does not exist, a column no table has, D1
 * and KV limits, queue options) and what it would warn about.
 *
 * Owns:     reading the catalog of the mapped tables; collecting into one list
 *           the problems and warnings of d1/ddl and targets/kv, a missing table
 *           of a mapping without "d1", and a "queue" section's options and the
 *           columns they name.
 * Not mine: the checks themselves (d1/ddl, targets/kv, targets/queue); printing them.
 * Pure:     yes (the catalog was read before).
 */
#ifndef WAL2EDGE_CLI_MAPCHECK_H
#define WAL2EDGE_CLI_MAPCHECK_H

#include <stddef.h>

#include "d1/ddl.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"

typedef struct MapCheck {
    D1Schema *schema;          /* owned: plan prints its DDL */
    char **problems;           /* owned "FILE:LINE:COL: key: what": run would refuse these */
    size_t problem_count;
    char **warnings;           /* owned, same form */
    size_t warning_count;
} MapCheck;

/* catalog_read of every mapped table (ERR_PG_CONNECT, ERR_PG, ...). Owned result. */
CatalogInfo *mapcheck_catalog(const Config *cfg, const MappingSet *maps, Err *err) WARN_UNUSED;

void mapcheck_run(const Config *cfg, const MappingSet *maps, const CatalogInfo *cat, MapCheck *out);
void mapcheck_clear(MapCheck *mc);

#endif
