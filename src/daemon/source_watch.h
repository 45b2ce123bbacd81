/*
 * daemon/source_watch.h - is each mapped table still the relation its targets
 * were filled from, and does the publication still publish it?
 *
 * A table dropped and created again under the same name is a new relation (a
 * new OID) that drops out of an explicit-list publication: its D1 table and KV
 * keys keep the old rows while the new rows never arrive, and the stream says
 * nothing (a dropped table emits no change). So `run` asks the catalog: at the
 * start of every session and then every interval, on an ordinary connection.
 *
 * Owns:     the OID each mapped table had when its targets were filled,
 *           recorded in the state store per filler ("d1" by migrate, "kv" by
 *           warm, "stream" by run for a table with neither, on first sight);
 *           the comparison, and the message that names the table and the way
 *           back. migrate and warm record the new OID when they re-copy a
 *           table, which is what lets `run` start again.
 * Not mine: reading the catalog (pg/catalog), the store (state/store), the
 *           replication loop (daemon/run calls in).
 * Pure:     no (one libpq connection, the store, the clock); source_watch_judge is.
 */
#ifndef WAL2EDGE_DAEMON_SOURCE_WATCH_H
#define WAL2EDGE_DAEMON_SOURCE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/target.h"
#include "state/store.h"

typedef struct SourceWatchTable {
    const char *qualname;      /* "schema.name" */
    bool d1;                   /* a D1 mapping: `migrate` re-copies it */
    bool kv;                   /* KV entries: `warm --mapping` re-fills them */
} SourceWatchTable;

/* Owned (free()): one entry per mapping, borrowing the mappings' names. */
SourceWatchTable *source_watch_tables(const MappingSet *maps);

typedef struct SourceWatch SourceWatch;

/* cfg, store and tables are borrowed and must outlive the watch. interval_ms: between checks. */
SourceWatch *source_watch_new(const Config *cfg, Store *store, const SourceWatchTable *tables, size_t count,
                              int interval_ms);
void source_watch_free(SourceWatch *w);
/*
 * run: instead of stopping, a mapped table dropped and created again (or missing from the
 * publication) is added back to the publication and copied again through hook (run's resyncer;
 * borrowed), its new OID recorded; a dropped one is logged once (its targets follow the mapping's
 * "on_drop" at the DROP in the stream) and run goes on.
 */
void source_watch_repair(SourceWatch *w, const ResyncHook *hook);
/* Check without recording anything (doctor): a table seen for the first time stays unrecorded. */
void source_watch_read_only(SourceWatch *w);

/*
 * Check now. false with ERR_CHECK (stop: retrying cannot help) when a mapped
 * table was dropped, was dropped and created again, or is missing from the
 * publication; the message names the table, the OIDs or the publication, and
 * the way back. A connection or query failure is returned as it is.
 */
bool source_watch_check(SourceWatch *w, Err *err) WARN_UNUSED;
/* source_watch_check once interval_ms has passed since the last one; a failing
 * connection is only logged (the stream notices a server that is gone). */
bool source_watch_tick(SourceWatch *w, Err *err) WARN_UNUSED;

/* ---- the decision, pure (for tests) ---- */

enum { SOURCE_WATCH_D1, SOURCE_WATCH_KV, SOURCE_WATCH_STREAM, SOURCE_WATCH_FILLERS };

typedef struct SourceWatchSeen {
    bool found;                /* an OID was recorded for this filler */
    uint32_t oid;
} SourceWatchSeen;

typedef struct SourceWatchVerdict {
    bool record[SOURCE_WATCH_FILLERS]; /* record id->oid for these (first sight; a new table of a
                                          mapping with events only) */
    bool recreated_stream;             /* that table is a new relation: worth a warning */
} SourceWatchVerdict;

/*
 * Table t is now `id` (pub_exists: the publication exists); seen[f] is what
 * filler f recorded (only the fillers t uses count: d1, kv, or stream when
 * neither). true to go on (with what to record in *v); false with ERR_CHECK and
 * the message when run must stop. The way back names only the fillers whose
 * copy is of the old table (all of them when the table was only missing from
 * the publication: its changes were missed meanwhile).
 */
bool source_watch_judge(const SourceWatchTable *t, const char *publication, const CatTableId *id, bool pub_exists,
                        const SourceWatchSeen seen[SOURCE_WATCH_FILLERS], SourceWatchVerdict *v, Err *err) WARN_UNUSED;

/* For migrate and warm: the tables they have just re-copied from the catalog
 * `cat` (qualnames among its tables) are filled by `filled_by` ("d1", "kv"). */
bool source_watch_record(const Config *cfg, const CatalogInfo *cat, const char *const *qualnames, size_t count,
                         const char *filled_by, Err *err) WARN_UNUSED;

#endif
