/*
 * targets/queue.h - the Queues target: every mapped row change as a change
 *                   event (pipeline/event) published to a Cloudflare Queue
 *                   over the HTTP push API, or appended to the embedded
 *                   spool STATE_DIR/queues/NAME.ndjson (one event per line).
 *
 * Owns:     choosing the events of this queue (by the mapping's "queue"
 *           options, targets/queue_opts); limit-aware
 *           batches (≤ 100 messages, ≤ 256,000 bytes per request, each message
 *           ≤ 128,000 bytes counting 100 bytes of metadata); the claim check
 *           (an oversized event stored in R2, or the local R2 directory, and
 *           replaced by a pointer event) or its refusal; the spool file and its
 *           checkpoint sidecar NAME.ndjson.ckpt.
 * Not mine: the event format (pipeline/event), HTTP, retries and the shared
 *           rate budget (cf/client: give every REST target the same client),
 *           S3 (cf/r2).
 * Pure:     no (files, network).
 *
 * At-least-once (REST): events of committed transactions are buffered and
 * pushed at flush, in order, one conforming batch per request; when the buffer
 * passes max_buffer_events / max_buffer_bytes the full batches at its front
 * are pushed at once (a huge transaction never grows memory). Target.durable
 * moves to a transaction only once every event up to its last was accepted. A
 * push that still fails after the client's retries keeps the events buffered
 * (the next flush sends them again); after a crash the server replays from the
 * checkpoint. Consumers deduplicate by the event id "COMMIT_LSN:INDEX", which
 * is the same on every delivery. A refused push (4xx) stops the target with
 * the API's code and message, the queue and the LSN.
 *
 * Exactly-once (spool): events are appended as they come (one event of look-
 * ahead, to mark the transaction's last); flush fdatasyncs the file and then
 * atomically rewrites the sidecar {"commit_lsn","end_lsn","offset"}. On open
 * the file is cut back to the sidecar's offset (a torn tail or a transaction
 * the server will send again), so each event is in the spool exactly once.
 */
#ifndef WAL2EDGE_TARGETS_QUEUE_H
#define WAL2EDGE_TARGETS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/client.h"
#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/target.h"
#include "targets/queue_opts.h"

#define QUEUE_MAX_BUFFER_EVENTS 2000
#define QUEUE_MAX_BUFFER_BYTES (4u * 1024u * 1024u)
/* Tests substitute these. */
typedef bool (*QueueSendFn)(void *user, const CfQueueMsg *msgs, size_t n, Err *err);
typedef bool (*QueueClaimPutFn)(void *user, const char *bucket, const char *key, const void *data, size_t len,
                                Err *err);

typedef struct QueueOptions {
    const char *db;                /* source.db of the events; NULL → the DSN's dbname */
    size_t max_buffer_events;      /* 0 → QUEUE_MAX_BUFFER_EVENTS */
    size_t max_buffer_bytes;       /* 0 → QUEUE_MAX_BUFFER_BYTES */
    QueueSendFn send;              /* NULL → cf_queue_send_batch(client, queue_id) */
    void *send_user;
    QueueClaimPutFn claim_put;     /* NULL → the r2 target (R2 or its local directory) */
    void *claim_user;
    int64_t (*now_ms)(void);       /* NULL → the wall clock */
} QueueOptions;

typedef struct QueueStats {
    uint64_t events;               /* published (pushed or spooled) */
    uint64_t requests;             /* push requests that succeeded */
    uint64_t failed_requests;      /* after the client's retries */
    uint64_t claim_checks;         /* events stored in R2 and replaced by a pointer */
    uint64_t bytes;                /* event bytes published */
} QueueStats;

/*
 * The queue `t` (a queues target of cfg): remote when t->remote_id is set
 * (through `client`, borrowed, or opts->send), else the spool t->embedded_path.
 * Tables: the mappings whose queue options may send to t->name, resolved
 * against `cat` (may be freed afterwards; `maps` must outlive the target).
 * ERR_CONFIG for bad options, ERR_IO for the spool.
 */
Target *queue_target_new(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                         CfClient *client, const QueueOptions *opts, Err *err) WARN_UNUSED;

QueueStats queue_target_stats(const Target *t);

#endif
