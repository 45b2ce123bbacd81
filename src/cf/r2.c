/*
 * cf/r2.c - the R2 S3 client (see r2.h).
 *
 * Every request is signed afresh per attempt (x-amz-date moves on); the Host
 * header is sent explicitly so that what is signed is what is sent. The XML
 * reader only looks for known element names inside a bounded response, and
 * decodes the five predefined entities and numeric references.
 */
#include "cf/r2.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf/sigv4.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/mem.h"

#define UNCAPPED (SIZE_MAX / 2)
#define R2_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)
#define R2_XML_MAX (16u * 1024u * 1024u)

struct R2Client {
    char *endpoint;       /* no trailing slash */
    char *host;           /* authority, for the signed Host header */
    char *bucket;
    char *access_key_id;
    const Secret *secret;
    R2Options opts;
    HttpClient *http;
    const NetClock *clock;
    SigV4KeyCache keys;
    uint64_t requests;
};

static const LogCtx r2_log = {"r2", NULL, 0, false};

void r2_options_default(R2Options *o)
{
    memset(o, 0, sizeof *o);
    http_options_default(&o->http);
    o->http.total_timeout_ms = 300000;   /* parts can be large */
    retry_policy_default(&o->retry);
}

R2Client *r2_client_new(const char *endpoint, const char *bucket, const char *access_key_id,
                        const Secret *secret_access_key, const R2Options *opts, Err *err)
{
    if (!endpoint || !endpoint[0] || !bucket || !bucket[0] || !access_key_id ||
        !access_key_id[0] || !secret_access_key || secret_is_empty(secret_access_key)) {
        err_set(err, ERR_CONFIG, "r2: endpoint, bucket, access key id and secret are required");
        return NULL;
    }
    if (strchr(bucket, '/')) {
        err_set(err, ERR_CONFIG, "r2: bucket name '%s' contains '/'", bucket);
        return NULL;
    }
    if (!http_url_check(endpoint, err)) {
        err_prefix(err, "r2 endpoint");
        return NULL;
    }
    R2Client *c = xcalloc(1, sizeof *c);
    if (opts)
        c->opts = *opts;
    else
        r2_options_default(&c->opts);
    if (c->opts.retry.max_attempts == 0)
        retry_policy_default(&c->opts.retry);
    c->endpoint = xstrdup(endpoint);
    size_t elen = strlen(c->endpoint);
    while (elen > 0 && c->endpoint[elen - 1] == '/')
        c->endpoint[--elen] = '\0';
    const char *auth = strstr(c->endpoint, "://") + 3;
    c->host = xstrndup(auth, strcspn(auth, "/?#"));
    if (strchr(auth, '/')) {
        err_set(err, ERR_CONFIG, "r2 endpoint must not have a path (use the bucket setting)");
        r2_client_free(c);
        return NULL;
    }
    c->bucket = xstrdup(bucket);
    c->access_key_id = xstrdup(access_key_id);
    c->secret = secret_access_key;
    c->clock = c->opts.clock ? c->opts.clock : net_clock_system();
    c->http = http_client_new(&c->opts.http, err);
    if (!c->http) {
        r2_client_free(c);
        return NULL;
    }
    return c;
}

void r2_client_free(R2Client *c)
{
    if (!c)
        return;
    http_client_free(c->http);
    sigv4_cache_clear(&c->keys);
    free(c->endpoint);
    free(c->host);
    free(c->bucket);
    free(c->access_key_id);
    free(c);
}

uint64_t r2_client_request_count(const R2Client *c) { return c->requests; }

void r2_object_info_free(R2ObjectInfo *i)
{
    if (!i)
        return;
    free(i->etag);
    free(i->content_type);
    free(i->content_range);
    memset(i, 0, sizeof *i);
}

/* ---- XML ----------------------------------------------------------------- */

