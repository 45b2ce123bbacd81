/*
 * cf/client.c - the Cloudflare REST client (see client.h).
 *
 * Every request goes through cf_call(): take a slot of the rate budget (or
 * wait for one), send, classify, and either return the response or sleep the
 * retry delay and go again. A 429 also pauses the shared budget until the
 * server's Retry-After, so other calls do not walk into the same wall.
 * A target handle is a CfClient whose `root` is the client: cf_call sends
 * through the root's connection and budget, counts on both, and reports each
 * attempt to the root's observer under the handle's label.
 */
#include "cf/client.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf/api.h"
#include "core/clock.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/mem.h"

#define UNCAPPED (SIZE_MAX / 2)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct CfClient {
    char *base_url;
    char *account_id;
    const Secret *token;
    HttpClient *http;
    CfClientOptions opts;
    RateLimit *rl;
    bool own_rl;
    const NetClock *clock;
    CfClientStats stats;
    CfClient *root;            /* a target handle's client; NULL on the client itself */
    char *label;               /* a handle's target name */
    CfClient *handles;         /* the client's handles (a list through next) */
    CfClient *next;
    CfObserver observe;        /* the client's */
    void *observe_user;
    CfDeadlineFn deadline;     /* the client's: no attempt runs past what it returns */
    void *deadline_user;
};

static const LogCtx cf_log = {"cf", NULL, 0, false};

void cf_client_options_default(CfClientOptions *o)
{
    memset(o, 0, sizeof *o);
    http_options_default(&o->http);
    retry_policy_default(&o->retry);
    o->rate_requests = RATELIMIT_DEFAULT_REQUESTS;
    o->rate_window_ms = RATELIMIT_DEFAULT_WINDOW_MS;
    o->kv_max_pairs = CF_KV_MAX_BULK_PAIRS;
    o->kv_max_bytes = CF_KV_MAX_BULK_BYTES;
}

CfClient *cf_client_new(const char *base_url, const char *account_id, const Secret *token,
                        const CfClientOptions *opts, Err *err)
{
    if (!base_url || !base_url[0]) {
        err_set(err, ERR_CONFIG, "cloudflare api base url is not set");
        return NULL;
    }
    if (!account_id || !account_id[0]) {
        err_set(err, ERR_CONFIG, "cloudflare account id is not set");
        return NULL;
    }
    if (!token || secret_is_empty(token)) {
        err_set(err, ERR_CONFIG, "cloudflare api token is not set");
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)secret_reveal(token); *p; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            err_set(err, ERR_CONFIG,
                    "cloudflare api token contains a space or non-ascii character");
            return NULL;
        }
    }
    if (!http_url_check(base_url, err)) {
        err_prefix(err, "cloudflare api base url");
        return NULL;
    }
    CfClient *c = xcalloc(1, sizeof *c);
    if (opts)
        c->opts = *opts;
    else
        cf_client_options_default(&c->opts);
    if (c->opts.retry.max_attempts == 0)
        retry_policy_default(&c->opts.retry);
    c->base_url = xstrdup(base_url);
    size_t blen = strlen(c->base_url);
    while (blen > 0 && c->base_url[blen - 1] == '/')
        c->base_url[--blen] = '\0';
    c->account_id = xstrdup(account_id);
    c->token = token;
    c->clock = c->opts.clock ? c->opts.clock : net_clock_system();
    if (c->opts.shared_ratelimit) {
        c->rl = c->opts.shared_ratelimit;
    } else {
        c->rl = ratelimit_new(c->opts.rate_requests, c->opts.rate_window_ms);
        c->own_rl = true;
    }
    c->http = http_client_new(&c->opts.http, err);
    if (!c->http) {
        cf_client_free(c);
        return NULL;
    }
    return c;
}

void cf_client_free(CfClient *c)
{
    if (!c || c->root)
        return;
    while (c->handles) {
        CfClient *h = c->handles;
        c->handles = h->next;
        free(h->label);
        free(h);
    }
    http_client_free(c->http);
    if (c->own_rl)
        ratelimit_free(c->rl);
    free(c->base_url);
    free(c->account_id);
    free(c);
}

