/*
 * net/http.c - the libcurl wrapper (see http.h for the contract).
 *
 * Implementation notes:
 *  - One easy handle per HttpClient; curl_easy_reset() between requests keeps
 *    the handle's connection cache, so keep-alive works across calls.
 *  - CURLOPT_PROTOCOLS_STR limits transfers to http/https, redirects are never
 *    followed, and http_url_check() refuses plain http to anything but loopback
 *    before curl sees the URL.
 *  - "Expect:" is always sent empty: R2 does not support 100-continue.
 *  - The debug callback is installed only when tracing is on; it logs header
 *    lines through http_trace_redact() and never logs data.
 */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"

#ifndef WAL2EDGE_VERSION
#define WAL2EDGE_VERSION "dev"
#endif

struct HttpClient {
    CURL *easy;
    HttpOptions opts;
    char *user_agent;
    char *ca_file;
};

static bool g_inited;   /* process-wide: curl_global_init() ran (main thread, before workers) */

static const LogCtx http_log = {"http", NULL, 0, false};

bool http_global_init(Err *err)
{
    if (g_inited)
        return true;
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return err_set(err, ERR_INTERNAL, "initialising libcurl: %s", curl_easy_strerror(rc));
    g_inited = true;
    return true;
}

void http_global_cleanup(void)
{
    if (!g_inited)
        return;
    curl_global_cleanup();
    g_inited = false;
}

void http_options_default(HttpOptions *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 10000;
    o->total_timeout_ms = 60000;
    o->low_speed_bytes = 1;
    o->low_speed_time_s = 30;
    o->max_response_bytes = HTTP_DEFAULT_MAX_RESPONSE;
}

HttpClient *http_client_new(const HttpOptions *opts, Err *err)
{
    if (!http_global_init(err))
        return NULL;
    HttpClient *c = xcalloc(1, sizeof *c);
    if (opts)
        c->opts = *opts;
    else
        http_options_default(&c->opts);
    HttpOptions def;
    http_options_default(&def);
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = def.connect_timeout_ms;
    if (c->opts.total_timeout_ms <= 0)
        c->opts.total_timeout_ms = def.total_timeout_ms;
    if (c->opts.low_speed_bytes <= 0)
        c->opts.low_speed_bytes = def.low_speed_bytes;
    if (c->opts.low_speed_time_s <= 0)
        c->opts.low_speed_time_s = def.low_speed_time_s;
    if (c->opts.max_response_bytes == 0)
        c->opts.max_response_bytes = def.max_response_bytes;
    c->user_agent = c->opts.user_agent ? xstrdup(c->opts.user_agent)
                                       : xstrdup("wal2edge/" WAL2EDGE_VERSION);
    c->ca_file = xstrdup(c->opts.ca_file);
    c->opts.user_agent = c->user_agent;
    c->opts.ca_file = c->ca_file;
    c->easy = curl_easy_init();
    if (!c->easy) {
        http_client_free(c);
        err_set(err, ERR_INTERNAL, "creating a libcurl handle failed");
        return NULL;
    }
    return c;
}

void http_client_free(HttpClient *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->user_agent);
    free(c->ca_file);
    free(c);
}

/* ---- pure helpers ------------------------------------------------------- */

static bool ascii_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static bool ascii_icontains(const char *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen(needle);
    if (nlen > hlen)
        return false;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (ascii_ieq(hay + i, nlen, needle))
            return true;
    return false;
}

bool http_header_is_secret(const char *name, size_t name_len)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie",
                                        "set-cookie", "x-auth-key", "x-auth-email",
                                        "x-amz-security-token"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (ascii_ieq(name, name_len, exact[i]))
            return true;
    return ascii_icontains(name, name_len, "token") || ascii_icontains(name, name_len, "secret") ||
           ascii_icontains(name, name_len, "password");
}

bool http_url_check(const char *url, Err *err)
{
    if (!url)
        return err_set(err, ERR_CONFIG, "no url given");
    const char *rest;
    bool tls;
    if (strncmp(url, "https://", 8) == 0) {
        rest = url + 8;
        tls = true;
    } else if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
        tls = false;
    } else {
        return err_set(err, ERR_CONFIG, "url must start with https:// (got a different scheme)");
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return err_set(err, ERR_CONFIG, "url contains a space or control character");
    size_t alen = strcspn(rest, "/?#");
    if (alen == 0)
        return err_set(err, ERR_CONFIG, "url has no host");
    if (memchr(rest, '@', alen))
        return err_set(err, ERR_CONFIG, "url must not carry credentials (user@host)");
    if (tls)
        return true;
    /* host without the port */
    size_t hlen;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', alen);
        if (!close)
            return err_set(err, ERR_CONFIG, "url has an unterminated [ipv6] host");
        hlen = (size_t)(close - rest) + 1;
    } else {
        const char *colon = memchr(rest, ':', alen);
        hlen = colon ? (size_t)(colon - rest) : alen;
    }
    if (ascii_ieq(rest, hlen, "127.0.0.1") || ascii_ieq(rest, hlen, "localhost") ||
        ascii_ieq(rest, hlen, "[::1]"))
        return true;
    return err_set(err, ERR_CONFIG,
                   "plain http is allowed only to 127.0.0.1, localhost or [::1]; use https://");
}

