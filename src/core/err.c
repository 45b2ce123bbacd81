/*
 * core/err.c - see err.h.
 *
 * err.def is expanded once into a table indexed by ErrCode (name, exit code,
 * retryable, text); an out-of-range code reads as ERR_INTERNAL. Messages live in
 * the fixed array inside Err, so setting or prefixing an error never allocates and
 * truncates instead; err_sys appends strerror of the errno saved on entry.
 * err_prefix_name does not repeat a name the message already starts with.
 */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int exit_code;
    bool retryable;
    const char *text;
} ErrInfo;

static const ErrInfo err_table[ERR__COUNT] = {
#define X(name, exit_code, retryable, text) [name] = {#name, exit_code, retryable, text},
#include "core/err.def"
#undef X
};

static const ErrInfo *err_info(ErrCode code)
{
    if ((int)code < 0 || code >= ERR__COUNT)
        return &err_table[ERR_INTERNAL];
    return &err_table[code];
}

static void err_vset(Err *e, ErrCode code, const char *fmt, va_list ap) ATTR_PRINTF(3, 0);
static void err_vset(Err *e, ErrCode code, const char *fmt, va_list ap)
{
    e->code = code;
    e->sys_errno = 0;
    e->detail = 0;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

bool err_set(Err *e, ErrCode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    return false;
}

bool err_sys(Err *e, ErrCode code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    e->sys_errno = saved;
    size_t used = strlen(e->msg);
    snprintf(e->msg + used, sizeof e->msg - used, ": %s", strerror(saved));
    return false;
}

/* Append src to dst[*used..size), truncating; dst stays NUL-terminated. */
static void append_truncated(char *dst, size_t size, size_t *used, const char *src)
{
    size_t room = size - 1 - *used;
    size_t n = strlen(src);
    if (n > room)
        n = room;
    memcpy(dst + *used, src, n);
    *used += n;
    dst[*used] = '\0';
}

void err_prefix(Err *e, const char *fmt, ...)
{
    char prefix[ERR_MSG_MAX];
    char old[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t used = 0;
    e->msg[0] = '\0';
    append_truncated(e->msg, sizeof e->msg, &used, prefix);
    append_truncated(e->msg, sizeof e->msg, &used, ": ");
    append_truncated(e->msg, sizeof e->msg, &used, old);
}

/* Whether s starts with "name:". */
static bool named(const char *s, const char *name, size_t n) { return strncmp(s, name, n) == 0 && s[n] == ':'; }

void err_prefix_name(Err *e, const char *name)
{
    size_t n = strlen(name);
    if (!named(e->msg, name, n)) {
        err_prefix(e, "%s", name);
        return;
    }
    /* "name: name: ..." (named twice further down): once is enough */
    while (e->msg[n + 1] == ' ' && named(e->msg + n + 2, name, n))
        memmove(e->msg, e->msg + n + 2, strlen(e->msg + n + 2) + 1);
}

void err_clear(Err *e)
{
    e->code = ERR_OK;
    e->sys_errno = 0;
    e->detail = 0;
    e->msg[0] = '\0';
}

bool err_retryable(const Err *e) { return err_info(e->code)->retryable; }
int err_exit_code(const Err *e) { return err_info(e->code)->exit_code; }
const char *err_code_text(ErrCode code) { return err_info(code)->text; }
const char *err_code_name(ErrCode code) { return err_info(code)->name; }
