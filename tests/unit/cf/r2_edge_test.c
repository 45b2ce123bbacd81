/* Edge tests for cf/r2 against the local edge emulator, which verifies SigV4
 * independently (skipped unless it runs). */
#include <criterion/criterion.h>
#include <string.h>

#include "cf/r2.h"
#include "cf/r2_multipart.h"
#include "edge_util.h"

#define BUCKET "w2e-cfclient-r2"
#define MIB (1024u * 1024u)

static Secret *g_secret;

static R2Client *edge_r2(const char *secret)
{
    EDGE_SKIP_UNLESS_UP();
    g_secret = secret_new(secret ? secret : edge_env("R2_SECRET_ACCESS_KEY"));
    R2Options o;
    r2_options_default(&o);
    o.retry.base_delay_ms = 50;
    o.retry.max_delay_ms = 400;
    Err e;
    R2Client *c = r2_client_new(edge_env("R2_ENDPOINT"), BUCKET, edge_env("R2_ACCESS_KEY_ID"),
                                g_secret, &o, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

static void done(R2Client *c)
{
    r2_client_free(c);
    secret_free(g_secret);
}

Test(r2_edge, put_get_range_head_list_delete)
{
    R2Client *c = edge_r2(NULL);
    char *prefix = edge_unique("obj/");
    char *k1 = xasprintf("%s/a b+c.txt", prefix), *k2 = xasprintf("%s/sub/d.txt", prefix);
    Err e;
    R2PutOptions po = {.content_type = "text/plain"};
    R2ObjectInfo info;
    cr_assert(r2_put_object(c, k1, "hello, edge world", 17, &po, &info, &e), "%s", e.msg);
    cr_assert_not_null(info.etag);
    r2_object_info_free(&info);
    cr_assert(r2_put_object(c, k2, "", 0, NULL, NULL, &e), "%s", e.msg);

    R2PutOptions once = {.if_none_match = "*"};
    cr_assert_not(r2_put_object(c, k2, "again", 5, &once, NULL, &e), "create-only refused");
    cr_assert_eq(e.detail, 412, "%s", e.msg);

    Buf b;
    buf_init(&b, 1 << 20);
    bool found;
    cr_assert(r2_get_object(c, k1, 0, 0, 0, &b, &info, &found, &e), "%s", e.msg);
    cr_assert(found);
    cr_assert_str_eq(b.data, "hello, edge world");
    cr_assert_str_eq(info.content_type, "text/plain");
    r2_object_info_free(&info);
    buf_reset(&b);
    cr_assert(r2_get_object(c, k1, 7, 4, 0, &b, &info, &found, &e), "%s", e.msg);
    cr_assert_str_eq(b.data, "edge");
    cr_assert_str_eq(info.content_range, "bytes 7-10/17");
    r2_object_info_free(&info);

    cr_assert(r2_head_object(c, k1, &info, &found, &e), "%s", e.msg);
    cr_assert(found);
    cr_assert_eq(info.size, 17);
    r2_object_info_free(&info);

    R2ListResult l;
    char *lp = xasprintf("%s/", prefix);
    cr_assert(r2_list_objects(c, lp, "/", NULL, 0, &l, &e), "%s", e.msg);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].key, k1);
    cr_assert_eq(l.items[0].size, 17);
    cr_assert_eq(l.prefix_count, 1);
    r2_list_result_free(&l);
    cr_assert(r2_list_objects(c, lp, NULL, NULL, 1, &l, &e), "%s", e.msg);
    cr_assert_eq(l.count, 1);
    cr_assert(l.truncated);
    char *tok = xstrdup(l.next_token);
    r2_list_result_free(&l);
    cr_assert(r2_list_objects(c, lp, NULL, tok, 1, &l, &e), "%s", e.msg);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].key, k2);
    r2_list_result_free(&l);
    free(tok);

    cr_assert(r2_delete_object(c, k1, &e), "%s", e.msg);
    buf_reset(&b);
    cr_assert(r2_get_object(c, k1, 0, 0, 0, &b, NULL, &found, &e), "%s", e.msg);
    cr_assert_not(found);
    cr_assert(r2_head_object(c, k1, NULL, &found, &e), "%s", e.msg);
    cr_assert_not(found);
    buf_free(&b);
    free(lp);
    free(prefix);
    free(k1);
    free(k2);
    done(c);
}

