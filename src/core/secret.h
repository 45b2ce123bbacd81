/*
 * core/secret.h - a holder for a secret string that can't be printed by accident.
 *
 * Owns:     secret values (API token, R2 secret key, the source DSN): a Secret
 *           is registered with the log redactor when made, renders as
 *           "[redacted]" through secret_display(), and is wiped on free.
 * Pure:     yes, apart from registering with core/log.
 */
#ifndef WAL2EDGE_CORE_SECRET_H
#define WAL2EDGE_CORE_SECRET_H

#include <stdbool.h>

typedef struct Secret Secret;

/* Owned; also registers value (and any extra fragments) for log redaction. */
Secret *secret_new(const char *value);
void secret_free(Secret *s);
/* Register an additional fragment that must be redacted (e.g. a DSN's password). */
void secret_add_fragment(Secret *s, const char *fragment);
/* The real value, for the one place that must send it (a header, libpq). Borrowed. */
const char *secret_reveal(const Secret *s);
bool secret_is_empty(const Secret *s);
/* What to show a human. */
const char *secret_display(const Secret *s);

#endif