CfClientStats cf_client_stats(const CfClient *c) { return c->stats; }
uint64_t cf_client_request_count(const CfClient *c) { return c->stats.requests; }

CfClient *cf_client_for_target(CfClient *c, const char *label)
{
    if (c->root)
        c = c->root;
    for (CfClient *h = c->handles; h; h = h->next)
        if (strcmp(h->label, label) == 0)
            return h;
    CfClient *h = xmalloc(sizeof *h);
    *h = *c; /* base URL, account, token, options, budget and connection: borrowed from c */
    memset(&h->stats, 0, sizeof h->stats);
    h->own_rl = false;
    h->root = c;
    h->label = xstrdup(label);
    h->handles = NULL;
    h->next = c->handles;
    c->handles = h;
    return h;
}

void cf_client_observe(CfClient *c, CfObserver fn, void *user)
{
    if (c->root)
        c = c->root;
    c->observe = fn;
    c->observe_user = user;
}

void cf_client_set_deadline(CfClient *c, CfDeadlineFn fn, void *user)
{
    if (c->root)
        c = c->root;
    c->deadline = fn;
    c->deadline_user = user;
}

/* ---- the call loop ------------------------------------------------------ */

typedef struct CfCall {
    const char *what;          /* "d1 query" */
    const char *perm;          /* "D1 Edit" */
    const char *method;
    const char *url;
    const char *content_type;
    const void *body;
    size_t body_len;
    const char *upload_path;   /* file body instead of memory */
    uint64_t upload_len;
    bool rest;                 /* bearer auth + the rate budget */
    bool envelope;             /* parse the envelope of a 2xx */
    bool accept_404;           /* a 404 is an answer, not an error */
    size_t max_response;
} CfCall;

static uint64_t now_ms(const CfClient *c) { return c->clock->mono_ms(c->clock->user); }

bool cf_client_budget_ample(const CfClient *c)
{
    if (c->root)
        c = c->root;
    uint64_t now = now_ms(c);
    return ratelimit_wait_ms(c->rl, now) == 0 && 2u * ratelimit_in_window(c->rl, now) < ratelimit_max_requests(c->rl);
}

/* Count on the handle and on its client. */
#define CF_COUNT(c, field, n)                                                                      \
    do {                                                                                           \
        (c)->stats.field += (n);                                                                   \
        if ((c)->root)                                                                             \
            (c)->root->stats.field += (n);                                                         \
    } while (0)

static void cf_pause(CfClient *c, uint64_t ms)
{
    if (ms == 0)
        return;
    c->clock->sleep_ms(c->clock->user, ms);
    CF_COUNT(c, waited_ms, ms);
}

/* Tell the observer about one attempt (outcome NULL: none went out). */
static void report(const CfClient *c, const char *outcome, int64_t started_us, unsigned attempt, bool throttled)
{
    const CfClient *root = c->root ? c->root : c;
    if (root->observe)
        root->observe(root->observe_user, c->label, outcome,
                      outcome ? (double)(clock_mono_us() - started_us) / 1e6 : 0.0, attempt, throttled);
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    memset(s, 0, strlen(s));
    free(s);
}

/* On success *resp (and *env when call->envelope and the body is JSON) are the
 * caller's to free. On failure both are freed and *err is set. */
