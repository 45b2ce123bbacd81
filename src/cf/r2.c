/*
 * cf/r2.c - the R2 S3 client (see r2.h).
 *
 * Every request is signed afresh per attempt (x-amz-date moves on); the Host
 * header is sent explicitly so that what is signed is what is sent. The XML
 * reader only looks for known element names inside a bounded response, and
 * decodes the five predefined entities and numeric references.
 */
#include "cf/r2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf/r2_intern.h"
#include "cf/sigv4.h"
#include "core/fs.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"

#define R2_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)

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
bool r2_unsigned_payload(const R2Client *c) { return c->opts.unsigned_payload; }

void r2_object_info_free(R2ObjectInfo *i)
{
    if (!i)
        return;
    free(i->etag);
    free(i->content_type);
    free(i->content_range);
    memset(i, 0, sizeof *i);
}

/* ---- requests --------------------------------------------------------------- */

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

bool r2_call(R2Client *c, const R2Call *call, HttpResponse *resp, Err *err)
{
    memset(resp, 0, sizeof *resp);
    Buf path;
    buf_init(&path, R2_UNCAPPED);
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

void r2_info_from(const HttpResponse *r, R2ObjectInfo *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->etag = xstrdup(http_response_header(r, "etag"));
    out->content_type = xstrdup(http_response_header(r, "content-type"));
    out->content_range = xstrdup(http_response_header(r, "content-range"));
    uint64_t n;
    if (str_to_u64(http_response_header(r, "content-length"), UINT64_MAX, &n))
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
    r2_info_from(&resp, out);
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
    r2_info_from(&resp, out);
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
        r2_info_from(&resp, info);
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
        r2_info_from(&resp, out);
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

bool r2_query_add(Buf *q, const char *name, const char *value, Err *err)
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
    buf_init(&q, R2_UNCAPPED);
    char mk[16];
    snprintf(mk, sizeof mk, "%u", max_keys && max_keys <= 1000 ? max_keys : 1000u);
    bool ok = r2_query_add(&q, "list-type", "2", err) && r2_query_add(&q, "max-keys", mk, err) &&
              (!prefix || r2_query_add(&q, "prefix", prefix, err)) &&
              (!delimiter || r2_query_add(&q, "delimiter", delimiter, err)) &&
              (!continuation_token || r2_query_add(&q, "continuation-token", continuation_token, err));
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