static void put_utf8(Buf *b, uint32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    Err e;
    if (!buf_append(b, o, n, &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
}

static char *xml_decode(const char *s, size_t len)
{
    static const struct {
        const char *ent;
        char ch;
    } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    Buf b;
    Err e;
    buf_init(&b, UNCAPPED);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '&') {
            bool done = false;
            for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++) {
                size_t el = strlen(named[k].ent);
                if (len - i >= el && memcmp(s + i, named[k].ent, el) == 0) {
                    put_utf8(&b, (unsigned char)named[k].ch);
                    i += el - 1;
                    done = true;
                }
            }
            if (!done && len - i >= 4 && s[i + 1] == '#') {
                size_t j = i + 2;
                bool hex = j < len && (s[j] == 'x' || s[j] == 'X');
                if (hex)
                    j++;
                uint32_t cp = 0;
                size_t digits = 0;
                for (; j < len && digits < 8; j++, digits++) {
                    char ch = s[j];
                    int v = (ch >= '0' && ch <= '9')           ? ch - '0'
                            : hex && (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                            : hex && (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                               : -1;
                    if (v < 0)
                        break;
                    cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
                }
                if (digits > 0 && j < len && s[j] == ';' && cp > 0 && cp <= 0x10FFFF &&
                    !(cp >= 0xD800 && cp <= 0xDFFF)) {
                    put_utf8(&b, cp);
                    i = j;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        if (!buf_append(&b, &s[i], 1, &e))
            abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
    }
    return buf_take(&b);
}

static const char *find_mem(const char *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen(needle);
    if (nlen == 0 || nlen > hlen)
        return NULL;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

/* Bounds of the first <tag>…</tag> in xml[from..len): content [*cs, *ce), end after close. */
static bool xml_find(const char *xml, size_t len, size_t from, const char *tag, size_t *cs,
                     size_t *ce, size_t *end)
{
    if (from >= len)
        return false;
    char open[72], close[72];
    if (strlen(tag) > 64)
        return false;
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *o = find_mem(xml + from, len - from, open);
    if (!o)
        return false;
    size_t start = (size_t)(o - xml) + strlen(open);
    const char *c = find_mem(xml + start, len - start, close);
    if (!c)
        return false;
    *cs = start;
    *ce = (size_t)(c - xml);
    *end = *ce + strlen(close);
    return true;
}

char *r2_xml_text(const char *xml, size_t len, size_t from, const char *tag, size_t *next)
{
    size_t cs, ce, end;
    if (!xml_find(xml, len, from, tag, &cs, &ce, &end))
        return NULL;
    if (next)
        *next = end;
    return xml_decode(xml + cs, ce - cs);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

void r2_list_result_free(R2ListResult *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].key);
        free(r->items[i].etag);
        free(r->items[i].last_modified);
    }
    free(r->items);
    for (size_t i = 0; i < r->prefix_count; i++)
        free(r->common_prefixes[i]);
    free(r->common_prefixes);
    free(r->next_token);
    memset(r, 0, sizeof *r);
}

bool r2_xml_parse_list(const char *xml, size_t len, R2ListResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!find_mem(xml, len, "<ListBucketResult"))
        return err_set(err, ERR_PROTOCOL, "r2 list: the response is not a ListBucketResult");
    size_t pos = 0, cs, ce, end, cap = 0;
    while (xml_find(xml, len, pos, "Contents", &cs, &ce, &end)) {
        char *key = r2_xml_text(xml, ce, cs, "Key", NULL);
        if (!key) {
            r2_list_result_free(out);
            return err_set(err, ERR_PROTOCOL, "r2 list: an entry has no Key");
        }
        if (out->count == cap) {
            cap = cap ? cap * 2 : 16;
            out->items = xrealloc(out->items, cap * sizeof *out->items);
        }
        R2ListEntry *e = &out->items[out->count++];
        memset(e, 0, sizeof *e);
        e->key = key;
        char *size = r2_xml_text(xml, ce, cs, "Size", NULL);
        if (size && !parse_u64(size, &e->size)) {
            free(size);
            r2_list_result_free(out);
            return err_set(err, ERR_PROTOCOL, "r2 list: an entry has a bad Size");
        }
        free(size);
        e->etag = r2_xml_text(xml, ce, cs, "ETag", NULL);
        e->last_modified = r2_xml_text(xml, ce, cs, "LastModified", NULL);
        pos = end;
    }
    pos = 0;
    size_t pcap = 0;
    while (xml_find(xml, len, pos, "CommonPrefixes", &cs, &ce, &end)) {
        char *p = r2_xml_text(xml, ce, cs, "Prefix", NULL);
        if (p) {
            if (out->prefix_count == pcap) {
                pcap = pcap ? pcap * 2 : 8;
                out->common_prefixes = xrealloc(out->common_prefixes, pcap * sizeof(char *));
            }
            out->common_prefixes[out->prefix_count++] = p;
        }
        pos = end;
    }
    char *trunc = r2_xml_text(xml, len, 0, "IsTruncated", NULL);
    out->truncated = trunc && strcmp(trunc, "true") == 0;
    free(trunc);
    out->next_token = r2_xml_text(xml, len, 0, "NextContinuationToken", NULL);
    if (out->truncated && !out->next_token) {
        r2_list_result_free(out);
        return err_set(err, ERR_PROTOCOL, "r2 list: truncated without a continuation token");
    }
    return true;
}

/* ---- multipart rules ------------------------------------------------------- */

bool r2_parts_check(const R2Part *parts, size_t n, Err *err)
{
    if (n == 0)
        return err_set(err, ERR_USAGE, "r2 multipart: no parts to complete");
    if (n > R2_MAX_PARTS)
        return err_set(err, ERR_TOO_LARGE, "r2 multipart: %zu parts; the limit is %u", n,
                       R2_MAX_PARTS);
    for (size_t i = 0; i < n; i++) {
        const R2Part *p = &parts[i];
        if (p->part_number < 1 || p->part_number > R2_MAX_PARTS)
            return err_set(err, ERR_USAGE, "r2 multipart: part number %u is out of 1..%u",
                           p->part_number, R2_MAX_PARTS);
        if (i && p->part_number <= parts[i - 1].part_number)
            return err_set(err, ERR_USAGE, "r2 multipart: part numbers must ascend (%u after %u)",
                           p->part_number, parts[i - 1].part_number);
        if (!p->etag || !p->etag[0])
            return err_set(err, ERR_USAGE, "r2 multipart: part %u has no etag", p->part_number);
        if (p->size > R2_MAX_PART_BYTES)
            return err_set(err, ERR_TOO_LARGE,
                           "r2 multipart: part %u is %llu bytes; the limit is %llu",
                           p->part_number, (unsigned long long)p->size,
                           (unsigned long long)R2_MAX_PART_BYTES);
        bool last = i + 1 == n;
        if (!last && p->size < R2_MIN_PART_BYTES)
            return err_set(err, ERR_USAGE,
                           "r2 multipart: part %u is %llu bytes; every part but the last must be "
                           "at least %llu bytes",
                           p->part_number, (unsigned long long)p->size,
                           (unsigned long long)R2_MIN_PART_BYTES);
        if (!last && i && p->size != parts[0].size)
            return err_set(err, ERR_USAGE,
                           "r2 multipart: part %u is %llu bytes but part %u is %llu; all parts "
                           "but the last must be the same size",
                           p->part_number, (unsigned long long)p->size, parts[0].part_number,
                           (unsigned long long)parts[0].size);
        if (last && n > 1 && p->size > parts[0].size)
            return err_set(err, ERR_USAGE,
                           "r2 multipart: the last part (%llu bytes) is larger than the others "
                           "(%llu)",
                           (unsigned long long)p->size, (unsigned long long)parts[0].size);
    }
    return true;
}

bool r2_part_count(uint64_t size, uint64_t part_size, size_t *out, Err *err)
{
    if (part_size < R2_MIN_PART_BYTES || part_size > R2_MAX_PART_BYTES)
        return err_set(err, ERR_USAGE,
                       "r2 multipart: a part size of %llu bytes is outside %llu..%llu",
                       (unsigned long long)part_size, (unsigned long long)R2_MIN_PART_BYTES,
                       (unsigned long long)R2_MAX_PART_BYTES);
    uint64_t parts = size == 0 ? 1 : (size - 1) / part_size + 1;
    if (parts > R2_MAX_PARTS)
        return err_set(err, ERR_TOO_LARGE,
                       "r2 multipart: %llu bytes in parts of %llu needs %llu parts; the limit is "
                       "%u (use larger parts)",
                       (unsigned long long)size, (unsigned long long)part_size,
                       (unsigned long long)parts, R2_MAX_PARTS);
    *out = (size_t)parts;
    return true;
}

/* ---- requests --------------------------------------------------------------- */

typedef struct R2Call {
    const char *what;            /* "r2 put" */
    const char *method;
    const char *key;             /* NULL → the bucket */
    const char *query;           /* encoded, no '?' */
    const HttpHeader *extra;     /* signed and sent */
    size_t nextra;
    const void *body;
    size_t body_len;
    const char *upload_path;
    uint64_t upload_offset;
    uint64_t upload_len;
    const char *payload_hash;    /* NULL → computed from body (or unsigned) */
    bool accept_404;
    size_t max_response;
} R2Call;

/* " 'key'" in messages; nothing for a call on the bucket itself */
#define KEY_FMT "%s%s%s"
#define KEY_ARGS(k) (k) ? " '" : "", (k) ? (k) : "", (k) ? "'" : ""

static bool build_path(const R2Client *c, const char *key, Buf *path, Err *err)
{
    if (!sigv4_encode_path(path, c->bucket, err))
        return false;
    if (key) {
        size_t klen = strlen(key);
        if (klen == 0 || klen > R2_MAX_KEY_BYTES)
            return err_set(err, ERR_USAGE, "r2 key must be 1..%u bytes (got %zu)",
                           R2_MAX_KEY_BYTES, klen);
        if (!sigv4_encode_path(path, key, err))
            return false;
    }
    return true;
}

/* S3 XML error → code and message (owned, NULL if absent); both sanitised. */
static void s3_error(const HttpResponse *r, char **code, char **msg)
{
    *code = NULL;
    *msg = NULL;
    if (r->body.len == 0)
        return;
    size_t n = r->body.len > R2_XML_MAX ? R2_XML_MAX : r->body.len;
    *code = r2_xml_text(r->body.data, n, 0, "Code", NULL);
    *msg = r2_xml_text(r->body.data, n, 0, "Message", NULL);
    for (char **s = code; s; s = (s == code ? msg : NULL)) {
        if (!*s)
            continue;
        for (char *p = *s; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        if (strlen(*s) > 200)
            (*s)[200] = '\0';
    }
}

static bool r2_call(R2Client *c, const R2Call *call, HttpResponse *resp, Err *err)
{
    memset(resp, 0, sizeof *resp);
    Buf path;
    buf_init(&path, UNCAPPED);
    if (!build_path(c, call->key, &path, err)) {
        err_prefix(err, "%s", call->what);
        buf_free(&path);
        return false;
    }
    char *url = xasprintf("%s%s%s%s", c->endpoint, path.data, call->query ? "?" : "",
                          call->query ? call->query : "");
    char hash[65];
    const char *payload_hash = call->payload_hash;
    if (!payload_hash) {
        if (c->opts.unsigned_payload) {
            payload_hash = SIGV4_UNSIGNED_PAYLOAD;
        } else {
            sha256_hex(call->body, call->body_len, hash);
            payload_hash = hash;
        }
    }
    SigV4Creds creds = {c->access_key_id, secret_reveal(c->secret),
                        c->opts.region ? c->opts.region : "auto", "s3"};
    bool ok = false;
    uint64_t t0 = c->clock->mono_ms(c->clock->user);
    size_t nh = call->nextra + 3;
    SigV4Header *sh = xcalloc(nh, sizeof *sh);
    HttpHeader *hh = xcalloc(nh + 1, sizeof *hh);
    for (unsigned attempt = 1;; attempt++) {
        char amz_date[17];
        sigv4_format_date(c->clock->wall_s(c->clock->user), amz_date);
        sh[0] = (SigV4Header){"host", c->host};
        sh[1] = (SigV4Header){"x-amz-date", amz_date};
        sh[2] = (SigV4Header){"x-amz-content-sha256", payload_hash};
        for (size_t i = 0; i < call->nextra; i++)
            sh[3 + i] = (SigV4Header){call->extra[i].name, call->extra[i].value};
        SigV4Request sreq = {call->method, path.data, call->query, sh, nh, payload_hash};
        char *auth = NULL, sig[65];
        if (!sigv4_sign(&sreq, &creds, amz_date, &c->keys, &auth, sig, err)) {
            err_prefix(err, "%s" KEY_FMT, call->what, KEY_ARGS(call->key));
            break;
        }
        for (size_t i = 0; i < nh; i++)
            hh[i] = (HttpHeader){sh[i].name, sh[i].value};
        hh[nh] = (HttpHeader){"Authorization", auth};
        HttpRequest req = {.method = call->method, .url = url, .headers = hh,
                           .header_count = nh + 1, .body = call->body,
                           .body_len = call->body_len, .upload_path = call->upload_path,
                           .upload_offset = call->upload_offset, .upload_len = call->upload_len,
                           .max_response_bytes = call->max_response ? call->max_response
                                                                    : R2_DEFAULT_MAX_RESPONSE};
        http_response_free(resp);
        Err terr;
        err_clear(&terr);
        bool sent = http_do(c->http, &req, resp, &terr);
        memset(auth, 0, strlen(auth));
        free(auth);
        c->requests++;
        RetryInput in = {0};
        if (!sent) {
            in.transport_error = true;
            in.transport_retryable = err_retryable(&terr);
        } else {
            if ((resp->status >= 200 && resp->status < 300) ||
                (resp->status == 404 && call->accept_404)) {
                ok = true;
                break;
            }
            in.status = resp->status;
            in.retry_after = http_response_header(resp, "retry-after");
        }
        uint64_t elapsed = c->clock->mono_ms(c->clock->user) - t0;
        RetryDecision d = retry_decide(&c->opts.retry, &in, attempt, elapsed,
                                       c->clock->wall_s(c->clock->user),
                                       c->clock->random_u32(c->clock->user));
        if (!d.retry) {
            if (!sent) {
                *err = terr;
                err_prefix(err, "%s" KEY_FMT, call->what, KEY_ARGS(call->key));
            } else {
                char *code, *msg;
                s3_error(resp, &code, &msg);
                err_set(err, d.budget_exhausted ? ERR_HTTP : ERR_CF_API,
                        "%s" KEY_FMT ": %s%s%s (http %ld)%s", call->what, KEY_ARGS(call->key),
                        code ? code : "error", msg ? ": " : "", msg ? msg : "", resp->status,
                        d.budget_exhausted ? "; retries exhausted" : "");
                err->detail = resp->status;
                free(code);
                free(msg);
            }
            http_response_free(resp);
            break;
        }
        log_debug(&r2_log, "%s: %s; retrying in %llu ms (attempt %u)", call->what,
                  sent ? "retryable status" : terr.msg, (unsigned long long)d.delay_ms,
                  attempt + 1);
        c->clock->sleep_ms(c->clock->user, d.delay_ms);
    }
    free(sh);
    free(hh);
    free(url);
    buf_free(&path);
    return ok;
}

static void info_from(const HttpResponse *r, R2ObjectInfo *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->etag = xstrdup(http_response_header(r, "etag"));
    out->content_type = xstrdup(http_response_header(r, "content-type"));
    out->content_range = xstrdup(http_response_header(r, "content-range"));
    uint64_t n;
    if (parse_u64(http_response_header(r, "content-length"), &n))
        out->size = n;
}

static size_t put_headers(const R2PutOptions *o, HttpHeader *h)
{
    size_t n = 0;
    if (!o)
        return 0;
    if (o->content_type)
        h[n++] = (HttpHeader){"content-type", o->content_type};
    if (o->if_none_match)
        h[n++] = (HttpHeader){"if-none-match", o->if_none_match};
    if (o->if_match)
        h[n++] = (HttpHeader){"if-match", o->if_match};
    if (o->content_md5)
        h[n++] = (HttpHeader){"content-md5", o->content_md5};
    return n;
}

bool r2_put_object(R2Client *c, const char *key, const void *data, size_t len,
                   const R2PutOptions *opts, R2ObjectInfo *out, Err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (len > R2_MAX_PART_BYTES)
        return err_set(err, ERR_TOO_LARGE,
                       "r2 put '%s': %zu bytes is over the single-upload limit; use multipart",
                       key, len);
    HttpHeader h[4];
    R2Call call = {.what = "r2 put", .method = "PUT", .key = key, .extra = h,
                   .nextra = put_headers(opts, h), .body = data ? data : "", .body_len = len};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    info_from(&resp, out);
    http_response_free(&resp);
    return true;
}

bool r2_put_object_file(R2Client *c, const char *key, const char *path, uint64_t offset,
                        uint64_t len, const R2PutOptions *opts, R2ObjectInfo *out, Err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (len > R2_MAX_PART_BYTES)
        return err_set(err, ERR_TOO_LARGE, "r2 put '%s': %llu bytes is over the single-upload "
                       "limit; use multipart", key, (unsigned long long)len);
    char hash[65];
    if (!c->opts.unsigned_payload && !fs_sha256_hex(path, offset, len, hash, NULL, err))
        return false;
    HttpHeader h[4];
    R2Call call = {.what = "r2 put", .method = "PUT", .key = key, .extra = h,
                   .nextra = put_headers(opts, h), .upload_path = path, .upload_offset = offset,
                   .upload_len = len,
                   .payload_hash = c->opts.unsigned_payload ? SIGV4_UNSIGNED_PAYLOAD : hash};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    info_from(&resp, out);
    http_response_free(&resp);
    return true;
}

bool r2_get_object(R2Client *c, const char *key, uint64_t offset, uint64_t length,
                   size_t max_bytes, Buf *out, R2ObjectInfo *info, bool *found, Err *err)
{
    *found = false;
    if (info)
        memset(info, 0, sizeof *info);
    char range[64];
    HttpHeader h[1];
    size_t nh = 0;
    if (offset || length) {
        if (length)
            snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
                     (unsigned long long)(offset + length - 1));
        else
            snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)offset);
        h[nh++] = (HttpHeader){"range", range};
    }
    R2Call call = {.what = "r2 get", .method = "GET", .key = key, .extra = h, .nextra = nh,
                   .accept_404 = true, .max_response = max_bytes};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    bool ok = true;
    if (resp.status != 404) {
        *found = true;
        info_from(&resp, info);
        ok = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len, err);
    }
    http_response_free(&resp);
    return ok;
}

