/*
 * cf/sigv4.c - AWS SigV4 signing (see sigv4.h).
 *
 * The four SigV4 steps in order: the canonical request (path as given, query
 * pairs decoded, re-encoded and sorted, headers lower-cased, sorted and trimmed),
 * the string to sign with the credential scope, the signing key derived by the
 * HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request", and the
 * Authorization header. The derived key depends only on the day, region and
 * service, so the caller's cache keeps it and later requests that day skip the
 * four HMACs. Every temporary holding key material is wiped with
 * OPENSSL_cleanse before it is freed. x-amz-date is computed by hand from days
 * since the epoch (no libc time calls), keeping the module pure.
 */
#include "cf/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define UNCAPPED (SIZE_MAX / 2)

void sigv4_cache_clear(SigV4KeyCache *cache)
{
    if (cache)
        OPENSSL_cleanse(cache, sizeof *cache);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static bool encode(Buf *out, const char *s, size_t len, bool keep_slash, Err *err)
{
    static const char UHEX[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (!buf_append(out, &s[i], 1, err))
                return false;
        } else {
            char e[3] = {'%', UHEX[c >> 4], UHEX[c & 15]};
            if (!buf_append(out, e, 3, err))
                return false;
        }
    }
    return true;
}

bool sigv4_encode(Buf *out, const char *s, size_t len, Err *err)
{
    return encode(out, s, len, false, err);
}

bool sigv4_encode_path(Buf *out, const char *key, Err *err)
{
    return buf_append(out, "/", 1, err) && encode(out, key, strlen(key), true, err);
}

/* ---- date --------------------------------------------------------------- */

