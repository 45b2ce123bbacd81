/*
 * cf/api.h - Cloudflare REST API v4 conventions: URLs, the response envelope,
 *            and API errors as Err.
 *
 * Owns:     building `{base}/accounts/{id}/...` URLs with every segment
 *           percent-encoded; parsing the envelope
 *           {success, errors[{code,message,error_chain}], messages, result,
 *           result_info{cursor,...}}; the Err for a failed call; knowing which
 *           API errors are transient (971 throttling, D1's "object reset"
 *           family, cloudflare-api.md §2.7, §5).
 * Not mine: transport and retry loops (cf/client), request bodies (cf/payload).
 * Pure:     yes (jansson only).
 * Trust:    response bodies are untrusted: strict JSON, size bounded by the
 *           caller's HTTP cap; server messages are sanitised (printable ASCII,
 *           truncated) before they enter an Err.
 * Secrets:  nothing here sees the token; messages never include request data.
 */
#ifndef WAL2EDGE_CF_API_H
#define WAL2EDGE_CF_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Append s[0..len) percent-encoded: A-Z a-z 0-9 - . _ ~ stay, every other byte
 * becomes %XX (upper-case hex). Suitable for path segments and query values. */
bool cf_url_escape(Buf *out, const char *s, size_t len, Err *err) WARN_UNUSED;

/* Owned "{base_url}/accounts/{account_id}/{seg0}/{seg1}..." with each of
 * account_id and segs[] escaped (a trailing '/' on base_url is dropped).
 * Aborts on out-of-memory only. */
char *cf_api_url(const char *base_url, const char *account_id, const char *const *segs,
                 size_t nsegs);

/* Owned: url + ("?" or "&") + escape(name) + "=" + escape(value). Frees url. */
char *cf_url_add_query(char *url, const char *name, const char *value);

typedef struct CfEnvelope {
    json_t *root;                 /* owned reference */
    bool success;
    json_t *result;               /* borrowed from root; NULL when absent */
    json_t *errors;               /* borrowed; array or NULL */
    json_t *messages;             /* borrowed; array or NULL */
    json_t *result_info;          /* borrowed; object or NULL */
    const char *cursor;           /* result_info.cursor; NULL when absent or "" */
    long error_code;              /* errors[0].code, 0 if none */
    const char *error_message;    /* errors[0].message, NULL if none (borrowed) */
    long chain_code;              /* errors[0].error_chain[0].code, 0 if none */
    const char *chain_message;    /* borrowed */
} CfEnvelope;

/* Parse a body into *out. ERR_PROTOCOL when it is not a JSON object with a
 * boolean `success` (the object is then not kept). *out is always initialised. */
bool cf_envelope_parse(const char *body, size_t len, CfEnvelope *out, Err *err) WARN_UNUSED;
void cf_envelope_free(CfEnvelope *env);

/* Whether the API's error says "try again later" even if the HTTP status does
 * not: code 971 (throttled), 10250 (queue overloaded), 15000 (queues internal),
 * or a D1 transient storage message (cloudflare-api.md §2.7). */
bool cf_api_error_transient(const CfEnvelope *env);

/* Whether the code is an authentication/permission one (10000, 9109, 9103,
 * 6003, 6111, 10001 excluded). */
bool cf_api_code_is_auth(long code);

/* Fill *err for a failed call and return false.
 *   what:       "d1 query", "kv bulk write", ... (start of the message)
 *   permission: the token permission the call needs ("D1 Edit"), for the hint;
 *               NULL when none is needed (token verify)
 *   status:     HTTP status (0 if none)
 *   env:        the parsed envelope or NULL
 *   retryable:  the failure was retryable but the retry budget ran out
 *   cf_ray:     the cf-ray header or NULL (named in the message for support)
 * Code: retryable → ERR_HTTP (detail = HTTP status); else ERR_CF_API (detail =
 * errors[0].code, or the HTTP status when there is none).
 * Message: "d1 query: [7500] near \"X\": syntax error (http 400)"; auth codes
 * add "; hint: ..." naming the permission. */
bool cf_api_fail(Err *err, const char *what, const char *permission, long status,
                 const CfEnvelope *env, bool retryable, const char *cf_ray);

#endif