bool r2_head_object(R2Client *c, const char *key, R2ObjectInfo *out, bool *found, Err *err)
{
    *found = false;
    if (out)
        memset(out, 0, sizeof *out);
    R2Call call = {.what = "r2 head", .method = "HEAD", .key = key, .accept_404 = true};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    if (resp.status != 404) {
        *found = true;
        info_from(&resp, out);
    }
    http_response_free(&resp);
    return true;
}

bool r2_head_bucket(R2Client *c, bool *found, Err *err)
{
    *found = false;
    R2Call call = {.what = "r2 head bucket", .method = "HEAD", .key = NULL, .accept_404 = true};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    *found = resp.status != 404;
    http_response_free(&resp);
    return true;
}

bool r2_delete_object(R2Client *c, const char *key, Err *err)
{
    R2Call call = {.what = "r2 delete", .method = "DELETE", .key = key, .accept_404 = true};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    http_response_free(&resp);
    return true;
}

/* Append "&name=value" (value encoded) to a query Buf. */
static bool q_add(Buf *q, const char *name, const char *value, Err *err)
{
    return (q->len == 0 || buf_append(q, "&", 1, err)) && buf_append_str(q, name, err) &&
           buf_append(q, "=", 1, err) && sigv4_encode(q, value, strlen(value), err);
}