static bool cf_call(CfClient *c, const CfCall *call, HttpResponse *resp, CfEnvelope *env,
                    Err *err)
{
    memset(env, 0, sizeof *env);
    memset(resp, 0, sizeof *resp);
    uint64_t t0 = now_ms(c);
    for (unsigned attempt = 1;; attempt++) {
        if (call->rest) {
            uint64_t now = now_ms(c);
            uint64_t wait = ratelimit_wait_ms(c->rl, now);
            if (wait) {
                uint64_t elapsed = now - t0;
                if (elapsed >= c->opts.retry.max_total_ms ||
                    wait > c->opts.retry.max_total_ms - elapsed) {
                    err_set(err, ERR_HTTP,
                            "%s: the api request budget is used up (%u requests per %llu s); "
                            "the next request may go in %llu ms",
                            call->what, ratelimit_max_requests(c->rl),
                            (unsigned long long)(ratelimit_window_ms(c->rl) / 1000u),
                            (unsigned long long)wait);
                    err->detail = 429;
                    report(c, NULL, 0, attempt, true);
                    return false;
                }
                log_debug(&cf_log, "%s: waiting %llu ms for the api request budget", call->what,
                          (unsigned long long)wait);
                cf_pause(c, wait);
            }
            ratelimit_record(c->rl, now_ms(c));
        }
        /* the writer's deadline (run's lease): no attempt starts at or after it, and one
         * still running then is cut (http_do asks it while the request runs) */
        const CfClient *root = c->root ? c->root : c;
        if (root->deadline && clock_mono_ms() >= root->deadline(root->deadline_user)) {
            report(c, NULL, 0, attempt, false);
            return err_set(err, ERR_LEASE, "%s: not sent: this instance's replication lease ended (the "
                           "walsender may give the slot up)", call->what);
        }
        HttpHeader hdrs[3];
        size_t nh = 0;
        char *auth = NULL;
        if (call->rest) {
            auth = xasprintf("Bearer %s", secret_reveal(c->token));
            hdrs[nh++] = (HttpHeader){"Authorization", auth};
        }
        if (call->content_type)
            hdrs[nh++] = (HttpHeader){"Content-Type", call->content_type};
        if (call->envelope)
            hdrs[nh++] = (HttpHeader){"Accept", "application/json"};
        HttpRequest req = {
            .method = call->method, .url = call->url, .headers = hdrs, .header_count = nh,
            .body = call->body, .body_len = call->body_len, .upload_path = call->upload_path,
            .upload_len = call->upload_len, .max_response_bytes = call->max_response,
            .deadline = root->deadline, .deadline_user = root->deadline_user,
        };
        http_response_free(resp);
        Err terr;
        err_clear(&terr);
        int64_t sent_us = clock_mono_us();
        bool sent = http_do(c->http, &req, resp, &terr);
        wipe_free(auth);
        CF_COUNT(c, requests, 1);
        if (!sent && terr.detail == HTTP_DEADLINE_CUT) {
            report(c, "fatal", sent_us, attempt, false);
            http_response_free(resp);
            return err_set(err, ERR_LEASE, "%s: cut: this instance's replication lease ended while it ran (the "
                           "walsender may give the slot up; Cloudflare may still apply it)", call->what);
        }

        RetryInput in = {0};
        CfEnvelope tmp;
        memset(&tmp, 0, sizeof tmp);
        bool have_env = false;
        const char *ray = NULL;
        if (!sent) {
            in.transport_error = true;
            in.transport_retryable = err_retryable(&terr);
        } else {
            long status = resp->status;
            ray = http_response_header(resp, "cf-ray");
            if (status >= 200 && status < 300) {
                Err perr;
                bool parsed = !call->envelope || resp->body.len == 0 ||
                              cf_envelope_parse(resp->body.data, resp->body.len, env, &perr);
                if (!parsed || !call->envelope || resp->body.len == 0 || env->success)
                    report(c, parsed ? "ok" : "fatal", sent_us, attempt, false);
                if (!parsed) {
                    *err = perr;
                    err_prefix(err, "%s", call->what);
                    http_response_free(resp);
                    return false;
                }
                if (!call->envelope || resp->body.len == 0 || env->success)
                    return true;
                tmp = *env;   /* success:false in a 2xx: classify like an error */
                memset(env, 0, sizeof *env);
                have_env = true;
            } else if (status == 404 && call->accept_404) {
                report(c, "ok", sent_us, attempt, false);
                return true;
            } else {
                Err perr;
                have_env = cf_envelope_parse(resp->body.data, resp->body.len, &tmp, &perr);
            }
            const char *mitigated = http_response_header(resp, "cf-mitigated");
            if (mitigated && strcmp(mitigated, "challenge") == 0) {
                report(c, "fatal", sent_us, attempt, status == 429);
                cf_envelope_free(&tmp);
                err_set(err, ERR_CF_API,
                        "%s: blocked by a cloudflare waf challenge (http %ld%s%s); not retrying",
                        call->what, status, ray ? ", cf-ray " : "", ray ? ray : "");
                err->detail = status;
                http_response_free(resp);
                return false;
            }
            in.status = status;
            in.x_should_retry = http_response_header(resp, "x-should-retry");
            in.retry_after_ms = http_response_header(resp, "retry-after-ms");
            in.retry_after = http_response_header(resp, "retry-after");
            if (have_env && !in.x_should_retry && cf_api_error_transient(&tmp))
                in.x_should_retry = "true";
            if (status == 429)
                CF_COUNT(c, throttled, 1);
        }
        report(c, retry_is_retryable(&in) ? "retryable" : "fatal", sent_us, attempt, sent && resp->status == 429);
        uint64_t elapsed = now_ms(c) - t0;
        RetryDecision d = retry_decide(&c->opts.retry, &in, attempt, elapsed,
                                       c->clock->wall_s(c->clock->user),
                                       c->clock->random_u32(c->clock->user));
        if (call->rest && sent && resp->status == 429)
            ratelimit_pause_until(c->rl, now_ms(c) + d.delay_ms);
        if (!d.retry) {
            if (!sent) {
                *err = terr;
                if (d.budget_exhausted)
                    err_prefix(err, "%s (%u attempts)", call->what, attempt);
                else
                    err_prefix(err, "%s", call->what);
            } else {
                cf_api_fail(err, call->what, call->perm, resp->status, have_env ? &tmp : NULL,
                            d.budget_exhausted, ray);
            }
            cf_envelope_free(&tmp);
            http_response_free(resp);
            return false;
        }
        if (sent)
            log_debug(&cf_log, "%s: http %ld, retrying in %llu ms (attempt %u)", call->what,
                      resp->status, (unsigned long long)d.delay_ms, attempt + 1);
        else
            log_debug(&cf_log, "%s: %s; retrying in %llu ms (attempt %u)", call->what, terr.msg,
                      (unsigned long long)d.delay_ms, attempt + 1);
        cf_envelope_free(&tmp);
        CF_COUNT(c, retries, 1);
        cf_pause(c, d.delay_ms);
    }
}

