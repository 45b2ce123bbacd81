/*
 * core/log.c - see log.h.
 *
 * Redaction happens on the finished line, after formatting, so no format
 * string, context field or error message can smuggle a secret out.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json_text.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define LOG_LINE_MAX (32 * 1024)
#define LOG_SECRETS_MAX 64

static LogLevel log_level = LOG_INFO;
static LogFormat log_format = LOG_FORMAT_AUTO;
static LogSink log_sink;
static void *log_sink_user;
static char *log_secrets[LOG_SECRETS_MAX];
static size_t log_secret_count;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_configure(LogLevel min_level, LogFormat format)
{
    log_level = min_level;
    log_format = format;
}

LogLevel log_min_level(void) { return log_level; }

const char *log_level_name(LogLevel level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

bool log_level_parse(const char *text, LogLevel *out)
{
    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (LogLevel)i;
            return true;
        }
    }
    if (strcmp(text, "warning") == 0) {
        *out = LOG_WARN;
        return true;
    }
    return false;
}

bool log_format_parse(const char *text, LogFormat *out)
{
    if (strcmp(text, "auto") == 0)
        *out = LOG_FORMAT_AUTO;
    else if (strcmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

void log_set_sink(LogSink sink, void *user)
{
    log_sink = sink;
    log_sink_user = user;
}

void log_redact_add(const char *secret)
{
    if (!secret || strlen(secret) < LOG_SECRET_MIN_LEN)
        return;
    for (size_t i = 0; i < log_secret_count; i++)
        if (strcmp(log_secrets[i], secret) == 0)
            return;
    if (log_secret_count == LOG_SECRETS_MAX)
        abort(); /* more secrets than any config holds: a bug, never silently unredacted */
    log_secrets[log_secret_count++] = xstrdup(secret);
}

void log_redact_clear(void)
{
    for (size_t i = 0; i < log_secret_count; i++) {
        OPENSSL_cleanse(log_secrets[i], strlen(log_secrets[i]));
        free(log_secrets[i]);
        log_secrets[i] = NULL;
    }
    log_secret_count = 0;
}

char *log_redact(const char *text)
{
    char *out = xstrdup(text);
    for (size_t s = 0; s < log_secret_count; s++) {
        const char *secret = log_secrets[s];
        size_t secret_len = strlen(secret);
        if (!strstr(out, secret))
            continue;
        Buf b;
        Err ignored;
        buf_init(&b, SIZE_MAX / 2);
        const char *cursor = out;
        const char *hit;
        while ((hit = strstr(cursor, secret))) {
            if (!buf_append(&b, cursor, (size_t)(hit - cursor), &ignored) ||
                !buf_append_str(&b, LOG_REDACTED, &ignored))
                abort();
            cursor = hit + secret_len;
        }
        if (!buf_append_str(&b, cursor, &ignored))
            abort();
        OPENSSL_cleanse(out, strlen(out));
        free(out);
        out = buf_take(&b);
    }
    return out;
}

static void log_timestamp(char out[TIMEFMT_ISO_MAX])
{
    timefmt_iso(clock_wall_us(), 3, out);
}

static bool log_use_json(void)
{
    if (log_format == LOG_FORMAT_AUTO)
        return !isatty(STDERR_FILENO);
    return log_format == LOG_FORMAT_JSON;
}

static bool log_json_field(Buf *b, const char *key, const char *value, Err *err)
{
    return buf_printf(b, err, ",\"%s\":", key) &&
           json_text_append_str(b, value, strlen(value), err);
}

static bool log_format_line(Buf *b, const LogCtx *ctx, LogLevel level, const char *msg, Err *err)
{
    char ts[TIMEFMT_ISO_MAX];
    char lsn[24] = "";
    log_timestamp(ts);
    if (ctx && ctx->has_lsn)
        snprintf(lsn, sizeof lsn, "%X/%X", (unsigned)(ctx->lsn >> 32), (unsigned)ctx->lsn);
    const char *component = ctx && ctx->component ? ctx->component : "wal2edge";
    if (log_use_json()) {
        if (!buf_printf(b, err, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, log_level_name(level)) ||
            !log_json_field(b, "component", component, err))
            return false;
        if (ctx && ctx->slot && !log_json_field(b, "slot", ctx->slot, err))
            return false;
        if (lsn[0] && !log_json_field(b, "lsn", lsn, err))
            return false;
        return log_json_field(b, "msg", msg, err) && buf_append_str(b, "}", err);
    }
    static const char *const upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (!buf_printf(b, err, "%s %s %s: %s", ts, upper[level], component, msg))
        return false;
    if (ctx && (ctx->slot || lsn[0])) {
        if (!buf_printf(b, err, " (%s%s%s%s%s)", ctx->slot ? "slot=" : "",
                        ctx->slot ? ctx->slot : "", ctx->slot && lsn[0] ? " " : "",
                        lsn[0] ? "lsn=" : "", lsn))
            return false;
    }
    return true;
}

void log_msg(const LogCtx *ctx, LogLevel level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    Buf line;
    Err err;
    buf_init(&line, LOG_LINE_MAX * 2);
    if (!log_format_line(&line, ctx, level, msg, &err)) {
        buf_reset(&line);
        if (!buf_append_str(&line, "log line too long; dropped", &err))
            abort();
    }
    char *clean = log_redact(line.data);
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(line.data, line.len);
    buf_free(&line);
    if (log_sink) {
        log_sink(level, clean, log_sink_user);
    } else {
        fprintf(stderr, "%s\n", clean);
        fflush(stderr);
    }
    free(clean);
}