bool r2_list_objects(R2Client *c, const char *prefix, const char *delimiter,
                     const char *continuation_token, unsigned max_keys, R2ListResult *out,
                     Err *err)
{
    memset(out, 0, sizeof *out);
    Buf q;
    buf_init(&q, UNCAPPED);
    char mk[16];
    snprintf(mk, sizeof mk, "%u", max_keys && max_keys <= 1000 ? max_keys : 1000u);
    bool ok = q_add(&q, "list-type", "2", err) && q_add(&q, "max-keys", mk, err) &&
              (!prefix || q_add(&q, "prefix", prefix, err)) &&
              (!delimiter || q_add(&q, "delimiter", delimiter, err)) &&
              (!continuation_token || q_add(&q, "continuation-token", continuation_token, err));
    if (ok) {
        R2Call call = {.what = "r2 list", .method = "GET", .query = q.data,
                       .max_response = R2_XML_MAX};
        HttpResponse resp;
        ok = r2_call(c, &call, &resp, err);
        if (ok) {
            ok = r2_xml_parse_list(resp.body.data ? resp.body.data : "", resp.body.len, out, err);
            http_response_free(&resp);
        }
    }
    buf_free(&q);
    return ok;
}

bool r2_mpu_create(R2Client *c, const char *key, const char *content_type, char **out_upload_id,
                   Err *err)
{
    *out_upload_id = NULL;
    HttpHeader h[1];
    size_t nh = 0;
    if (content_type)
        h[nh++] = (HttpHeader){"content-type", content_type};
    R2Call call = {.what = "r2 create multipart upload", .method = "POST", .key = key,
                   .query = "uploads", .extra = h, .nextra = nh, .max_response = R2_XML_MAX};
    HttpResponse resp;
    if (!r2_call(c, &call, &resp, err))
        return false;
    *out_upload_id = r2_xml_text(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                                 "UploadId", NULL);
    http_response_free(&resp);
    if (!*out_upload_id || !(*out_upload_id)[0]) {
        free(*out_upload_id);
        *out_upload_id = NULL;
        return err_set(err, ERR_PROTOCOL, "r2 create multipart upload '%s': no UploadId", key);
    }
    return true;
}