static void put_num(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sigv4_format_date(int64_t epoch_s, char out[17])
{
    int64_t days = epoch_s >= 0 ? epoch_s / 86400 : -((-epoch_s + 86399) / 86400);
    int64_t secs = epoch_s - days * 86400;
    int64_t y;
    unsigned m, d;
    timefmt_civil(days, &y, &m, &d);
    put_num(out, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4);
    put_num(out + 4, m, 2);
    put_num(out + 6, d, 2);
    out[8] = 'T';
    put_num(out + 9, (unsigned)(secs / 3600), 2);
    put_num(out + 11, (unsigned)(secs / 60 % 60), 2);
    put_num(out + 13, (unsigned)(secs % 60), 2);
    out[15] = 'Z';
    out[16] = '\0';
}

static bool amz_date_ok(const char *s)
{
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

/* ---- canonical request ------------------------------------------------- */

/* Owned percent-decoded copy of s[0..len). */
static char *pct_decode(const char *s, size_t len, size_t *out_len)
{
    char *o = xmalloc(len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && len - i >= 3 && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            o[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    *out_len = j;
    return o;
}

typedef struct QParam {
    char *name;   /* encoded */
    char *value;  /* encoded */
} QParam;

static int cmp_qparam(const void *a, const void *b)
{
    const QParam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *reencode(const char *s, size_t len)
{
    size_t dlen;
    char *dec = pct_decode(s, len, &dlen);
    Buf b;
    Err e;
    buf_init(&b, UNCAPPED);
    if (!encode(&b, dec, dlen, false, &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
    free(dec);
    return buf_take(&b);
}

static bool canonical_query(const char *q, Buf *out, Err *err)
{
    if (!q || !q[0])
        return true;
    size_t cap = 1;
    for (const char *p = q; *p; p++)
        if (*p == '&')
            cap++;
    QParam *ps = xcalloc(cap, sizeof *ps);
    size_t n = 0;
    const char *p = q;
    while (*p) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            ps[n].name = reencode(p, nlen);
            ps[n].value = eq ? reencode(eq + 1, len - nlen - 1) : xstrdup("");
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    qsort(ps, n, sizeof *ps, cmp_qparam);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = (i == 0 || buf_append(out, "&", 1, err)) && buf_append_str(out, ps[i].name, err) &&
             buf_append(out, "=", 1, err) && buf_append_str(out, ps[i].value, err);
    for (size_t i = 0; i < n; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    return ok;
}

typedef struct HdrRef {
    char *name;   /* lower-cased */
    const char *value;
    size_t idx;
} HdrRef;

static int cmp_hdr(const void *a, const void *b)
{
    const HdrRef *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Trim and collapse runs of spaces/tabs to one space. */
static bool append_trimmed(Buf *out, const char *v, Err *err)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    bool in_space = false;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            in_space = true;
            continue;
        }
        if (in_space && !buf_append(out, " ", 1, err))
            return false;
        in_space = false;
        if (!buf_append(out, &v[i], 1, err))
            return false;
    }
    return true;
}

bool sigv4_canonical_request(const SigV4Request *req, Buf *out, Buf *signed_headers, Err *err)
{
    if (!req->method || !req->payload_hash)
        return err_set(err, ERR_USAGE, "sigv4: method and payload hash are required");
    const char *path = req->path && req->path[0] ? req->path : "/";
    if (!buf_append_str(out, req->method, err) || !buf_append(out, "\n", 1, err) ||
        !buf_append_str(out, path, err) || !buf_append(out, "\n", 1, err) ||
        !canonical_query(req->query, out, err) || !buf_append(out, "\n", 1, err))
        return false;
    size_t n = req->header_count;
    HdrRef *hs = xcalloc(n ? n : 1, sizeof *hs);
    for (size_t i = 0; i < n; i++) {
        hs[i].name = xstrdup(req->headers[i].name);
        for (char *p = hs[i].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        hs[i].value = req->headers[i].value ? req->headers[i].value : "";
        hs[i].idx = i;
    }
    qsort(hs, n, sizeof *hs, cmp_hdr);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        bool same_as_prev = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        bool same_as_next = i + 1 < n && strcmp(hs[i].name, hs[i + 1].name) == 0;
        if (!same_as_prev) {
            ok = buf_append_str(out, hs[i].name, err) && buf_append(out, ":", 1, err) &&
                 (signed_headers->len == 0 || buf_append(signed_headers, ";", 1, err)) &&
                 buf_append_str(signed_headers, hs[i].name, err);
        } else {
            ok = buf_append(out, ",", 1, err);
        }
        ok = ok && append_trimmed(out, hs[i].value, err);
        if (ok && !same_as_next)
            ok = buf_append(out, "\n", 1, err);
    }
    for (size_t i = 0; i < n; i++)
        free(hs[i].name);
    free(hs);
    if (!ok)
        return false;
    return buf_append(out, "\n", 1, err) &&
           buf_append(out, signed_headers->data ? signed_headers->data : "", signed_headers->len,
                      err) &&
           buf_append(out, "\n", 1, err) && buf_append_str(out, req->payload_hash, err);
}

static bool scope_append(Buf *out, const SigV4Creds *creds, const char *amz_date, Err *err)
{
    return buf_append(out, amz_date, 8, err) &&
           buf_printf(out, err, "/%s/%s/aws4_request", creds->region, creds->service);
}

static bool sts_build(const SigV4Request *req, const SigV4Creds *creds, const char *amz_date,
                      Buf *out, Buf *signed_headers, Err *err)
{
    if (!amz_date_ok(amz_date))
        return err_set(err, ERR_USAGE, "sigv4: the date must look like 20150830T123600Z");
    if (!creds->region || !creds->service || !creds->region[0] || !creds->service[0])
        return err_set(err, ERR_USAGE, "sigv4: region and service are required");
    Buf creq;
    buf_init(&creq, UNCAPPED);
    if (!sigv4_canonical_request(req, &creq, signed_headers, err)) {
        buf_free(&creq);
        return false;
    }
    char h[65];
    sha256_hex(creq.data, creq.len, h);
    buf_free(&creq);
    return buf_printf(out, err, "AWS4-HMAC-SHA256\n%s\n", amz_date) &&
           scope_append(out, creds, amz_date, err) && buf_printf(out, err, "\n%s", h);
}

bool sigv4_string_to_sign(const SigV4Request *req, const SigV4Creds *creds, const char *amz_date,
                          Buf *out, Err *err)
{
    Buf sh;
    buf_init(&sh, UNCAPPED);
    bool ok = sts_build(req, creds, amz_date, out, &sh, err);
    buf_free(&sh);
    return ok;
}

static bool hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
                 unsigned char out[32])
{
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) != NULL && olen == 32;
}

static bool derive_key(const SigV4Creds *creds, const char *date8, unsigned char out[32])
{
    size_t slen = strlen(creds->secret_access_key);
    unsigned char *k = xmalloc(slen + 4);
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, creds->secret_access_key, slen);
    unsigned char a[32], b[32];
    bool ok = hmac(k, slen + 4, date8, 8, a) &&
              hmac(a, 32, creds->region, strlen(creds->region), b) &&
              hmac(b, 32, creds->service, strlen(creds->service), a) &&
              hmac(a, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k, slen + 4);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    free(k);
    return ok;
}

bool sigv4_sign(const SigV4Request *req, const SigV4Creds *creds, const char *amz_date,
                SigV4KeyCache *cache, char **out_authorization, char out_signature[65], Err *err)
{
    *out_authorization = NULL;
    if (!creds->access_key_id || !creds->access_key_id[0] || !creds->secret_access_key ||
        !creds->secret_access_key[0])
        return err_set(err, ERR_USAGE, "sigv4: access key id and secret are required");
    Buf sts, sh;
    buf_init(&sts, UNCAPPED);
    buf_init(&sh, UNCAPPED);
    bool built = sts_build(req, creds, amz_date, &sts, &sh, err);
    bool ok = built;
    unsigned char key[32], sig[32];
    if (ok) {
        if (cache && cache->valid && memcmp(cache->date, amz_date, 8) == 0 &&
            strcmp(cache->region, creds->region) == 0 &&
            strcmp(cache->service, creds->service) == 0) {
            memcpy(key, cache->key, 32);
        } else {
            ok = derive_key(creds, amz_date, key);
            if (ok && cache && strlen(creds->region) < sizeof cache->region &&
                strlen(creds->service) < sizeof cache->service) {
                memcpy(cache->date, amz_date, 8);
                cache->date[8] = '\0';
                memcpy(cache->region, creds->region, strlen(creds->region) + 1);
                memcpy(cache->service, creds->service, strlen(creds->service) + 1);
                memcpy(cache->key, key, 32);
                cache->valid = true;
            }
        }
        ok = ok && hmac(key, 32, sts.data, sts.len, sig);
        if (!ok)
            err_set(err, ERR_INTERNAL, "sigv4: hmac failed");
    }
    if (ok) {
        hex_encode(sig, 32, out_signature);
        Buf a;
        buf_init(&a, UNCAPPED);
        ok = buf_printf(&a, err, "AWS4-HMAC-SHA256 Credential=%s/", creds->access_key_id) &&
             scope_append(&a, creds, amz_date, err) &&
             buf_printf(&a, err, ", SignedHeaders=%s, Signature=%s", sh.data ? sh.data : "",
                        out_signature);
        if (ok)
            *out_authorization = buf_take(&a);
        buf_free(&a);
    }
    OPENSSL_cleanse(key, sizeof key);
    buf_free(&sts);
    buf_free(&sh);
    return ok;
}
