/* Helpers for the *_edge_test.c files: they run against the local edge emulator
 * (scripts/edge-local.sh) and skip when CLOUDFLARE_API_BASE_URL is not set. */
#ifndef WAL2EDGE_TESTS_CF_EDGE_UTIL_H
#define WAL2EDGE_TESTS_CF_EDGE_UTIL_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/secret.h"
#include "net/http.h"

#define EDGE_SKIP_UNLESS_UP()                                                                    \
    do {                                                                                         \
        if (!getenv("CLOUDFLARE_API_BASE_URL") || !getenv("EDGE_ADMIN_URL"))                     \
            cr_skip("CLOUDFLARE_API_BASE_URL is not set: start the edge emulator "              \
                    "(scripts/edge-local.sh start; eval \"$(scripts/edge-local.sh env)\")");    \
    } while (0)

static inline const char *edge_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert_not_null(v, "%s is not set", name);
    return v;
}

/* A name unique to this process and moment: keeps parallel test runs apart. */
static inline char *edge_unique(const char *prefix)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return xasprintf("%s%ld%09ld%d", prefix, (long)ts.tv_sec, ts.tv_nsec, (int)getpid());
}

static inline uint64_t edge_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Call the emulator's admin API; returns the parsed JSON answer (owned). */
static inline json_t *edge_admin(const char *method, const char *path, const char *body)
{
    Err e;
    HttpClient *h = http_client_new(NULL, &e);
    cr_assert_not_null(h, "%s", e.msg);
    char *url = xasprintf("%s%s", edge_env("EDGE_ADMIN_URL"), path);
    HttpHeader hd[] = {{"Content-Type", "application/json"}};
    HttpRequest req = {.method = method, .url = url, .headers = hd, .header_count = 1,
                       .body = body, .body_len = body ? strlen(body) : 0};
    HttpResponse resp;
    cr_assert(http_do(h, &req, &resp, &e), "admin %s %s: %s", method, path, e.msg);
    cr_assert_eq(resp.status, 200, "admin %s %s: http %ld %s", method, path, resp.status,
                 resp.body.data);
    json_error_t je;
    json_t *v = json_loadb(resp.body.data, resp.body.len, 0, &je);
    cr_assert_not_null(v, "admin answer is JSON");
    http_response_free(&resp);
    http_client_free(h);
    free(url);
    return v;
}

static inline void edge_add_fault(const char *json)
{
    json_decref(edge_admin("POST", "/faults", json));
}

/* Statuses logged by the emulator for requests whose path contains `path_part`, */
static inline long edge_log_seq(void)
{
    json_t *v = edge_admin("GET", "/counters", NULL);
    long seq = (long)json_integer_value(json_object_get(v, "last_seq"));
    json_decref(v);
    return seq;
}

/* ... logged after sequence number `since`. */
static inline size_t edge_log_statuses(const char *path_part, long since, long *out, size_t max)
{
    char *q = xasprintf("/log?path=%s&since=%ld", path_part, since);
    json_t *v = edge_admin("GET", q, NULL);
    free(q);
    json_t *entries = json_object_get(v, "entries");
    size_t n = json_array_size(entries), k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        out[k++] = (long)json_integer_value(json_object_get(json_array_get(entries, i), "status"));
    json_decref(v);
    return n;
}

#endif