static bool upload_part(R2Client *c, const char *key, const char *upload_id, unsigned part_number,
                        const void *data, size_t len, const char *path, uint64_t offset,
                        uint64_t flen, char **out_etag, Err *err)
{
    *out_etag = NULL;
    uint64_t size = path ? flen : len;
    if (part_number < 1 || part_number > R2_MAX_PARTS)
        return err_set(err, ERR_USAGE, "r2 upload part: part number %u is out of 1..%u",
                       part_number, R2_MAX_PARTS);
    if (size > R2_MAX_PART_BYTES)
        return err_set(err, ERR_TOO_LARGE, "r2 upload part %u: %llu bytes; the limit is %llu",
                       part_number, (unsigned long long)size,
                       (unsigned long long)R2_MAX_PART_BYTES);
    Buf q;
    Err e2;
    buf_init(&q, UNCAPPED);
    char pn[16];
    snprintf(pn, sizeof pn, "%u", part_number);
    if (!q_add(&q, "partNumber", pn, &e2) || !q_add(&q, "uploadId", upload_id, &e2))
        abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
    char hash[65];
    const char *ph = NULL;
    if (path) {
        if (c->opts.unsigned_payload)
            ph = SIGV4_UNSIGNED_PAYLOAD;
        else if (fs_sha256_hex(path, offset, flen, hash, NULL, err))
            ph = hash;
        else {
            buf_free(&q);
            return false;
        }
    }
    R2Call call = {.what = "r2 upload part", .method = "PUT", .key = key, .query = q.data,
                   .body = data ? data : "", .body_len = len, .upload_path = path,
                   .upload_offset = offset, .upload_len = flen, .payload_hash = ph};
    HttpResponse resp;
    bool ok = r2_call(c, &call, &resp, err);
    buf_free(&q);
    if (!ok)
        return false;
    const char *etag = http_response_header(&resp, "etag");
    *out_etag = xstrdup(etag);
    http_response_free(&resp);
    if (!*out_etag)
        return err_set(err, ERR_PROTOCOL, "r2 upload part %u of '%s': no ETag", part_number, key);
    return true;
}

