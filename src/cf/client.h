/*
 * cf/client.h - the Cloudflare REST client the D1, KV and Queues targets call.
 *
 * Owns:     CfClient: one HTTP connection (net/http), the account's request
 *           budget (net/ratelimit, shared by every call of the client), the
 *           retry loop (net/retry) and the typed calls below, which split work
 *           into requests that respect every documented limit (cf/payload).
 *           Counters of requests made, retries and waits. Per-target handles
 *           over the one client, and telling an observer (set by the command:
 *           `run` points it at its metrics) about every attempt, per target.
 * Not mine: what the targets write (pipeline), R2 (cf/r2: a different API,
 *           not counted against the REST budget).
 * Pure:     no (network, clock via NetClock).
 * Threads:  one thread at a time per CfClient and all its target handles. Give
 *           every REST target the same CfClient (or a handle of it, or the same
 *           RateLimit via opts.shared_ratelimit) so they share the 1,200 / 5 min
 *           budget.
 * Secrets:  the token is sent only as `Authorization: Bearer` and never enters
 *           a message, log line or error; the debug trace masks it.
 *
 * Retries:  every call is retried on 408/409/429/5xx/transport errors and on
 *           transient API errors (971, D1 storage resets), honouring
 *           retry-after-ms / Retry-After; a 429 also pauses the shared budget.
 *           Writes are retried too: targets must send idempotent statements
 *           (UPSERTs, KV overwrites, queue messages with a dedupe id).
 * Errors:   ERR_HTTP / ERR_TIMEOUT (retryable: the budget ran out, try later),
 *           ERR_CF_API (permanent: detail = the API's error code, message
 *           "d1 query: [7500] ... (http 400)"), ERR_TOO_LARGE / ERR_USAGE
 *           (refused before sending), ERR_PROTOCOL (unexpected response shape).
 */
#ifndef WAL2EDGE_CF_CLIENT_H
#define WAL2EDGE_CF_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/payload.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/secret.h"
#include "net/clock.h"
#include "net/http.h"
#include "net/ratelimit.h"
#include "net/retry.h"

typedef struct CfClientOptions {
    HttpOptions http;              /* timeouts, response cap, trace */
    RetryPolicy retry;
    unsigned rate_requests;        /* own budget: requests per window (default 1200) */
    uint64_t rate_window_ms;       /* (default 300000) */
    RateLimit *shared_ratelimit;   /* borrowed; overrides the two above when set */
    const NetClock *clock;         /* NULL → net_clock_system() */
    size_t kv_max_pairs;           /* per bulk request, ≤ 10,000 (default 10,000) */
    size_t kv_max_bytes;           /* per bulk request (default 99,999,999) */
} CfClientOptions;

void cf_client_options_default(CfClientOptions *o);

typedef struct CfClientStats {
    uint64_t requests;             /* HTTP requests sent, retries included */
    uint64_t retries;
    uint64_t throttled;            /* responses with status 429 */
    uint64_t waited_ms;            /* slept for the budget or for retries */
} CfClientStats;

typedef struct CfClient CfClient;

/* Owned. base_url: e.g. "https://api.cloudflare.com/client/v4" (https, or http
 * to loopback for the local edge). token is borrowed and must outlive the
 * client. opts may be NULL. ERR_CONFIG for a refused URL or missing values. */
CfClient *cf_client_new(const char *base_url, const char *account_id, const Secret *token,
                        const CfClientOptions *opts, Err *err) WARN_UNUSED;
void cf_client_free(CfClient *c);

/* A handle's own figures; the client's count every handle's too. */
CfClientStats cf_client_stats(const CfClient *c);
uint64_t cf_client_request_count(const CfClient *c);

/*
 * A handle of c for one target (label "kv.cache"): the same connection, budget, retries and
 * observer, each request reported under its label. Owned by c (freed with it; cf_client_free on
 * a handle does nothing); the same label again gives the same handle. c may be a handle: its
 * client is used.
 */
CfClient *cf_client_for_target(CfClient *c, const char *label);

/*
 * Told about every HTTP attempt of the client and its handles: target is the handle's label
 * (NULL through the client itself); outcome "ok" (a 2xx with success, or an accepted 404),
 * "retryable" (what the retry policy retries: 408, 409, 429, 5xx, transport errors, transient
 * API errors - whether or not attempts were left) or "fatal" (any other answer); NULL when no
 * request went out because the account's request budget ran out before the retry time did;
 * seconds the attempt took; attempt 1 for the first try of a call, 2.. for its retries;
 * throttled: a 429 answer, or the budget ran out. Called on the calling thread.
 */
typedef void (*CfObserver)(void *user, const char *target, const char *outcome, double seconds,
                           unsigned attempt, bool throttled);
/* Set (fn NULL: clear) the observer of c and all its handles. */
void cf_client_observe(CfClient *c, CfObserver fn, void *user);

/* The writer's deadline (monotonic ms, core/clock; 0 or less: none) for c and all its handles:
 * asked before each attempt and while one runs: no attempt starts at or after it, and one
 * still running then is cut (both ERR_LEASE, not retried).
 * `run` ties it to its replication lease (daemon/lease). fn NULL: no deadline. */
