/*
 * core/log.h - leveled logging with context, two output formats, and redaction.
 *
 * Owns:     the only writes to stderr for diagnostics; the log level and format;
 *           the redaction registry: every registered secret is replaced by
 *           "[redacted]" in every line before it is written, whatever the format.
 * Not mine: deciding when to exit (main.c, the daemon loop).
 * State:    process-wide (one logger per process), set up once by main().
 *
 * Text format (a TTY):  2026-11-28T11:00:00Z INFO  doctor: message (slot=s lsn=0/16B3748)
 * JSON format (else):   {"ts":"…","level":"info","component":"doctor","slot":"s","lsn":"0/16B3748","msg":"…"}
 */
#ifndef WAL2EDGE_CORE_LOG_H
#define WAL2EDGE_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } LogLevel;
typedef enum { LOG_FORMAT_AUTO, LOG_FORMAT_TEXT, LOG_FORMAT_JSON } LogFormat;

/* Context carried on every line; any field may be NULL / unset. */
typedef struct LogCtx {
    const char *component;
    const char *slot;
    uint64_t lsn;
    bool has_lsn;
} LogCtx;

#define LOG_REDACTED "[redacted]"
/* Secrets shorter than this are not registered: redacting a 1-2 byte string
 * would mangle every line. Config warns about such secrets instead. */
#define LOG_SECRET_MIN_LEN 3

/* A sink receives each finished (already redacted) line without the newline. */
typedef void (*LogSink)(LogLevel level, const char *line, void *user);

void log_configure(LogLevel min_level, LogFormat format);
LogLevel log_min_level(void);
bool log_level_parse(const char *text, LogLevel *out);
bool log_format_parse(const char *text, LogFormat *out);
const char *log_level_name(LogLevel level);

/* Replace the stderr writer (tests); NULL restores stderr. */
void log_set_sink(LogSink sink, void *user);

/* Register a secret for redaction (copied; wiped at log_redact_clear()). */
void log_redact_add(const char *secret);
void log_redact_clear(void);
/* Owned copy of text with every registered secret replaced. */
char *log_redact(const char *text);

void log_msg(const LogCtx *ctx, LogLevel level, const char *fmt, ...) ATTR_PRINTF(3, 4);

#define log_debug(ctx, ...) log_msg((ctx), LOG_DEBUG, __VA_ARGS__)
#define log_info(ctx, ...) log_msg((ctx), LOG_INFO, __VA_ARGS__)
#define log_warn(ctx, ...) log_msg((ctx), LOG_WARN, __VA_ARGS__)
#define log_error(ctx, ...) log_msg((ctx), LOG_ERROR, __VA_ARGS__)

#endif
