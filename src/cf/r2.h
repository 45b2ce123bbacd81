/*
 * cf/r2.h - an S3 client for Cloudflare R2 (SigV4, path-style URLs).
 *
 * Owns:     R2Client: object PUT/GET (Range)/HEAD/DELETE, HeadBucket,
 *           ListObjectsV2 against `{endpoint}/{bucket}/{key}`, and the one
 *           request path every call takes (cf/r2_intern.h): signed with
 *           cf/sigv4 (region "auto", service "s3", x-amz-content-sha256 of the
 *           body or UNSIGNED-PAYLOAD), retried with net/retry (429
 *           TooManyRequests, 5xx, transport errors), S3 errors read.
 * Not mine: multipart uploads (cf/r2_multipart), reading S3 XML (cf/r2_xml),
 *           the REST API budget (R2's S3 API is not counted), snapshots'
 *           layout (snapshot/), signing internals (cf/sigv4).
 * Pure:     no (network).
 * Threads:  one thread at a time per R2Client.
 * Secrets:  the secret key is borrowed from a Secret, used only to derive the
 *           signing key (cached per day, wiped on free); never logged.
 * Errors:   S3 errors surface their XML code: "r2 get 'a/b': NoSuchKey: The
 *           specified key does not exist. (http 404)" as ERR_CF_API (detail =
 *           HTTP status); retryable statuses after the retry budget → ERR_HTTP.
 */
#ifndef WAL2EDGE_CF_R2_H
#define WAL2EDGE_CF_R2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/r2_xml.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/secret.h"
#include "net/clock.h"
#include "net/http.h"
#include "net/retry.h"

#define R2_MIN_PART_BYTES (5ull * 1024 * 1024)
#define R2_MAX_PART_BYTES (5ull * 1024 * 1024 * 1024 - 5ull * 1024 * 1024)
#define R2_MAX_PARTS 10000u
#define R2_MAX_KEY_BYTES 1024u

typedef struct R2Options {
    HttpOptions http;
    RetryPolicy retry;
    const NetClock *clock;     /* NULL → system */
    const char *region;        /* NULL → "auto" */
    bool unsigned_payload;     /* send UNSIGNED-PAYLOAD instead of hashing bodies */
} R2Options;

void r2_options_default(R2Options *o);

typedef struct R2Client R2Client;

/* Owned. endpoint "https://ACCOUNT.r2.cloudflarestorage.com" (or http to
 * loopback); secret is borrowed and must outlive the client. */
R2Client *r2_client_new(const char *endpoint, const char *bucket, const char *access_key_id,
                        const Secret *secret_access_key, const R2Options *opts,
                        Err *err) WARN_UNUSED;
void r2_client_free(R2Client *c);
uint64_t r2_client_request_count(const R2Client *c);

typedef struct R2ObjectInfo {
    char *etag;                /* owned, quotes kept as the server sent them */
    uint64_t size;             /* Content-Length (of the whole object for HEAD) */
    char *content_type;        /* owned or NULL */
    char *content_range;       /* owned or NULL (ranged GET) */
} R2ObjectInfo;

void r2_object_info_free(R2ObjectInfo *i);

typedef struct R2PutOptions {
    const char *content_type;
    const char *if_none_match;   /* "*" = create only (412 PreconditionFailed if it exists) */
    const char *if_match;
    const char *content_md5;     /* base64 MD5 of the body, optional */
} R2PutOptions;

/* PutObject from memory. opts and out may be NULL. */
bool r2_put_object(R2Client *c, const char *key, const void *data, size_t len,
                   const R2PutOptions *opts, R2ObjectInfo *out, Err *err) WARN_UNUSED;
/* PutObject from a byte range of a file (hashed first unless unsigned_payload). */
bool r2_put_object_file(R2Client *c, const char *key, const char *path, uint64_t offset,
                        uint64_t len, const R2PutOptions *opts, R2ObjectInfo *out,
                        Err *err) WARN_UNUSED;
/* GetObject; length 0 = to the end (no Range header when offset is 0 too).
 * Body appended to *out, capped at max_bytes (0 → 64 MiB). *found false on 404. */
bool r2_get_object(R2Client *c, const char *key, uint64_t offset, uint64_t length,
                   size_t max_bytes, Buf *out, R2ObjectInfo *info, bool *found,
                   Err *err) WARN_UNUSED;
bool r2_head_object(R2Client *c, const char *key, R2ObjectInfo *out, bool *found,
                    Err *err) WARN_UNUSED;
/* HeadBucket: does the bucket exist, and do the keys sign for it? *found false on 404. */
bool r2_head_bucket(R2Client *c, bool *found, Err *err) WARN_UNUSED;
/* DeleteObject (deleting a missing key succeeds, as in S3). */
bool r2_delete_object(R2Client *c, const char *key, Err *err) WARN_UNUSED;

/* ListObjectsV2 (one page). prefix/delimiter/token may be NULL; max_keys 0 → 1000. */
bool r2_list_objects(R2Client *c, const char *prefix, const char *delimiter,
                     const char *continuation_token, unsigned max_keys, R2ListResult *out,
                     Err *err) WARN_UNUSED;

#endif
