/* Unit tests for net/http: the URL policy, trace redaction, transport errors, a request cut
 * at its deadline. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "net/http.h"

Test(http, https_always_plain_http_only_to_loopback)
{
    Err e;
    cr_assert(http_url_check("https://api.cloudflare.com/client/v4", &e));
    cr_assert(http_url_check("https://acc.r2.cloudflarestorage.com/bucket/key?x=1", &e));
    cr_assert(http_url_check("http://127.0.0.1:8787/client/v4", &e));
    cr_assert(http_url_check("http://localhost/x", &e));
    cr_assert(http_url_check("http://[::1]:9000/", &e));
    cr_assert(http_url_check("http://LOCALHOST:1", &e));
    const char *bad[] = {"http://api.cloudflare.com/", "http://127.0.0.1.evil.com/",
                         "http://127.0.0.2/", "http://localhost.evil/", "ftp://x/",
                         "file:///etc/passwd", "https://user:pw@host/", "http://[::2]/",
                         "https:///nohost", "https://host/a b", "HTTPS://host/", NULL};
    for (size_t i = 0; bad[i]; i++) {
        cr_assert_not(http_url_check(bad[i], &e), "%s", bad[i]);
        cr_assert_eq(e.code, ERR_CONFIG);
        cr_assert_null(strstr(e.msg, "pw"), "never echoes credentials");
    }
    cr_assert_not(http_url_check(NULL, &e));
}

Test(http, secret_headers_are_recognised)
{
    const char *yes[] = {"Authorization", "authorization", "X-Auth-Key", "x-amz-security-token",
                         "Cookie", "X-Api-Token", "X-Client-Secret", NULL};
    const char *no[] = {"Content-Type", "x-amz-date", "x-amz-content-sha256", "cf-ray", "Host",
                        NULL};
    for (size_t i = 0; yes[i]; i++)
        cr_assert(http_header_is_secret(yes[i], strlen(yes[i])), "%s", yes[i]);
    for (size_t i = 0; no[i]; i++)
        cr_assert_not(http_header_is_secret(no[i], strlen(no[i])), "%s", no[i]);
}

static void expect_redacted(const char *in, const char *want)
{
    char *got = http_trace_redact(in, strlen(in));
    cr_assert_str_eq(got, want);
    free(got);
}

Test(http, trace_lines_hide_tokens_and_query_strings)
{
    expect_redacted("Authorization: Bearer abc.def\r\n", "Authorization: [redacted]");
    expect_redacted("authorization: AWS4-HMAC-SHA256 Credential=AKID/2015, Signature=ff",
                    "authorization: [redacted]");
    expect_redacted("x-amz-security-token: FQoG", "x-amz-security-token: [redacted]");
    expect_redacted("Content-Type: application/json", "Content-Type: application/json");
    expect_redacted("GET /bucket/key?X-Amz-Signature=abc&X-Amz-Credential=k HTTP/1.1",
                    "GET /bucket/key?[redacted] HTTP/1.1");
    expect_redacted("PUT /client/v4/accounts/a/storage/kv/namespaces/n/bulk HTTP/1.1",
                    "PUT /client/v4/accounts/a/storage/kv/namespaces/n/bulk HTTP/1.1");
    expect_redacted("Location: https://x.r2.dev/o?X-Amz-Signature=s",
                    "Location: https://x.r2.dev/o?[redacted]");
    expect_redacted("HTTP/1.1 200 OK", "HTTP/1.1 200 OK");
}

Test(http, url_for_log_drops_the_query)
{
    char *s = http_url_for_log("PUT", "https://h/b/k?X-Amz-Signature=secret");
    cr_assert_str_eq(s, "PUT https://h/b/k?[redacted]");
    free(s);
    s = http_url_for_log("GET", "https://h/b/k");
    cr_assert_str_eq(s, "GET https://h/b/k");
    free(s);
}

Test(http, connection_refused_is_a_retryable_transport_error)
{
    Err e;
    HttpClient *c = http_client_new(NULL, &e);
    cr_assert_not_null(c);
    HttpRequest req = {.method = "GET", .url = "http://127.0.0.1:1/nothing?token=x"};
    HttpResponse resp;
    cr_assert_not(http_do(c, &req, &resp, &e));
    cr_assert_eq(e.code, ERR_HTTP, "%s", e.msg);
    cr_assert(err_retryable(&e));
    cr_assert_null(strstr(e.msg, "token=x"), "query strings stay out of messages: %s", e.msg);
    http_response_free(&resp);
    http_client_free(c);
    http_global_cleanup();
}

Test(http, refused_url_never_reaches_the_network)
{
    Err e;
    HttpClient *c = http_client_new(NULL, &e);
    HttpRequest req = {.method = "GET", .url = "http://example.com/"};
    HttpResponse resp;
    cr_assert_not(http_do(c, &req, &resp, &e));
    cr_assert_eq(e.code, ERR_CONFIG);
    http_response_free(&resp);
    http_client_free(c);
    http_global_cleanup();
}

static int64_t soon(void *user) { return *(int64_t *)user; }

Test(http, a_request_still_running_at_its_deadline_is_cut)
{
    /* a server that takes the connection and never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", ntohs(a.sin_port));
    Err e;
    HttpClient *c = http_client_new(NULL, &e);
    cr_assert_not_null(c);
    int64_t deadline = clock_mono_ms() + 200;
    /* without the cut it would end by its own timeout: ERR_TIMEOUT without the detail */
    HttpRequest req = {.method = "POST", .url = url, .body = "{}", .body_len = 2, .total_timeout_ms = 20000,
                       .deadline = soon, .deadline_user = &deadline};
    HttpResponse resp;
    cr_assert_not(http_do(c, &req, &resp, &e));
    cr_assert_eq(e.code, ERR_TIMEOUT, "%s", e.msg);
    cr_assert_eq(e.detail, HTTP_DEADLINE_CUT, "%s", e.msg);
    cr_assert(strstr(e.msg, "cut at its deadline"), "%s", e.msg);
    cr_assert_geq(clock_mono_ms(), deadline, "not before it");
    http_response_free(&resp);
    http_client_free(c);
    http_global_cleanup();
    close(fd);
}
