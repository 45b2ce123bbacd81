/*
 * config/envsubst.h - ${VAR} and ${VAR:-default} expansion in config strings.
 *
 * Owns:     the expansion rules: ${NAME} (NAME must be set), ${NAME:-text}
 *           (text when NAME is unset or empty), ${NAME-text} (text when NAME
 *           is unset), and $${ for a literal "${". A lone '$' is literal.
 * Pure:     yes; the environment is reached only through the lookup callback.
 */
#ifndef WAL2EDGE_CONFIG_ENVSUBST_H
#define WAL2EDGE_CONFIG_ENVSUBST_H

#include <stdbool.h>

#include "core/err.h"

/* Returns the variable's value, or NULL when it is not set. */
typedef const char *(*EnvLookup)(const char *name, void *user);

/* The process environment (getenv). */
const char *envsubst_getenv(const char *name, void *user);

/*
 * Expand `in` into an owned *out. *used_env (may be NULL) tells whether any
 * ${...} was expanded. On failure err->msg says what is wrong without
 * position (the caller adds file:line:col):
 *   environment variable "X" is not set (use ${X:-default} to give a default)
 */
bool envsubst(const char *in, EnvLookup lookup, void *user, char **out, bool *used_env,
              Err *err) WARN_UNUSED;

#endif