bool r2_mpu_upload_part(R2Client *c, const char *key, const char *upload_id, unsigned part_number,
                        const void *data, size_t len, char **out_etag, Err *err)
{
    return upload_part(c, key, upload_id, part_number, data, len, NULL, 0, 0, out_etag, err);
}

bool r2_mpu_upload_part_file(R2Client *c, const char *key, const char *upload_id,
                             unsigned part_number, const char *path, uint64_t offset,
                             uint64_t len, char **out_etag, Err *err)
{
    return upload_part(c, key, upload_id, part_number, NULL, 0, path, offset, len, out_etag,
                       err);
}

static bool xml_escape_into(Buf *b, const char *s, Err *err)
{
    for (; *s; s++) {
        const char *rep = *s == '<'    ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '&'  ? "&amp;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&apos;"
                                       : NULL;
        if (rep ? !buf_append_str(b, rep, err) : !buf_append(b, s, 1, err))
            return false;
    }
    return true;
}

bool r2_mpu_complete(R2Client *c, const char *key, const char *upload_id, const R2Part *parts,
                     size_t n, R2ObjectInfo *out, Err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!r2_parts_check(parts, n, err)) {
        err_prefix(err, "r2 complete multipart upload '%s'", key);
        return false;
    }
    Buf body, q;
    buf_init(&body, UNCAPPED);
    buf_init(&q, UNCAPPED);
    bool ok = buf_append_str(&body, "<CompleteMultipartUpload>", err);
    for (size_t i = 0; ok && i < n; i++)
        ok = buf_printf(&body, err, "<Part><PartNumber>%u</PartNumber><ETag>",
                        parts[i].part_number) &&
             xml_escape_into(&body, parts[i].etag, err) &&
             buf_append_str(&body, "</ETag></Part>", err);
    ok = ok && buf_append_str(&body, "</CompleteMultipartUpload>", err) &&
         q_add(&q, "uploadId", upload_id, err);
    if (ok) {
        HttpHeader h[1] = {{"content-type", "application/xml"}};
        R2Call call = {.what = "r2 complete multipart upload", .method = "POST", .key = key,
                       .query = q.data, .extra = h, .nextra = 1, .body = body.data,
                       .body_len = body.len, .max_response = R2_XML_MAX};
        HttpResponse resp;
        ok = r2_call(c, &call, &resp, err);
        if (ok) {
            /* S3 may answer 200 with an <Error> body */
            char *code = r2_xml_text(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                                     "Code", NULL);
            if (code && find_mem(resp.body.data, resp.body.len, "<Error>")) {
                err_set(err, ERR_CF_API, "r2 complete multipart upload '%s': %.100s", key, code);
                ok = false;
            } else if (out) {
                out->etag = r2_xml_text(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                                        "ETag", NULL);
            }
            free(code);
            http_response_free(&resp);
        }
    }
    buf_free(&body);
    buf_free(&q);
    return ok;
}

