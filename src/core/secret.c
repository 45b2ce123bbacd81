/*
 * core/secret.c - see secret.h.
 *
 * A Secret is an opaque heap copy of the value; creating one registers the value
 * with the log redactor, so any later log line that contains it is masked. Freeing
 * wipes the bytes with OPENSSL_cleanse. Code reaches the value only through
 * secret_reveal, and shows it only as secret_display (the redaction marker).
 */
#include "core/secret.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/mem.h"

struct Secret {
    char *value;
};

Secret *secret_new(const char *value)
{
    Secret *s = xcalloc(1, sizeof *s);
    s->value = xstrdup(value ? value : "");
    log_redact_add(s->value);
    return s;
}

void secret_free(Secret *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->value, strlen(s->value));
    free(s->value);
    free(s);
}

void secret_add_fragment(Secret *s, const char *fragment)
{
    (void)s;
    log_redact_add(fragment);
}

const char *secret_reveal(const Secret *s) { return s->value; }
bool secret_is_empty(const Secret *s) { return !s || s->value[0] == '\0'; }
const char *secret_display(const Secret *s)
{
    return secret_is_empty(s) ? "" : LOG_REDACTED;
}
