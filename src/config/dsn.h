/*
 * config/dsn.h - find the password inside a libpq connection string.
 *
 * Owns:     knowing where a password sits in both DSN forms
 *           (postgresql://user:PASSWORD@host/db?password=..., and
 *           "host=h password='PASSWORD'"), so it can be redacted for display
 *           and registered with the log redactor. Not a full DSN parser:
 *           libpq itself (pg/conn) interprets the string.
 * Pure:     yes.
 */
#ifndef WAL2EDGE_CONFIG_DSN_H
#define WAL2EDGE_CONFIG_DSN_H

#include <stdbool.h>
#include <stddef.h>

#define DSN_MAX_PASSWORDS 4

typedef struct DsnPasswords {
    size_t count;
    size_t start[DSN_MAX_PASSWORDS];  /* byte offsets of each password as written */
    size_t len[DSN_MAX_PASSWORDS];
} DsnPasswords;

/* Locate every password in dsn (there may be none). */
void dsn_find_passwords(const char *dsn, DsnPasswords *out);

/* Owned copy of dsn with each password replaced by "[redacted]". */
char *dsn_redacted(const char *dsn);

/* Owned decoded form of the password at index i (percent-decoding for URIs,
 * quote/backslash rules for key=value), as libpq will see it. */
char *dsn_password_decoded(const char *dsn, const DsnPasswords *found, size_t i);

#endif
