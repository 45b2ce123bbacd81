/*
 * cf/payload.h - request bodies and result parsing for D1, KV and Queues,
 *                with every documented limit checked before anything is sent.
 *
 * Owns:     the D1 /query|/raw batch body and its per-statement limits; the
 *           split of KV bulk writes/deletes and Queues batches into requests
 *           that conform (count and byte limits, cloudflare-api.md §2.5, §3.4,
 *           §4.3); parsing D1 statement results, KV bulk results and KV key
 *           listings out of an envelope's `result`.
 * Not mine: sending (cf/client), the envelope itself (cf/api).
 * Pure:     yes (jansson, libcrypto's base64).
 * Trust:    results are untrusted JSON: types are checked, missing fields
 *           default to 0/NULL, nothing is assumed about array lengths.
 *
 * Limits (all byte counts are UTF-8 bytes; "KB" is 1000 bytes as Cloudflare counts):
 *   D1     statement SQL ≤ 100,000 bytes; ≤ 100 bound parameters; each parameter
 *          ≤ 2,000,000 bytes.
 *   KV     key 1..512 bytes, not "." or ".."; value ≤ 25 MiB; metadata ≤ 1024
 *          bytes (compact JSON); expiration_ttl ≥ 60; ≤ 10,000 pairs and
 *          < 100,000,000 bytes per bulk request; one key at most once per call.
 *   Queues message body + 100 bytes of metadata ≤ 128,000 bytes; ≤ 100
 *          messages and ≤ 256,000 bytes (bodies + metadata) per batch.
 */
#ifndef WAL2EDGE_CF_PAYLOAD_H
#define WAL2EDGE_CF_PAYLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define CF_D1_MAX_SQL_BYTES 100000u
#define CF_D1_MAX_PARAMS 100u
#define CF_D1_MAX_VALUE_BYTES 2000000u

#define CF_KV_MAX_KEY_BYTES 512u
#define CF_KV_MAX_VALUE_BYTES (25u * 1024u * 1024u)
#define CF_KV_MAX_METADATA_BYTES 1024u
#define CF_KV_MIN_TTL 60
#define CF_KV_MAX_BULK_PAIRS 10000u
#define CF_KV_MAX_BULK_BYTES 99999999u   /* "less than 100 MB" */

#define CF_QUEUE_MAX_MESSAGE_BYTES 128000u
#define CF_QUEUE_MESSAGE_OVERHEAD 100u
#define CF_QUEUE_MAX_BATCH_MESSAGES 100u
#define CF_QUEUE_MAX_BATCH_BYTES 256000u

/* ---- D1 ---------------------------------------------------------------- */

/* One statement. params[i] == NULL sends JSON null. The REST API types params
 * as strings: send integers/reals as their decimal text (column affinity
 * converts them; use CAST(? AS INTEGER) where no affinity applies), booleans as
 * "0"/"1", and BLOBs as hex bound through unhex(?) or an X'..' literal — there
 * is no documented way to bind a BLOB over REST (cloudflare-api.md §2.1, §2.6). */
typedef struct CfD1Stmt {
    const char *sql;
    const char *const *params;
    size_t param_count;
} CfD1Stmt;

/* {"batch":[{"sql":..,"params":[..]},..]} into *out (appended). ERR_TOO_LARGE
 * naming the statement index when a limit is broken; ERR_USAGE for n == 0,
 * a NULL sql or invalid UTF-8. */
bool cf_d1_body(const CfD1Stmt *stmts, size_t n, Buf *out, Err *err) WARN_UNUSED;

typedef struct CfD1Meta {
    int64_t changes;
    int64_t last_row_id;
    int64_t rows_read;
    int64_t rows_written;
    double duration_ms;
    double size_after;
    bool changed_db;
} CfD1Meta;

typedef struct CfD1StmtResult {
    bool success;
    const json_t *rows;      /* /query: array of objects; /raw: array of arrays (borrowed) */
    const json_t *columns;   /* /raw: array of names; /query: NULL */
    CfD1Meta meta;
} CfD1StmtResult;

typedef struct CfD1Result {
    CfD1StmtResult *stmts;   /* one per statement sent, in order */
    size_t count;
    json_t *root;            /* owned: keeps rows/columns alive */
} CfD1Result;

/* Parse an envelope `result` (array, one per statement); takes a reference to
 * `result`. ERR_PROTOCOL if it is not an array of `expected` objects. */