static char *acct_url(const CfClient *c, const char *const *segs, size_t n)
{
    return cf_api_url(c->base_url, c->account_id, segs, n);
}

/* A GET whose answer only matters for succeeding (doctor's checks). */
static bool get_and_discard(CfClient *c, const char *what, const char *perm, const char *url, Err *err)
{
    CfCall call = {.what = what, .perm = perm, .method = "GET", .url = url, .rest = true, .envelope = true};
    HttpResponse resp;
    CfEnvelope env;
    if (!cf_call(c, &call, &resp, &env, err))
        return false;
    cf_envelope_free(&env);
    http_response_free(&resp);
    return true;
}

/*
 * An account-owned token (what the Terraform module makes by default) is verified under
 * the account, a user token under /user: try the account's endpoint first when there is
 * an account id, then the user's when the API refused (not when it was unreachable).
 */
bool cf_token_verify(CfClient *c, Err *err)
{
    Err account_err = {0};
    if (c->account_id && c->account_id[0]) {
        const char *segs[] = {"tokens", "verify"};
        char *url = acct_url(c, segs, 2);
        bool ok = get_and_discard(c, "account token verify", NULL, url, &account_err);
        free(url);
        if (ok)
            return true;
        if (account_err.code != ERR_CF_API) {
            *err = account_err;
            return false;
        }
    }
    char *url = xasprintf("%s/user/tokens/verify", c->base_url);
    bool ok = get_and_discard(c, "token verify", NULL, url, err);
    free(url);
    if (!ok && account_err.code == ERR_CF_API) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " (refused as an account token too)");
    }
    return ok;
}

bool cf_resource_check(CfClient *c, CfResourceKind kind, const char *id, Err *err)
{
    static const struct {
        const char *what, *perm, *segs[3];
        size_t nsegs;
    } kinds[] = {
        [CF_RESOURCE_D1] = {"d1 database info", "D1 Read", {"d1", "database", NULL}, 3},
        [CF_RESOURCE_KV] = {"kv namespace info", "Workers KV Storage Read", {"storage", "kv", "namespaces"}, 4},
        [CF_RESOURCE_QUEUE] = {"queue info", "Queues Read", {"queues", NULL, NULL}, 2},
    };
    const char *segs[4];
    size_t n = kinds[kind].nsegs;
    for (size_t i = 0; i + 1 < n; i++)
        segs[i] = kinds[kind].segs[i];
    segs[n - 1] = id;
    char *url = acct_url(c, segs, n);
    bool ok = get_and_discard(c, kinds[kind].what, kinds[kind].perm, url, err);
    free(url);
    return ok;
}

