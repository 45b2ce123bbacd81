/*
 * snapshot/sink.h - where snapshot objects go: a local directory (the embedded
 *                   R2 default, STATE_DIR/r2/NAME/) or an R2 bucket (S3 API).
 *
 * Owns:     placing a finished part file under its key (local: rename into
 *           place; R2: one PUT, or a multipart upload of equal-sized chunks
 *           ≥ 5 MiB with a smaller last one, aborted on failure), small
 *           objects (the manifest) written atomically, reading and deleting
 *           objects; the spool path a part is written to before it is placed;
 *           telling the caller each multipart UploadId while it is open.
 * Not mine: signing and retries (cf/r2), the layout (snapshot/export).
 * Threads:  one thread at a time per sink; workers clone their own.
 * Secrets:  R2 credentials come from the config (environment); never logged.
 */
#ifndef WAL2EDGE_SNAPSHOT_SINK_H
#define WAL2EDGE_SNAPSHOT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"

#define SINK_DEFAULT_CHUNK_BYTES (8ull * 1024 * 1024)

typedef struct SnapSink SnapSink;

typedef struct SinkStats {
    uint64_t objects;          /* objects placed */
    uint64_t bytes;            /* their bytes */
    uint64_t multipart;        /* of which by multipart upload */
    uint64_t chunks;           /* multipart chunks uploaded */
} SinkStats;

/*
 * A sink for r2 target t: embedded → t->embedded_path; remote → its bucket.
 * spool_dir holds parts before an upload (remote only). chunk_bytes is the
 * multipart chunk size (0 → SINK_DEFAULT_CHUNK_BYTES; at least 5 MiB).
 */
SnapSink *sink_open(const Config *cfg, const ConfigTarget *t, const char *spool_dir, uint64_t chunk_bytes,
                    Err *err) WARN_UNUSED;
/*
 * Told when a multipart upload is created (started) and when it is completed
 * or aborted (!started), so that the caller can record its UploadId durably
 * and abort it after a crash; a false return on start aborts the upload and
 * fails the put. Not called for the local directory.
 */
typedef bool (*SinkUploadHook)(void *ctx, const char *target, const char *key, const char *upload_id, bool started,
                               Err *err);
void sink_set_upload_hook(SnapSink *s, SinkUploadHook hook, void *ctx);
/* Abort a multipart upload recorded earlier (one that is already gone is fine). */
bool sink_abort_upload(SnapSink *s, const char *key, const char *upload_id, Err *err) WARN_UNUSED;

/* Same destination, a new connection (for another thread). */
SnapSink *sink_clone(const SnapSink *s, Err *err) WARN_UNUSED;
void sink_free(SnapSink *s);

bool sink_is_remote(const SnapSink *s);
/* "r2.lake (bucket lake)" or "r2.lake (DIR)": for messages. */
const char *sink_describe(const SnapSink *s);
SinkStats sink_stats(const SnapSink *s);

/* Owned path where the part for `key` is written before sink_put_file. */
char *sink_spool_path(const SnapSink *s, const char *key);
/* Place the file at path (of size bytes) under key; the spool file is gone afterwards. */
bool sink_put_file(SnapSink *s, const char *key, const char *path, uint64_t size, Err *err) WARN_UNUSED;
/* Write a small object atomically. */
bool sink_put_bytes(SnapSink *s, const char *key, const void *data, size_t len, const char *content_type,
                    Err *err) WARN_UNUSED;
/* Read a small object (≤ max bytes) into *out; *found false when it does not exist. */
bool sink_get_bytes(SnapSink *s, const char *key, size_t max, Buf *out, bool *found, Err *err) WARN_UNUSED;
/* Size of an object; *found false when it does not exist. */
bool sink_head(SnapSink *s, const char *key, uint64_t *size, bool *found, Err *err) WARN_UNUSED;
/* Delete an object (a missing one is fine). */
bool sink_delete(SnapSink *s, const char *key, Err *err) WARN_UNUSED;

#endif