bool cf_d1_result_parse(json_t *result, size_t expected, bool raw, CfD1Result *out,
                        Err *err) WARN_UNUSED;
void cf_d1_result_free(CfD1Result *r);

/* ---- KV ---------------------------------------------------------------- */

typedef struct CfKvPair {
    const char *key;             /* UTF-8 */
    const void *value;           /* bytes; sent as a JSON string when valid UTF-8 and
                                    !binary, else base64 with "base64": true */
    size_t value_len;
    bool binary;                 /* force base64 */
    int64_t expiration;          /* epoch seconds, 0 = none */
    int64_t expiration_ttl;      /* seconds (≥ 60), 0 = none */
    const char *metadata_json;   /* JSON text or NULL */
} CfKvPair;

/* Check pairs (limits and no key twice) before anything is sent. */
bool cf_kv_pairs_check(const CfKvPair *pairs, size_t n, Err *err) WARN_UNUSED;

/* Build the JSON array for the longest run pairs[start..*out_end) that fits
 * max_pairs and max_bytes (0 → the API limits). Appends to *out. */
bool cf_kv_bulk_chunk(const CfKvPair *pairs, size_t n, size_t start, size_t max_pairs,
                      size_t max_bytes, Buf *out, size_t *out_end, Err *err) WARN_UNUSED;

/* Same for bulk delete: a JSON array of key strings. */
bool cf_kv_delete_chunk(const char *const *keys, size_t n, size_t start, size_t max_keys,
                        size_t max_bytes, Buf *out, size_t *out_end, Err *err) WARN_UNUSED;

/* Check one key against the key rules. */
bool cf_kv_key_check(const char *key, Err *err) WARN_UNUSED;

typedef struct CfKvBulkResult {
    size_t successful;           /* sum of successful_key_count */
    char **unsuccessful_keys;    /* owned; retry exactly these */
    size_t unsuccessful_count;
    size_t requests;             /* requests made by the call */
} CfKvBulkResult;

/* Add one bulk response `result` ({successful_key_count, unsuccessful_keys}).
 * `sent` is the number of keys in that request (used when the count is absent). */
bool cf_kv_bulk_result_add(const json_t *result, size_t sent, CfKvBulkResult *acc,
                           Err *err) WARN_UNUSED;
void cf_kv_bulk_result_free(CfKvBulkResult *r);

typedef struct CfKvKey {
    char *name;
    int64_t expiration;          /* 0 if none */
    char *metadata_json;         /* compact JSON or NULL */
} CfKvKey;

typedef struct CfKvList {
    CfKvKey *keys;
    size_t count;
    char *cursor;                /* owned; NULL when the listing is complete */
} CfKvList;

/* Parse a list-keys envelope's result (array) and cursor. */
bool cf_kv_list_parse(const json_t *result, const char *cursor, CfKvList *out,
                      Err *err) WARN_UNUSED;
void cf_kv_list_free(CfKvList *l);

/* ---- Queues ------------------------------------------------------------ */

typedef enum { CF_QUEUE_JSON, CF_QUEUE_TEXT } CfQueueContentType;

typedef struct CfQueueMsg {
    const char *body;            /* JSON text (CF_QUEUE_JSON) or UTF-8 text */
    size_t body_len;
    CfQueueContentType content_type;
    int delay_seconds;           /* < 0: none (0 is sent as 0) */
} CfQueueMsg;

/* The size a message counts for: compact JSON / text bytes + 100 metadata bytes.
 * ERR_USAGE for invalid JSON / UTF-8, ERR_TOO_LARGE above 128,000. */
bool cf_queue_msg_size(const CfQueueMsg *m, size_t *out_size, Err *err) WARN_UNUSED;

/* {"messages":[...]} for the longest run msgs[start..*out_end) within 100
 * messages and 256,000 bytes (max_messages / max_bytes 0 → those). */
bool cf_queue_batch_chunk(const CfQueueMsg *msgs, size_t n, size_t start, size_t max_messages,
                          size_t max_bytes, Buf *out, size_t *out_end, Err *err) WARN_UNUSED;

/* {"body":..,"content_type":..} for the single-message endpoint. */
bool cf_queue_single_body(const CfQueueMsg *m, Buf *out, Err *err) WARN_UNUSED;

/* ---- helpers ----------------------------------------------------------- */

bool cf_utf8_valid(const char *s, size_t len);

#endif