/* ---- D1 ----------------------------------------------------------------- */

static bool d1_exec(CfClient *c, const char *database_id, const CfD1Stmt *stmts, size_t n,
                    bool raw, CfD1Result *out, Err *err)
{
    memset(out, 0, sizeof *out);
    Buf body;
    buf_init(&body, UNCAPPED);
    if (!cf_d1_body(stmts, n, &body, err)) {
        err_prefix(err, "d1 %s", raw ? "raw" : "query");
        buf_free(&body);
        return false;
    }
    const char *segs[] = {"d1", "database", database_id, raw ? "raw" : "query"};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    CfCall call = {.what = raw ? "d1 raw" : "d1 query", .perm = "D1 Edit", .method = "POST",
                   .url = url, .content_type = "application/json", .body = body.data,
                   .body_len = body.len, .rest = true, .envelope = true};
    HttpResponse resp;
    CfEnvelope env;
    bool ok = cf_call(c, &call, &resp, &env, err);
    free(url);
    buf_free(&body);
    if (!ok)
        return false;
    ok = cf_d1_result_parse(env.result, n, raw, out, err);
    if (!ok)
        err_prefix(err, "d1 %s", raw ? "raw" : "query");
    cf_envelope_free(&env);
    http_response_free(&resp);
    return ok;
}

bool cf_d1_batch(CfClient *c, const char *database_id, const CfD1Stmt *stmts, size_t n,
                 CfD1Result *out, Err *err)
{
    return d1_exec(c, database_id, stmts, n, false, out, err);
}

bool cf_d1_batch_raw(CfClient *c, const char *database_id, const CfD1Stmt *stmts, size_t n,
                     CfD1Result *out, Err *err)
{
    return d1_exec(c, database_id, stmts, n, true, out, err);
}

void cf_d1_import_result_free(CfD1ImportResult *r)
{
    if (!r)
        return;
    free(r->final_bookmark);
    memset(r, 0, sizeof *r);
}

static bool file_md5(const char *path, char out_hex[33], uint64_t *out_size, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, ERR_IO, "opening '%s'", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1;
    bool io_failed = false;
    uint64_t total = 0;
    char buf[65536];
    while (ok) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err_sys(err, ERR_IO, "reading '%s'", path);
            io_failed = true;
            ok = false;
            break;
        }
        if (got == 0)
            break;
        total += (uint64_t)got;
        ok = EVP_DigestUpdate(md, buf, (size_t)got) == 1;
    }
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(md, dig, &dlen) == 1 && dlen == 16;
    EVP_MD_CTX_free(md);
    close(fd);
    if (!ok) {
        if (!io_failed)
            err_set(err, ERR_INTERNAL, "md5 of '%s' failed", path);
        return false;
    }
    hex_encode(dig, 16, out_hex);
    *out_size = total;
    return true;
}

static bool import_post(CfClient *c, const char *url, json_t *body_json, CfEnvelope *env,
                        Err *err)
{
    char *body = json_dumps(body_json, JSON_COMPACT);
    json_decref(body_json);
    CfCall call = {.what = "d1 import", .perm = "D1 Edit", .method = "POST", .url = url,
                   .content_type = "application/json", .body = body, .body_len = strlen(body),
                   .rest = true, .envelope = true};
    HttpResponse resp;
    bool ok = cf_call(c, &call, &resp, env, err);
    free(body);
    if (ok)
        http_response_free(&resp);
    if (ok && !json_is_object(env->result)) {
        cf_envelope_free(env);
        return err_set(err, ERR_PROTOCOL, "d1 import: the response has no result object");
    }
    return ok;
}

