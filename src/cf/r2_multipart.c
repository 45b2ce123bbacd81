/*
 * cf/r2_multipart.c - see r2_multipart.h.
 *
 * Each call is one S3 request through r2_call (signed, retried); complete
 * checks the parts against R2's rules before anything is sent, and sends them
 * as the CompleteMultipartUpload XML, keys and ETags escaped.
 */
#include "cf/r2_multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf/r2_intern.h"
#include "cf/sigv4.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/str.h"

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

/* ---- requests ---- */

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
    buf_init(&q, R2_UNCAPPED);
    char pn[16];
    snprintf(pn, sizeof pn, "%u", part_number);
    if (!r2_query_add(&q, "partNumber", pn, &e2) || !r2_query_add(&q, "uploadId", upload_id, &e2))
        abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
    char hash[65];
    const char *ph = NULL;
    if (path) {
        if (r2_unsigned_payload(c))
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
    buf_init(&body, R2_UNCAPPED);
    buf_init(&q, R2_UNCAPPED);
    bool ok = buf_append_str(&body, "<CompleteMultipartUpload>", err);
    for (size_t i = 0; ok && i < n; i++)
        ok = buf_printf(&body, err, "<Part><PartNumber>%u</PartNumber><ETag>",
                        parts[i].part_number) &&
             xml_escape_into(&body, parts[i].etag, err) &&
             buf_append_str(&body, "</ETag></Part>", err);
    ok = ok && buf_append_str(&body, "</CompleteMultipartUpload>", err) &&
         r2_query_add(&q, "uploadId", upload_id, err);
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
            if (code && r2_xml_contains(resp.body.data, resp.body.len, "<Error>")) {
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
    buf_init(&q, R2_UNCAPPED);
    bool ok = r2_query_add(&q, "uploadId", upload_id, err);
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
    buf_init(&q, R2_UNCAPPED);
    bool ok = r2_query_add(&q, "uploadId", upload_id, err);
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
    while (r2_xml_find(x, len, pos, "Part", &cs, &ce, &end)) {
        char *pn = r2_xml_text(x, ce, cs, "PartNumber", NULL);
        char *size = r2_xml_text(x, ce, cs, "Size", NULL);
        uint64_t pnv = 0, sz = 0;
        bool good = str_to_u64(pn, UINT64_MAX, &pnv) && pnv >= 1 && pnv <= R2_MAX_PARTS &&
                    str_to_u64(size, UINT64_MAX, &sz);
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
