/*
 * core/str.h - strict whole-string number parsing.
 *
 * Owns:     turning untrusted text (server replies, config, headers) into
 *           integers: no sign for unsigned, no spaces, no empty string, no
 *           trailing junk, no overflow. Replaces atoi/strtol at call sites.
 * Pure:     yes.
 */
#ifndef WAL2EDGE_CORE_STR_H
#define WAL2EDGE_CORE_STR_H

#include <stdbool.h>
#include <stdint.h>

bool str_to_u64(const char *s, uint64_t max, uint64_t *out);
bool str_to_i64(const char *s, int64_t *out);

#endif
