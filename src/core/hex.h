/*
 * core/hex.h - hexadecimal digits, and SHA-256 digests in hex.
 *
 * Owns:     reading one hex digit (either case), writing bytes as lowercase
 *           hex (into a caller's array or appended to a Buf), and the SHA-256
 *           of a byte range as 64 lowercase hex digits - the one copy of each
 *           for LSNs, percent-decoding, JSON escapes, bytea, SigV4, R2 and the
 *           queue's claim checks.
 * Not mine: what the digits mean to each caller (its own parser or format).
 * Pure:     yes (libcrypto's digest only).
 */
#ifndef WAL2EDGE_CORE_HEX_H
#define WAL2EDGE_CORE_HEX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Lowercase hex of a SHA-256 digest, plus the NUL. */
#define SHA256_HEX_SIZE 65

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else (NUL included). */
int hex_value(char c);

/* Write in[0..n) as 2n lowercase hex digits and a NUL: out holds 2n + 1 bytes. */
void hex_encode(const void *in, size_t n, char *out);

/* Append in[0..n) to b as 2n lowercase hex digits (no NUL, no prefix). */
bool hex_append(Buf *b, const void *in, size_t n, Err *err) WARN_UNUSED;

/* The SHA-256 of data[0..len) in lowercase hex (data may be NULL when len is 0). */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE]);

#endif
