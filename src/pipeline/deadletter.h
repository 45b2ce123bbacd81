/*
 * pipeline/deadletter.h - the dead-letter file: changes a target refused for
 *                         that row alone and skipped under "on_error": "skip".
 *
 * Owns:     STATE_DIR/deadletter.ndjson (one file for every target; each line
 *           names its target), its line format (docs/mappings.md, "on_error"),
 *           the bound on what a line carries (DEADLETTER_MAX_VALUE bytes of the
 *           value, DEADLETTER_MAX_KEY of the key), counting the lines per target
 *           for `status`, and the one decision every target makes for a refused
 *           row: stop with an error that names the row and the ways out, or
 *           append the line, log one warning and go on (deadletter_refuse).
 * Not mine: deciding what is a refusal (each target checks its limits and
 *           classifies its errors), the mapping's "on_error" (mapping/mapping).
 * Pure:     deadletter_line and deadletter_cols_json are; the rest writes or
 *           reads the file, under a lock of its own (targets applied on threads
 *           of their own, daemon/handoff, share one file).
 *
 * Durability: a line is written and fdatasync'ed when the target refuses the
 * change, before the target's checkpoint can move past it. A transaction
 * replayed after a crash before that checkpoint writes its line again, so a
 * line may repeat (same target, lsn and key); never is a skipped change missing.
 */
#ifndef WAL2EDGE_PIPELINE_DEADLETTER_H
#define WAL2EDGE_PIPELINE_DEADLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/lsn.h"
#include "pg/pgoutput.h"
#include "pg/relcache.h"

#define DEADLETTER_FILE "deadletter.ndjson"
#define DEADLETTER_MAX_VALUE 4096  /* bytes of the refused value kept in a line */
#define DEADLETTER_MAX_KEY 1024    /* bytes of the key kept (in a line and in errors) */
#define DEADLETTER_MAX_LINE (64 * 1024)

typedef struct DeadLetter DeadLetter;

/* What a target refused. Every pointer is borrowed. */
typedef struct DlEntry {
    const char *target;        /* "d1.app", "kv.cache", "queues.changes" */
    const char *table;         /* "schema.name" */
    Lsn commit_lsn;
    uint32_t xid;
    const char *key;           /* JSON (deadletter_cols_json) or NULL */
    const char *reason;        /* the limit or D1's message */
    const char *value;         /* the refused value (row JSON, KV value, event) or NULL */
    size_t value_len;
} DlEntry;

/* How the target's mapping section wants it handled. */
typedef struct DlPolicy {
    bool skip;                 /* "on_error": "skip" */
    const char *mapping_file;  /* for the hint: "mappings/users.jsonc" */
    const char *section;       /* "d1", "kv[1]", "queue" */
    const char *ways_out;      /* the target's other ways out, e.g. "leave the column out (d1.exclude)" */
    ErrCode code;              /* the stop error's code (ERR_TOO_LARGE, ERR_CF_API, ...) */
} DlPolicy;

/* The file STATE_DIR/deadletter.ndjson, opened (created) on first use. Owned. */
DeadLetter *deadletter_new(const char *state_dir);
void deadletter_free(DeadLetter *dl);
/* Told of every change skipped under "on_error": "skip" (target name, the refusal's code). */
typedef void (*DlObserver)(void *user, const char *target, ErrCode code);
void deadletter_observe(DeadLetter *dl, DlObserver fn, void *user);

/* Lines appended by this process. */
uint64_t deadletter_appended(const DeadLetter *dl);

/* One NDJSON line (with its '\n') for e, with at most DEADLETTER_MAX_VALUE bytes of the value. */
bool deadletter_line(const DlEntry *e, int64_t now_us, Buf *out, Err *err) WARN_UNUSED;

/* Append e's line and make it durable. */
bool deadletter_append(DeadLetter *dl, const DlEntry *e, Err *err) WARN_UNUSED;

/*
 * A change refused for its row alone: under skip (and with dl) append its
 * line, log one warning and return true; otherwise (stop, or no dead-letter
 * file in this command) return false with an error naming the target, table,
 * key, commit LSN, the reason, and the ways out ("on_error": "skip" in the
 * mapping file's section, then p->ways_out).
 */
bool deadletter_refuse(DeadLetter *dl, const DlPolicy *p, const DlEntry *e, Err *err) WARN_UNUSED;

/*
 * `{"col":"text",...}` of the named columns of tup (Postgres text; NULL as
 * null; a column not sent is left out), each value cut at 256 bytes (ending
 * in "..."), no column added once `max` bytes are written (DEADLETTER_MAX_KEY
 * for a key, DEADLETTER_MAX_VALUE for a row). Into out (reset first).
 */
void deadletter_cols_json(const Rel *rel, const PgoTuple *tup, const char *const *cols, size_t ncols, size_t max,
                          Buf *out);

/* Lines per target in STATE_DIR's dead-letter file (none when it is missing). */
typedef struct DlCount {
    char target[128];
    uint64_t lines;
} DlCount;
bool deadletter_count(const char *state_dir, DlCount *out, size_t max, size_t *count, Err *err) WARN_UNUSED;

#endif
