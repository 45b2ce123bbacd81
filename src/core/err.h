/*
 * core/err.h - the one error type.
 *
 * Owns:     ErrCode (from core/err.def), Err, the error-code -> exit-code map.
 * Not mine: printing errors (core/log, main.c decide that).
 * Pure:     yes; err_sys reads errno, nothing else.
 *
 * Convention: fallible functions return bool (or a pointer / -1) and take
 * `Err *err` last. On failure they fill *err and return false; on success
 * they leave *err alone. Messages are lowercase, end without punctuation,
 * name the object and never contain a secret.
 */
#ifndef WAL2EDGE_CORE_ERR_H
#define WAL2EDGE_CORE_ERR_H

#include <stdbool.h>

#define ATTR_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))
#define WARN_UNUSED __attribute__((warn_unused_result))

typedef enum {
#define X(name, exit_code, retryable, text) name,
#include "core/err.def"
#undef X
    ERR__COUNT
} ErrCode;

#define ERR_MSG_MAX 1024

typedef struct Err {
    ErrCode code;
    int sys_errno;        /* errno captured at the failure point, 0 if none */
    long detail;          /* library code: HTTP status, SQLite rc, ... ; 0 if none */
    char msg[ERR_MSG_MAX];
} Err;

/* Fill *e and return false, so `return err_set(...)` reads naturally. */
bool err_set(Err *e, ErrCode code, const char *fmt, ...) ATTR_PRINTF(3, 4);

/* Like err_set but appends ": strerror(errno)"; errno is saved before anything else. */
bool err_sys(Err *e, ErrCode code, const char *fmt, ...) ATTR_PRINTF(3, 4);

/* Prepend context: "loading config: <old message>". Keeps code and detail. */
void err_prefix(Err *e, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* err_prefix(e, "%s", name) unless the message already starts with "name:" (a module that
 * names itself in its errors, seen from a caller that names it too); a message that starts
 * "name: name: " keeps one of them. */
void err_prefix_name(Err *e, const char *name);

void err_clear(Err *e);
bool err_retryable(const Err *e);
int err_exit_code(const Err *e);
/* Static description of a code ("configuration error"); never NULL. */
const char *err_code_text(ErrCode code);
/* Symbolic name of a code ("ERR_CONFIG"); never NULL. */
const char *err_code_name(ErrCode code);

#endif