char *http_url_for_log(const char *method, const char *url)
{
    size_t n = strcspn(url ? url : "", "?#");
    return xasprintf("%s %.*s%s", method ? method : "GET", (int)n, url ? url : "",
                     url && url[n] == '?' ? "?[redacted]" : "");
}

char *http_trace_redact(const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    const char *colon = memchr(line, ':', len);
    const char *space = memchr(line, ' ', len);
    /* A header line: "Name: value" with no space before the colon. */
    if (colon && (!space || colon < space) && colon != line) {
        size_t nlen = (size_t)(colon - line);
        if (http_header_is_secret(line, nlen))
            return xasprintf("%.*s: " LOG_REDACTED, (int)nlen, line);
        if (ascii_ieq(line, nlen, "location")) {
            const char *q = memchr(colon, '?', len - nlen);
            if (q)
                return xasprintf("%.*s?" LOG_REDACTED, (int)(q - line), line);
        }
        return xstrndup(line, len);
    }
    /* A request line: "METHOD /path?query HTTP/1.1". */
    const char *q = memchr(line, '?', len);
    if (q) {
        const char *end = memchr(q, ' ', len - (size_t)(q - line));
        if (end)
            return xasprintf("%.*s?" LOG_REDACTED "%.*s", (int)(q - line), line,
                             (int)(len - (size_t)(end - line)), end);
        return xasprintf("%.*s?" LOG_REDACTED, (int)(q - line), line);
    }
    return xstrndup(line, len);
}

/* ---- the transfer ------------------------------------------------------- */

typedef struct Xfer {
    HttpResponse *resp;
    size_t cap;
    bool too_large;
    /* file upload */
    int fd;
    uint64_t offset, len, pos;
    bool read_failed;
    int read_errno;
    /* the caller's deadline */
    int64_t (*deadline)(void *user);
    void *deadline_user;
    bool cut;
} Xfer;

/* libcurl's progress callback: cut the request once its deadline has come. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    Xfer *x = user;
    if (clock_mono_ms() < x->deadline(x->deadline_user))
        return 0;
    x->cut = true;
    return 1;
}

static void headers_clear(HttpResponse *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    r->header_count = 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    Xfer *x = user;
    size_t n = size * nmemb;
    if (n > x->cap || x->resp->body.len > x->cap - n) {
        x->too_large = true;
        return 0;
    }
    Err e;
    if (!buf_append(&x->resp->body, ptr, n, &e)) {
        x->too_large = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    Xfer *x = user;
    HttpResponse *r = x->resp;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        headers_clear(r);   /* a new response (after 1xx): keep only the final one's */
        return n;
    }
    if (n > HTTP_MAX_HEADER_LINE || r->header_count >= HTTP_MAX_HEADERS)
        return n;
    const char *colon = memchr(ptr, ':', n);
    if (!colon || colon == ptr)
        return n;
    size_t nlen = (size_t)(colon - ptr);
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
                        v[vlen - 1] == '\t'))
        vlen--;
    if (!r->header_names) {
        r->header_names = xcalloc(HTTP_MAX_HEADERS, sizeof *r->header_names);
        r->header_values = xcalloc(HTTP_MAX_HEADERS, sizeof *r->header_values);
    }
    char *name = xstrndup(ptr, nlen);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    r->header_names[r->header_count] = name;
    r->header_values[r->header_count] = xstrndup(v, vlen);
    r->header_count++;
    return n;
}

static size_t on_read(char *buffer, size_t size, size_t nitems, void *user)
{
    Xfer *x = user;
    size_t want = size * nitems;
    uint64_t left = x->len - x->pos;
    if (left == 0)
        return 0;
    if (want > left)
        want = (size_t)left;
    ssize_t got;
    do {
        got = pread(x->fd, buffer, want, (off_t)(x->offset + x->pos));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
        x->read_failed = true;
        x->read_errno = got < 0 ? errno : 0;
        return CURL_READFUNC_ABORT;
    }
    x->pos += (uint64_t)got;
    return (size_t)got;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    Xfer *x = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void trace_lines(const char *prefix, const char *data, size_t size)
{
    size_t start = 0;
    while (start < size) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end > start + 1 || (end > start && data[start] != '\r')) {
            char *line = http_trace_redact(data + start, end - start);
            if (line[0])
                log_debug(&http_log, "%s %s", prefix, line);
            free(line);
        }
        start = end + 1;
    }
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *user)
{
    (void)h;
    (void)user;
    switch (type) {
    case CURLINFO_TEXT:
        trace_lines("*", data, size);
        break;
    case CURLINFO_HEADER_OUT:
        trace_lines(">", data, size);
        break;
    case CURLINFO_HEADER_IN:
        trace_lines("<", data, size);
        break;
    default:   /* bodies and TLS data are never traced */
        break;
    }
    return 0;
}