bool cf_d1_import(CfClient *c, const char *database_id, const char *sql_file_path,
                  uint64_t poll_ms, uint64_t max_wait_ms, CfD1ImportResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    char md5[33];
    uint64_t size;
    if (!file_md5(sql_file_path, md5, &size, err))
        return false;
    if (poll_ms == 0)
        poll_ms = 1000;
    const char *segs[] = {"d1", "database", database_id, "import"};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    CfEnvelope env;
    bool ok = import_post(c, url, json_pack("{s:s,s:s}", "action", "init", "etag", md5), &env,
                          err);
    if (!ok)
        goto out;
    const char *upload_url = json_string_value(json_object_get(env.result, "upload_url"));
    if (upload_url) {
        char *filename = xstrdup(json_string_value(json_object_get(env.result, "filename")));
        CfCall put = {.what = "d1 import upload", .perm = "D1 Edit", .method = "PUT",
                      .url = upload_url, .upload_path = sql_file_path, .upload_len = size};
        HttpResponse resp;
        CfEnvelope none;
        ok = cf_call(c, &put, &resp, &none, err);
        if (ok) {
            const char *etag = http_response_header(&resp, "etag");
            size_t elen = etag ? strlen(etag) : 0;
            if (elen >= 2 && etag[0] == '"' && etag[elen - 1] == '"') {
                etag++;
                elen -= 2;
            }
            if (resp.status != 200 || elen != 32 || strncasecmp(etag, md5, 32) != 0) {
                ok = err_set(err, ERR_CF_API,
                             "d1 import upload: the stored file does not match (http %ld, etag "
                             "%s)",
                             resp.status, etag ? "differs" : "missing");
            }
            http_response_free(&resp);
        }
        cf_envelope_free(&env);
        if (!ok) {
            free(filename);
            goto out;
        }
        ok = import_post(c, url,
                         json_pack("{s:s,s:s,s:s}", "action", "ingest", "etag", md5, "filename",
                                   filename ? filename : ""),
                         &env, err);
        free(filename);
        if (!ok)
            goto out;
    }
    uint64_t t0 = now_ms(c);
    uint64_t wait = poll_ms;   /* doubles after each poll, up to CF_D1_IMPORT_POLL_MAX_MS */
    for (;;) {
        const json_t *r = env.result;
        const char *status = json_string_value(json_object_get(r, "status"));
        const char *error = json_string_value(json_object_get(r, "error"));
        if (status && strcmp(status, "complete") == 0) {
            const json_t *res = json_object_get(r, "result");
            out->num_queries = (uint64_t)json_integer_value(json_object_get(res, "num_queries"));
            const char *fb = json_string_value(json_object_get(res, "final_bookmark"));
            out->final_bookmark = xstrdup(fb);
            const json_t *meta = json_object_get(res, "meta");
            out->meta.rows_read = json_integer_value(json_object_get(meta, "rows_read"));
            out->meta.rows_written = json_integer_value(json_object_get(meta, "rows_written"));
            out->meta.changes = json_integer_value(json_object_get(meta, "changes"));
            out->meta.duration_ms = json_number_value(json_object_get(meta, "duration"));
            cf_envelope_free(&env);
            break;
        }
        if ((status && strcmp(status, "error") == 0) ||
            (json_is_false(json_object_get(r, "success")) && error &&
             strcmp(error, "Not currently importing anything.") != 0)) {
            char msg[200] = "";
            size_t j = 0;
            for (size_t i = 0; error && error[i] && j + 1 < sizeof msg; i++)
                msg[j++] = (error[i] >= 0x20 && error[i] < 0x7f) ? error[i] : '?';
            msg[j] = '\0';
            err_set(err, ERR_CF_API, "d1 import failed: %s",
                    msg[0] ? msg : "the server reported an error");
            cf_envelope_free(&env);
            ok = false;
            goto out;
        }
        if (error) {   /* "Not currently importing anything.": finished earlier */
            cf_envelope_free(&env);
            break;
        }
        char *bookmark = xstrdup(json_string_value(json_object_get(r, "at_bookmark")));
        cf_envelope_free(&env);
        if (!bookmark) {
            ok = err_set(err, ERR_PROTOCOL, "d1 import: a polling response without at_bookmark");
            goto out;
        }
        if (max_wait_ms && now_ms(c) - t0 > max_wait_ms) {
            free(bookmark);
            ok = err_set(err, ERR_TIMEOUT, "d1 import: not complete after %llu ms",
                         (unsigned long long)max_wait_ms);
            goto out;
        }
        cf_pause(c, wait);
        wait = wait * 2 > CF_D1_IMPORT_POLL_MAX_MS ? (poll_ms > CF_D1_IMPORT_POLL_MAX_MS ? poll_ms : CF_D1_IMPORT_POLL_MAX_MS)
                                                   : wait * 2;
        ok = import_post(c, url,
                         json_pack("{s:s,s:s}", "action", "poll", "current_bookmark", bookmark),
                         &env, err);
        free(bookmark);
        if (!ok)
            goto out;
    }
out:
    free(url);
    return ok;
}

