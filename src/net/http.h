/*
 * net/http.h - HTTP requests over libcurl: the only module that touches libcurl.
 *
 * Owns:     HttpClient (one reusable curl easy handle, so connections are kept
 *           alive between requests), the URL policy (https always; plain http
 *           only to loopback: 127.0.0.1, localhost, [::1]), TLS verification
 *           (always on, no switch), timeouts, the response body cap, response
 *           header capture, and the redacting debug trace.
 * Not mine: retries and rate limits (net/retry, net/ratelimit), what the
 *           bytes mean (cf/api, cf/r2), signing (cf/sigv4).
 * Pure:     no: network I/O. http_url_check() and http_trace_redact() are pure.
 * Threads:  an HttpClient is used by one thread at a time. http_global_init()
 *           must run once in main() before any thread starts.
 * Trust:    response bytes are untrusted; the body is capped and header
 *           count/length are bounded.
 * Secrets:  request header values named in http_header_is_secret() and query
 *           strings are never written to the debug trace; bodies are never
 *           traced.
 *
 * Errors:   http_do() returns false only for transport failures:
 *             ERR_HTTP      connect refused/reset, DNS, TLS, dropped connection (retryable)
 *             ERR_TIMEOUT   connect / low-speed / total timeout (retryable)
 *             ERR_TOO_LARGE the response body exceeded its cap (not retryable)
 *             ERR_CONFIG    a URL the policy refuses (not retryable)
 *             ERR_IO        the upload file could not be read
 *           Any HTTP status (including 4xx/5xx) is a successful transfer; the
 *           caller classifies it (net/retry).
 */
#ifndef WAL2EDGE_NET_HTTP_H
#define WAL2EDGE_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define HTTP_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)
#define HTTP_MAX_HEADERS 128        /* response headers kept; more are dropped */
#define HTTP_MAX_HEADER_LINE 16384  /* longer header lines are dropped */

typedef struct HttpHeader {
    const char *name;
    const char *value;
} HttpHeader;

typedef struct HttpOptions {
    long connect_timeout_ms;   /* default 10000 */
    long total_timeout_ms;     /* default 60000 (the TS SDK's); 0 → default */
    long low_speed_bytes;      /* abort when slower than this ... (default 1 byte/s) */
    long low_speed_time_s;     /* ... for this long (default 30 s) */
    size_t max_response_bytes; /* default HTTP_DEFAULT_MAX_RESPONSE */
    const char *user_agent;    /* default "wal2edge/VERSION" */
    const char *ca_file;       /* optional extra CA bundle; verification stays on */
    bool trace;                /* log a redacted request/response trace at debug level */
} HttpOptions;

/* Fill *o with the defaults above. */
void http_options_default(HttpOptions *o);

typedef struct HttpRequest {
    const char *method;        /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *url;           /* checked by http_url_check() */
    const HttpHeader *headers; /* sent as given; "Name: value" */
    size_t header_count;
    /* Body, one of: memory (body/body_len), or a byte range of a file
     * (upload_path, upload_offset, upload_len), read with pread so a retry
     * can resend it. Neither: no body (Content-Length: 0 for PUT/POST). */
    const void *body;
    size_t body_len;
    const char *upload_path;
    uint64_t upload_offset;
    uint64_t upload_len;
    size_t max_response_bytes; /* 0 → the client's default */
    long total_timeout_ms;     /* 0 → the client's default */
    /* Optional: asked while the request runs (libcurl's progress callback: at least once a
     * second, more often while bytes flow); once the monotonic clock (core/clock) reaches what
     * it returns, the request is cut: ERR_TIMEOUT with detail HTTP_DEADLINE_CUT. */
    int64_t (*deadline)(void *user);
    void *deadline_user;
} HttpRequest;

/* Err.detail of a request cut at its deadline. */
#define HTTP_DEADLINE_CUT (-2)

typedef struct HttpResponse {
    long status;                /* final HTTP status */
    Buf body;                   /* capped; NUL-terminated */
    char **header_names;        /* lower-cased, of the final response only */
    char **header_values;       /* trimmed */
    size_t header_count;
    uint64_t elapsed_ms;
} HttpResponse;

typedef struct HttpClient HttpClient;

/* Once per process, before threads (main.c). Idempotent. false + ERR_INTERNAL on failure. */
bool http_global_init(Err *err) WARN_UNUSED;
void http_global_cleanup(void);

/* Owned; NULL opts → defaults. Calls http_global_init() if main did not. */
HttpClient *http_client_new(const HttpOptions *opts, Err *err) WARN_UNUSED;
void http_client_free(HttpClient *c);

/* Perform one request. *out is initialised by this call (free it with
 * http_response_free() whether or not the call succeeded). */
bool http_do(HttpClient *c, const HttpRequest *req, HttpResponse *out, Err *err) WARN_UNUSED;
void http_response_free(HttpResponse *r);

/* Value of a response header (case-insensitive name), borrowed; NULL if absent.
 * Repeated headers: the first. */
const char *http_response_header(const HttpResponse *r, const char *name);

/* Pure: may a request go to this URL? https://host... always; http:// only when
 * the host is 127.0.0.1, localhost or [::1]; userinfo ("user@") is refused. */
bool http_url_check(const char *url, Err *err) WARN_UNUSED;

/* Pure: whether a request header's value must never be shown (Authorization,
 * Proxy-Authorization, Cookie, X-Auth-Key, X-Auth-Email, X-Amz-Security-Token,
 * and any name containing "token", "secret" or "password"). */
bool http_header_is_secret(const char *name, size_t name_len);

/* Pure: an owned copy of one trace line (a request line or a header line) fit
 * for a log: secret header values become "[redacted]", query strings of
 * request lines and Location headers become "?[redacted]". */
char *http_trace_redact(const char *line, size_t len);

/* Pure: "GET https://host/path" with the query string removed, for messages. Owned. */
char *http_url_for_log(const char *method, const char *url);

#endif