bool r2_mpu_abort(R2Client *c, const char *key, const char *upload_id, Err *err)
{
    Buf q;
    buf_init(&q, UNCAPPED);
    bool ok = q_add(&q, "uploadId", upload_id, err);
    if (ok) {
        R2Call call = {.what = "r2 abort multipart upload", .method = "DELETE", .key = key,
                       .query = q.data, .accept_404 = true};
        HttpResponse resp;
        ok = r2_call(c, &call, &resp, err);
        if (ok)
            http_response_free(&resp);
    }
    buf_free(&q);
    return ok;
}

void r2_parts_free(R2Part *parts, size_t n)
{
    if (!parts)
        return;
    for (size_t i = 0; i < n; i++)
        free(parts[i].etag);
    free(parts);
}

bool r2_mpu_list_parts(R2Client *c, const char *key, const char *upload_id, R2Part **out,
                       size_t *out_count, Err *err)
{
    *out = NULL;
    *out_count = 0;
    Buf q;
    buf_init(&q, UNCAPPED);
    bool ok = q_add(&q, "uploadId", upload_id, err);
    HttpResponse resp;
    if (ok) {
        R2Call call = {.what = "r2 list parts", .method = "GET", .key = key, .query = q.data,
                       .max_response = R2_XML_MAX};
        ok = r2_call(c, &call, &resp, err);
    }
    buf_free(&q);
    if (!ok)
        return false;
    const char *x = resp.body.data ? resp.body.data : "";
    size_t len = resp.body.len, pos = 0, cs, ce, end, cap = 0;
    while (xml_find(x, len, pos, "Part", &cs, &ce, &end)) {
        char *pn = r2_xml_text(x, ce, cs, "PartNumber", NULL);
        char *size = r2_xml_text(x, ce, cs, "Size", NULL);
        uint64_t pnv = 0, sz = 0;
        bool good = parse_u64(pn, &pnv) && pnv >= 1 && pnv <= R2_MAX_PARTS && parse_u64(size, &sz);
        free(pn);
        free(size);
        if (!good) {
            r2_parts_free(*out, *out_count);
            *out = NULL;
            *out_count = 0;
            http_response_free(&resp);
            return err_set(err, ERR_PROTOCOL, "r2 list parts '%s': a malformed Part", key);
        }
        if (*out_count == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        R2Part *p = &(*out)[(*out_count)++];
        p->part_number = (unsigned)pnv;
        p->size = sz;
        p->etag = r2_xml_text(x, ce, cs, "ETag", NULL);
        pos = end;
    }
    http_response_free(&resp);
    return true;
}
