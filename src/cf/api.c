/*
 * cf/api.c - URLs, envelope parsing and API errors (see api.h).
 *
 * URLs are assembled in uncapped buffers (trailing slashes of the base dropped,
 * each segment escaped), so building one cannot fail. The envelope is parsed with
 * jansson rejecting duplicate keys, and only the first error and the first entry
 * of its error_chain are kept, as that is what the API puts its cause in; D1's
 * import polling answers with a bare "error" string, read when "errors" is
 * absent. Whether an error is transient is decided by code (971, 10250, 15000) or
 * by D1's own message texts, which carry no code. A failure's Err is built from
 * sanitised server text plus status, cf-ray and, for auth codes or 401/403, a
 * hint naming the token permission the call needed.
 */
#include "cf/api.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

bool cf_url_escape(Buf *out, const char *s, size_t len, Err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            if (!buf_append(out, &s[i], 1, err))
                return false;
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (!buf_append(out, enc, 3, err))
                return false;
        }
    }
    return true;
}

static void escape_into(Buf *b, const char *s)
{
    Err e;
    if (!cf_url_escape(b, s, strlen(s), &e))
        abort();   /* GCOVR_EXCL_LINE: the buffer is effectively uncapped */
}

char *cf_api_url(const char *base_url, const char *account_id, const char *const *segs,
                 size_t nsegs)
{
    Buf b;
    Err e;
    buf_init(&b, SIZE_MAX / 2);
    size_t blen = strlen(base_url);
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    if (!buf_append(&b, base_url, blen, &e) || !buf_append_str(&b, "/accounts/", &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped */
    escape_into(&b, account_id);
    for (size_t i = 0; i < nsegs; i++) {
        if (!buf_append(&b, "/", 1, &e))
            abort();   /* GCOVR_EXCL_LINE: uncapped */
        escape_into(&b, segs[i]);
    }
    return buf_take(&b);
}

char *cf_url_add_query(char *url, const char *name, const char *value)
{
    Buf b;
    Err e;
    buf_init(&b, SIZE_MAX / 2);
    if (!buf_append_str(&b, url, &e) ||
        !buf_append(&b, strchr(url, '?') ? "&" : "?", 1, &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped */
    escape_into(&b, name);
    if (!buf_append(&b, "=", 1, &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped */
    escape_into(&b, value);
    free(url);
    return buf_take(&b);
}

void cf_envelope_free(CfEnvelope *env)
{
    if (!env)
        return;
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

bool cf_envelope_parse(const char *body, size_t len, CfEnvelope *out, Err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(err, ERR_PROTOCOL, "response is not JSON (line %d: %.80s)", je.line,
                       je.text);
    json_t *success = json_object_get(root, "success");
    if (!json_is_object(root) || !json_is_boolean(success)) {
        json_decref(root);
        return err_set(err, ERR_PROTOCOL, "response is not a cloudflare api envelope");
    }
    out->root = root;
    out->success = json_is_true(success);
    out->result = json_object_get(root, "result");
    json_t *errors = json_object_get(root, "errors");
    out->errors = json_is_array(errors) ? errors : NULL;
    json_t *messages = json_object_get(root, "messages");
    out->messages = json_is_array(messages) ? messages : NULL;
    json_t *info = json_object_get(root, "result_info");
    out->result_info = json_is_object(info) ? info : NULL;
    if (out->result_info) {
        const char *cursor = json_string_value(json_object_get(out->result_info, "cursor"));
        out->cursor = cursor && cursor[0] ? cursor : NULL;
    }
    json_t *first = out->errors ? json_array_get(out->errors, 0) : NULL;
    if (json_is_object(first)) {
        json_t *code = json_object_get(first, "code");
        if (json_is_integer(code))
            out->error_code = (long)json_integer_value(code);
        out->error_message = json_string_value(json_object_get(first, "message"));
        json_t *chain = json_array_get(json_object_get(first, "error_chain"), 0);
        if (json_is_object(chain)) {
            json_t *cc = json_object_get(chain, "code");
            if (json_is_integer(cc))
                out->chain_code = (long)json_integer_value(cc);
            out->chain_message = json_string_value(json_object_get(chain, "message"));
        }
    } else if (!out->success) {
        /* D1 import polling answers {"success":false,"error":"..."} */
        out->error_message = json_string_value(json_object_get(root, "error"));
    }
    return true;
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

bool cf_api_error_transient(const CfEnvelope *env)
{
    if (!env || !env->root)
        return false;
    if (env->error_code == 971 || env->error_code == 10250 || env->error_code == 15000)
        return true;
    static const char *const d1_transient[] = {
        "D1 DB reset because its code was updated",
        "Internal error while starting up D1 DB storage caused object to be reset",
        "Network connection lost",
        "Internal error in D1 DB storage caused object to be reset",
        "Cannot resolve D1 DB due to transient issue on remote node",
        "Can't read from request stream because client disconnected",
        "D1 DB storage operation exceeded timeout which caused object to be reset",
        "D1 DB is overloaded",
        "D1 DB's isolate exceeded its memory limit and was reset",
        "D1 DB exceeded its CPU time limit and was reset",
    };
    for (size_t i = 0; i < sizeof d1_transient / sizeof d1_transient[0]; i++)
        if (contains(env->error_message, d1_transient[i]))
            return true;
    return false;
}

bool cf_api_code_is_auth(long code)
{
    return code == 10000 || code == 9109 || code == 9103 || code == 6003 || code == 6111 ||
           code == 10106;
}

/* Printable ASCII only, at most max bytes (UTF-8 and controls become '?'). */
static void sanitize(char *dst, size_t cap, const char *src, size_t max)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < cap && i < max; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

bool cf_api_fail(Err *err, const char *what, const char *permission, long status,
                 const CfEnvelope *env, bool retryable, const char *cf_ray)
{
    char msg[240] = "", chain[160] = "", ray[64] = "";
    long code = env ? env->error_code : 0;
    if (env && env->error_message)
        sanitize(msg, sizeof msg, env->error_message, 200);
    if (env && env->chain_message)
        sanitize(chain, sizeof chain, env->chain_message, 120);
    if (cf_ray)
        sanitize(ray, sizeof ray, cf_ray, 40);

    Buf b;
    Err e2;
    buf_init(&b, ERR_MSG_MAX - 1);
    bool ok = buf_printf(&b, &e2, "%s: ", what);
    if (ok && code)
        ok = buf_printf(&b, &e2, "[%ld] ", code);
    if (ok)
        ok = buf_append_str(&b, msg[0] ? msg : (status ? "request failed" : "no response"), &e2);
    if (ok && (env && env->chain_code))
        ok = buf_printf(&b, &e2, " ([%ld] %s)", env->chain_code, chain);
    if (ok && status)
        ok = buf_printf(&b, &e2, " (http %ld)", status);
    if (ok && retryable)
        ok = buf_append_str(&b, "; retries exhausted", &e2);
    if (ok && ray[0])
        ok = buf_printf(&b, &e2, "; cf-ray %s", ray);
    if (ok && (cf_api_code_is_auth(code) || cf_api_code_is_auth(env ? env->chain_code : 0) ||
               status == 401 || status == 403))
        ok = permission ? buf_printf(&b, &e2,
                                     "; hint: check that the api token is valid, not expired, and has the "
                                     "'%s' permission on this account",
                                     permission)
                        : buf_append_str(&b, "; hint: check that the api token is valid and not expired", &e2);
    (void)ok;   /* a truncated message is still a message */
    const char *text = b.data ? b.data : what;
    if (retryable) {
        err_set(err, ERR_HTTP, "%s", text);
        err->detail = status;
    } else {
        err_set(err, ERR_CF_API, "%s", text);
        err->detail = code ? code : status;
    }
    buf_free(&b);
    return false;
}