Test(r2_edge, a_wrong_secret_is_refused_with_signature_does_not_match)
{
    R2Client *c = edge_r2("not-the-secret-key");
    Err e;
    char *k = edge_unique("bad/");
    cr_assert_not(r2_put_object(c, k, "x", 1, NULL, NULL, &e));
    cr_assert_eq(e.code, ERR_CF_API, "%s", e.msg);
    cr_assert_eq(e.detail, 403);
    cr_assert(strstr(e.msg, "SignatureDoesNotMatch"), "%s", e.msg);
    cr_assert_null(strstr(e.msg, "not-the-secret"));
    cr_assert_eq(r2_client_request_count(c), 1, "a 403 is not retried");
    free(k);
    done(c);
}

Test(r2_edge, multipart_upload_with_equal_parts, .timeout = 120)
{
    R2Client *c = edge_r2(NULL);
    char *k = edge_unique("mpu/");
    size_t part = 5 * MIB, last = 1000;
    char *data = xmalloc(2 * part + last);
    for (size_t i = 0; i < 2 * part + last; i++)
        data[i] = (char)('a' + i % 26);
    Err e;
    char *upload;
    cr_assert(r2_mpu_create(c, k, "application/octet-stream", &upload, &e), "%s", e.msg);
    R2Part parts[3];
    for (unsigned i = 0; i < 3; i++) {
        size_t len = i < 2 ? part : last;
        char *etag;
        cr_assert(r2_mpu_upload_part(c, k, upload, i + 1, data + i * part, len, &etag, &e), "%s",
                  e.msg);
        parts[i] = (R2Part){i + 1, etag, len};
    }
    R2Part *listed;
    size_t nlisted;
    cr_assert(r2_mpu_list_parts(c, k, upload, &listed, &nlisted, &e), "%s", e.msg);
    cr_assert_eq(nlisted, 3);
    cr_assert_eq(listed[0].size, part);
    cr_assert_str_eq(listed[2].etag, parts[2].etag);
    r2_parts_free(listed, nlisted);

    /* the client refuses a non-conforming list before sending it */
    R2Part bad[2] = {parts[2], parts[0]};
    bad[0].part_number = 1;
    bad[1].part_number = 2;
    uint64_t before = r2_client_request_count(c);
    cr_assert_not(r2_mpu_complete(c, k, upload, bad, 2, NULL, &e));
    cr_assert_eq(r2_client_request_count(c), before);

    R2ObjectInfo info;
    cr_assert(r2_mpu_complete(c, k, upload, parts, 3, &info, &e), "%s", e.msg);
    cr_assert_not_null(info.etag);
    cr_assert(strstr(info.etag, "-3"), "multipart etag: %s", info.etag);
    r2_object_info_free(&info);
    Buf b;
    buf_init(&b, 16 * MIB);
    bool found;
    cr_assert(r2_get_object(c, k, part - 3, 6, 0, &b, NULL, &found, &e), "%s", e.msg);
    cr_assert_eq(b.len, 6);
    cr_assert_eq(memcmp(b.data, data + part - 3, 6), 0, "bytes across the part boundary");
    buf_free(&b);

    /* abort of a fresh upload */
    char *up2;
    cr_assert(r2_mpu_create(c, k, NULL, &up2, &e), "%s", e.msg);
    cr_assert(r2_mpu_abort(c, k, up2, &e), "%s", e.msg);
    char *etag;
    cr_assert_not(r2_mpu_upload_part(c, k, up2, 1, "x", 1, &etag, &e));
    cr_assert(strstr(e.msg, "NoSuchUpload"), "%s", e.msg);
    free(up2);
    for (unsigned i = 0; i < 3; i++)
        free(parts[i].etag);
    free(upload);
    free(data);
    free(k);
    done(c);
}

Test(r2_edge, retryable_s3_errors_are_retried, .timeout = 60)
{
    R2Client *c = edge_r2(NULL);
    char *k = edge_unique("retry/");
    char *path = xasprintf("/" BUCKET "/%s", k);
    char *fault = xasprintf("[{\"path\":\"%s\",\"status\":503,\"retry_after\":0,\"count\":1},"
                            "{\"path\":\"%s\",\"drop\":\"before\",\"count\":1}]",
                            path, path);
    edge_add_fault(fault);
    long since = edge_log_seq();
    Err e;
    cr_assert(r2_put_object(c, k, "payload", 7, NULL, NULL, &e), "%s", e.msg);
    long st[8];
    cr_assert_eq(edge_log_statuses(k, since, st, 8), 3, "503, dropped, then stored");
    cr_assert_eq(st[0], 503);
    cr_assert_eq(st[2], 200);
    /* libcurl itself re-sends once when a reused connection dies before any
     * response byte, so the drop may cost no attempt of ours */
    cr_assert_geq(r2_client_request_count(c), 2);
    free(fault);
    free(path);
    free(k);
    done(c);
}