/* ---- KV ----------------------------------------------------------------- */

typedef bool (*ChunkFn)(const void *items, size_t n, size_t start, size_t max_items,
                        size_t max_bytes, Buf *out, size_t *out_end, Err *err);

static bool kv_chunk_pairs(const void *items, size_t n, size_t start, size_t max_items,
                           size_t max_bytes, Buf *out, size_t *out_end, Err *err)
{
    return cf_kv_bulk_chunk(items, n, start, max_items, max_bytes, out, out_end, err);
}

static bool kv_chunk_keys(const void *items, size_t n, size_t start, size_t max_items,
                          size_t max_bytes, Buf *out, size_t *out_end, Err *err)
{
    return cf_kv_delete_chunk(items, n, start, max_items, max_bytes, out, out_end, err);
}

static bool kv_bulk(CfClient *c, const char *what, const char *method, const char *const *segs,
                    size_t nsegs, const void *items, size_t n, ChunkFn chunk, CfKvBulkResult *out,
                    Err *err)
{
    char *url = acct_url(c, segs, nsegs);
    bool ok = true;
    size_t i = 0;
    Buf body;
    buf_init(&body, UNCAPPED);
    while (ok && i < n) {
        size_t end = i;
        buf_reset(&body);
        ok = chunk(items, n, i, c->opts.kv_max_pairs, c->opts.kv_max_bytes, &body, &end, err);
        if (!ok) {
            err_prefix(err, "%s", what);
            break;
        }
        CfCall call = {.what = what, .perm = "Workers KV Storage Edit", .method = method,
                       .url = url, .content_type = "application/json", .body = body.data,
                       .body_len = body.len, .rest = true, .envelope = true};
        HttpResponse resp;
        CfEnvelope env;
        ok = cf_call(c, &call, &resp, &env, err);
        if (!ok)
            break;
        out->requests++;
        ok = cf_kv_bulk_result_add(env.result, end - i, out, err);
        cf_envelope_free(&env);
        http_response_free(&resp);
        i = end;
    }
    buf_free(&body);
    free(url);
    return ok;
}

bool cf_kv_bulk_write(CfClient *c, const char *namespace_id, const CfKvPair *pairs, size_t n,
                      CfKvBulkResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!cf_kv_pairs_check(pairs, n, err)) {
        err_prefix(err, "kv bulk write");
        return false;
    }
    const char *segs[] = {"storage", "kv", "namespaces", namespace_id, "bulk"};
    return kv_bulk(c, "kv bulk write", "PUT", segs, ARRAY_LEN(segs), pairs, n, kv_chunk_pairs,
                   out, err);
}

bool cf_kv_bulk_delete(CfClient *c, const char *namespace_id, const char *const *keys, size_t n,
                       CfKvBulkResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (!cf_kv_key_check(keys[i], err)) {
            err_prefix(err, "kv bulk delete: key %zu", i);
            return false;
        }
    }
    const char *segs[] = {"storage", "kv", "namespaces", namespace_id, "bulk", "delete"};
    return kv_bulk(c, "kv bulk delete", "POST", segs, ARRAY_LEN(segs), keys, n, kv_chunk_keys,
                   out, err);
}