void http_response_free(HttpResponse *r)
{
    if (!r)
        return;
    headers_clear(r);
    free(r->header_names);
    free(r->header_values);
    r->header_names = NULL;
    r->header_values = NULL;
    buf_free(&r->body);
}

const char *http_response_header(const HttpResponse *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (ascii_ieq(r->header_names[i], strlen(r->header_names[i]), name))
            return r->header_values[i];
    return NULL;
}

static bool header_line_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

static bool map_curl_error(CURLcode rc, const Xfer *x, const char *what, const char *errbuf,
                           Err *err)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK && x->cut) {
        err_set(err, ERR_TIMEOUT, "%s: cut at its deadline", what);
        err->detail = HTTP_DEADLINE_CUT;
        return false;
    }
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, ERR_TIMEOUT, "%s: timed out (%s)", what, detail);
    case CURLE_WRITE_ERROR:
        if (x->too_large)
            return err_set(err, ERR_TOO_LARGE, "%s: response body exceeds the cap of %zu bytes",
                           what, x->cap);
        break;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        if (x->read_failed) {
            if (x->read_errno) {
                errno = x->read_errno;
                return err_sys(err, ERR_IO, "%s: reading the upload file", what);
            }
            return err_set(err, ERR_IO, "%s: the upload file is shorter than the range sent", what);
        }
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return err_set(err, ERR_CONFIG, "%s: %s", what, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return err_set(err, ERR_CONFIG, "%s: tls verification failed (%s)", what, detail);
    default:
        break;
    }
    bool r = err_set(err, ERR_HTTP, "%s: %s", what, detail);
    err->detail = 0;
    return r;
}

bool http_do(HttpClient *c, const HttpRequest *req, HttpResponse *out, Err *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = req->max_response_bytes ? req->max_response_bytes : c->opts.max_response_bytes;
    buf_init(&out->body, cap);
    const char *method = req->method ? req->method : "GET";
    if (!http_url_check(req->url, err))
        return false;
    char *what = http_url_for_log(method, req->url);
    bool ok = false;
    struct curl_slist *hl = NULL;
    Xfer x = {.resp = out, .cap = cap, .fd = -1};
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';

    bool has_ct = false;
    for (size_t i = 0; i < req->header_count; i++) {
        const HttpHeader *h = &req->headers[i];
        if (!header_line_ok(h->name) || !header_line_ok(h->value)) {
            err_set(err, ERR_INTERNAL, "%s: header %s contains a line break", what, h->name);
            goto out;
        }
        if (ascii_ieq(h->name, strlen(h->name), "content-type"))
            has_ct = true;
        char *line = xasprintf("%s: %s", h->name, h->value);
        struct curl_slist *n = curl_slist_append(hl, line);
        /* the line may hold a token: wipe our copy (curl keeps its own) */
        memset(line, 0, strlen(line));
        free(line);
        if (!n) {
            err_set(err, ERR_INTERNAL, "%s: out of memory building headers", what);
            goto out;
        }
        hl = n;
    }
    struct curl_slist *n2 = curl_slist_append(hl, "Expect:");
    if (n2)
        hl = n2;
    bool has_body_method = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    if (!has_ct && has_body_method) {
        n2 = curl_slist_append(hl, "Content-Type:");   /* no form-urlencoded default */
        if (n2)
            hl = n2;
    }

    CURL *h = c->easy;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->opts.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->opts.ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     req->total_timeout_ms > 0 ? req->total_timeout_ms : c->opts.total_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->opts.low_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->opts.low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->opts.user_agent);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (req->deadline) {
        x.deadline = req->deadline;
        x.deadline_user = req->deadline_user;
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (c->opts.trace) {
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    }

    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req->upload_path) {
        x.fd = open(req->upload_path, O_RDONLY | O_CLOEXEC);
        if (x.fd < 0) {
            err_sys(err, ERR_IO, "%s: opening the upload file", what);
            goto out;
        }
        x.offset = req->upload_offset;
        x.len = req->upload_len;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (has_body_method) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_off_t total_us = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
    out->elapsed_ms = total_us > 0 ? (uint64_t)total_us / 1000u : 0;
    if (rc != CURLE_OK) {
        map_curl_error(rc, &x, what, errbuf, err);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    out->status = status;
    ok = true;

out:
    /* the handle must not keep pointers into this call's stack or lists */
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hl);
    if (x.fd >= 0)
        close(x.fd);
    free(what);
    return ok;
}
