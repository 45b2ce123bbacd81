/*
 * cf/sigv4.h - AWS Signature Version 4 (header-based), for R2's S3 API.
 *
 * Owns:     the canonical request (method, URI, query, headers, signed
 *           headers, payload hash), the string to sign, the signing-key
 *           derivation (cached per date/region/service) and the Authorization
 *           header value; UTC date formatting for x-amz-date; the S3 rule for
 *           encoding object keys into paths.
 * Not mine: which headers a request carries (cf/r2 adds host, x-amz-date and
 *           x-amz-content-sha256 and passes them in), sending.
 * Pure:     yes: the time is a parameter ("20150830T123600Z"); libcrypto
 *           HMAC-SHA256/SHA-256 only.
 * Canonical URI: the path exactly as sent (S3 signs the once-encoded path, no
 *           second encoding or dot-segment normalisation): build paths with
 *           sigv4_encode_path(). Canonical query: every name and value is
 *           percent-decoded, re-encoded (A-Z a-z 0-9 - _ . ~ kept) and sorted.
 *           Header values are trimmed and inner runs of spaces collapsed;
 *           repeated names are joined with ','.
 * Secrets:  the secret key and derived keys never leave this module except as
 *           the final signature; the cache is wiped by sigv4_cache_clear().
 *           Tested against AWS's published SigV4 test-suite vectors and the S3
 *           documentation's examples (tests/fixtures/sigv4/README.md).
 */
#ifndef WAL2EDGE_CF_SIGV4_H
#define WAL2EDGE_CF_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct SigV4Header {
    const char *name;
    const char *value;
} SigV4Header;

typedef struct SigV4Request {
    const char *method;
    const char *path;            /* as sent, percent-encoded; NULL/"" → "/" */
    const char *query;           /* as sent, without '?'; NULL → none */
    const SigV4Header *headers;  /* every header to sign (host and x-amz-date included) */
    size_t header_count;
    const char *payload_hash;    /* lower-case hex SHA-256 or SIGV4_UNSIGNED_PAYLOAD */
} SigV4Request;

typedef struct SigV4Creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *region;          /* "auto" for R2 */
    const char *service;         /* "s3" */
} SigV4Creds;

/* Signing keys by (date, region, service); zero-initialise, wipe with sigv4_cache_clear(). */
typedef struct SigV4KeyCache {
    bool valid;
    char date[9];
    char region[64];
    char service[32];
    unsigned char key[32];
} SigV4KeyCache;

void sigv4_cache_clear(SigV4KeyCache *cache);

/* Canonical request into *out (appended); the signed-headers list into *signed_headers. */
bool sigv4_canonical_request(const SigV4Request *req, Buf *out, Buf *signed_headers,
                             Err *err) WARN_UNUSED;

/* "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{hex sha256(creq)}". */
bool sigv4_string_to_sign(const SigV4Request *req, const SigV4Creds *creds, const char *amz_date,
                          Buf *out, Err *err) WARN_UNUSED;

/* Sign: *out_authorization (owned) is the whole Authorization header value;
 * out_signature gets the 64 hex characters. cache may be NULL. ERR_USAGE for a
 * malformed amz_date or missing credentials. */
bool sigv4_sign(const SigV4Request *req, const SigV4Creds *creds, const char *amz_date,
                SigV4KeyCache *cache, char **out_authorization, char out_signature[65],
                Err *err) WARN_UNUSED;

/* "YYYYMMDDTHHMMSSZ" for a Unix time (UTC). */
void sigv4_format_date(int64_t epoch_s, char out[17]);

/* Append "/" + key with every byte except A-Z a-z 0-9 - _ . ~ and '/' percent-encoded. */
bool sigv4_encode_path(Buf *out, const char *key, Err *err) WARN_UNUSED;

/* Append s percent-encoded with only A-Z a-z 0-9 - _ . ~ kept (query names/values). */
bool sigv4_encode(Buf *out, const char *s, size_t len, Err *err) WARN_UNUSED;

#endif