bool cf_kv_get(CfClient *c, const char *namespace_id, const char *key, Buf *out, bool *found,
               Err *err)
{
    *found = false;
    if (!cf_kv_key_check(key, err)) {
        err_prefix(err, "kv get");
        return false;
    }
    const char *segs[] = {"storage", "kv", "namespaces", namespace_id, "values", key};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    CfCall call = {.what = "kv get", .perm = "Workers KV Storage Read", .method = "GET",
                   .url = url, .rest = true, .accept_404 = true,
                   .max_response = CF_KV_MAX_VALUE_BYTES + 1024u};
    HttpResponse resp;
    CfEnvelope env;
    bool ok = cf_call(c, &call, &resp, &env, err);
    free(url);
    if (!ok)
        return false;
    if (resp.status != 404) {
        *found = true;
        ok = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len, err);
    }
    http_response_free(&resp);
    return ok;
}

bool cf_kv_list_keys(CfClient *c, const char *namespace_id, const char *prefix,
                     const char *cursor, unsigned limit, CfKvList *out, Err *err)
{
    memset(out, 0, sizeof *out);
    const char *segs[] = {"storage", "kv", "namespaces", namespace_id, "keys"};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit ? limit : 1000u);
    url = cf_url_add_query(url, "limit", lim);
    if (prefix && prefix[0])
        url = cf_url_add_query(url, "prefix", prefix);
    if (cursor && cursor[0])
        url = cf_url_add_query(url, "cursor", cursor);
    CfCall call = {.what = "kv list keys", .perm = "Workers KV Storage Read", .method = "GET",
                   .url = url, .rest = true, .envelope = true};
    HttpResponse resp;
    CfEnvelope env;
    bool ok = cf_call(c, &call, &resp, &env, err);
    free(url);
    if (!ok)
        return false;
    ok = cf_kv_list_parse(env.result, env.cursor, out, err);
    cf_envelope_free(&env);
    http_response_free(&resp);
    return ok;
}

/* ---- Queues ------------------------------------------------------------- */

bool cf_queue_send_batch(CfClient *c, const char *queue_id, const CfQueueMsg *msgs, size_t n,
                         size_t *out_requests, Err *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t size;
        if (!cf_queue_msg_size(&msgs[i], &size, err)) {
            err_prefix(err, "queue send batch: message %zu", i);
            return false;
        }
    }
    const char *segs[] = {"queues", queue_id, "messages", "batch"};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    bool ok = true;
    size_t i = 0;
    Buf body;
    buf_init(&body, UNCAPPED);
    while (ok && i < n) {
        size_t end = i;
        buf_reset(&body);
        ok = cf_queue_batch_chunk(msgs, n, i, 0, 0, &body, &end, err);
        if (!ok) {
            err_prefix(err, "queue send batch");
            break;
        }
        CfCall call = {.what = "queue send batch", .perm = "Queues Edit", .method = "POST",
                       .url = url, .content_type = "application/json", .body = body.data,
                       .body_len = body.len, .rest = true, .envelope = true};
        HttpResponse resp;
        CfEnvelope env;
        ok = cf_call(c, &call, &resp, &env, err);
        if (!ok)
            break;
        if (out_requests)
            (*out_requests)++;
        cf_envelope_free(&env);
        http_response_free(&resp);
        i = end;
    }
    buf_free(&body);
    free(url);
    return ok;
}

bool cf_queue_send(CfClient *c, const char *queue_id, const CfQueueMsg *msg, Err *err)
{
    Buf body;
    buf_init(&body, UNCAPPED);
    if (!cf_queue_single_body(msg, &body, err)) {
        err_prefix(err, "queue send");
        buf_free(&body);
        return false;
    }
    const char *segs[] = {"queues", queue_id, "messages"};
    char *url = acct_url(c, segs, ARRAY_LEN(segs));
    CfCall call = {.what = "queue send", .perm = "Queues Edit", .method = "POST", .url = url,
                   .content_type = "application/json", .body = body.data, .body_len = body.len,
                   .rest = true, .envelope = true};
    HttpResponse resp;
    CfEnvelope env;
    bool ok = cf_call(c, &call, &resp, &env, err);
    free(url);
    buf_free(&body);
    if (ok) {
        cf_envelope_free(&env);
        http_response_free(&resp);
    }
    return ok;
}