typedef int64_t (*CfDeadlineFn)(void *user);
void cf_client_set_deadline(CfClient *c, CfDeadlineFn fn, void *user);

/* Is most of the account's request budget unspent (under half of the window used, no 429
 * pause)? For requests that are only nice to have, such as a prompt fence; never for ones
 * that carry changes. */
bool cf_client_budget_ample(const CfClient *c);

/* Is the token valid? GET /accounts/ID/tokens/verify (an account-owned token), then
 * /user/tokens/verify (a user token) when the API refused the first. (doctor) */
bool cf_token_verify(CfClient *c, Err *err) WARN_UNUSED;

/* GET the resource's own record (D1 database, KV namespace, queue): does it
 * exist, and may the token read it? (doctor) ERR_CF_API with the API's error
 * (http 404: no such resource; 401/403: the token may not) otherwise. */
typedef enum { CF_RESOURCE_D1, CF_RESOURCE_KV, CF_RESOURCE_QUEUE } CfResourceKind;
bool cf_resource_check(CfClient *c, CfResourceKind kind, const char *id, Err *err) WARN_UNUSED;

/* ---- D1 ---- */

/* POST /accounts/{a}/d1/database/{db}/query with {"batch":[...]}: the statements
 * run as one implicit transaction (a failing statement rolls back all of them;
 * cloudflare-api.md §2.3). *out gets one result per statement (rows as objects).
 * The whole batch must finish within 30 s server-side. */
bool cf_d1_batch(CfClient *c, const char *database_id, const CfD1Stmt *stmts, size_t n,
                 CfD1Result *out, Err *err) WARN_UNUSED;
/* Same against /raw: rows are arrays, with column names in `columns`. */
bool cf_d1_batch_raw(CfClient *c, const char *database_id, const CfD1Stmt *stmts, size_t n,
                     CfD1Result *out, Err *err) WARN_UNUSED;

typedef struct CfD1ImportResult {
    uint64_t num_queries;
    CfD1Meta meta;
    char *final_bookmark;          /* owned */
} CfD1ImportResult;

/* The /import flow for a whole SQL file (atomic; blocks the database while it
 * runs): init (md5 etag) → PUT the file to the returned upload URL (ETag
 * checked) → ingest → poll until complete or error, at most max_wait_ms; the
 * first poll waits poll_ms, each next one twice as long, up to
 * CF_D1_IMPORT_POLL_MAX_MS (or poll_ms when larger). The file must not
 * contain BEGIN/COMMIT. D1 answers an init whose etag matches an earlier
 * import with that import's status: make each file's content unique. */
#define CF_D1_IMPORT_POLL_MAX_MS 5000
bool cf_d1_import(CfClient *c, const char *database_id, const char *sql_file_path,
                  uint64_t poll_ms, uint64_t max_wait_ms, CfD1ImportResult *out,
                  Err *err) WARN_UNUSED;
void cf_d1_import_result_free(CfD1ImportResult *r);

/* ---- KV ---- */

/* PUT .../storage/kv/namespaces/{ns}/bulk, split into requests of ≤ kv_max_pairs
 * pairs and < 100 MB. Non-atomic: keys the API could not write are returned in
 * out->unsuccessful_keys (retry exactly those, after ≥ 1 s: 1 write/s/key).
 * On a failed request, earlier requests' pairs were written; all writes are
 * overwrites, so retrying the whole call is safe. *out is always initialised. */
bool cf_kv_bulk_write(CfClient *c, const char *namespace_id, const CfKvPair *pairs, size_t n,
                      CfKvBulkResult *out, Err *err) WARN_UNUSED;
/* POST .../bulk/delete, split the same way. */
bool cf_kv_bulk_delete(CfClient *c, const char *namespace_id, const char *const *keys, size_t n,
                       CfKvBulkResult *out, Err *err) WARN_UNUSED;
/* GET .../values/{key}: raw bytes into *out (capped at 25 MiB); *found false on 404. */
bool cf_kv_get(CfClient *c, const char *namespace_id, const char *key, Buf *out, bool *found,
               Err *err) WARN_UNUSED;
/* GET .../keys?prefix=&cursor=&limit= (limit 10..1000, 0 → 1000). One page;
 * out->cursor is NULL on the last page. */
bool cf_kv_list_keys(CfClient *c, const char *namespace_id, const char *prefix,
                     const char *cursor, unsigned limit, CfKvList *out, Err *err) WARN_UNUSED;

/* ---- Queues ---- */

/* POST .../queues/{id}/messages/batch, split into conforming batches (≤ 100
 * messages, ≤ 256,000 bytes). A message over 128,000 bytes is refused
 * (ERR_TOO_LARGE) before anything is sent. Requests made are added to
 * *out_requests when non-NULL. On failure, earlier batches were sent
 * (at-least-once: consumers must dedupe). */
bool cf_queue_send_batch(CfClient *c, const char *queue_id, const CfQueueMsg *msgs, size_t n,
                         size_t *out_requests, Err *err) WARN_UNUSED;
/* POST .../queues/{id}/messages (one message). */
bool cf_queue_send(CfClient *c, const char *queue_id, const CfQueueMsg *msg,
                   Err *err) WARN_UNUSED;

#endif
