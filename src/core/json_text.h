/*
 * core/json_text.h - writing JSON string literals into a Buf.
 *
 * Owns:     JSON string escaping (RFC 8259) for code that emits JSON by hand
 *           where jansson would be too heavy (log lines, hot output paths).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_CORE_JSON_TEXT_H
#define WAL2EDGE_CORE_JSON_TEXT_H

#include <stddef.h>

#include "core/buf.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not valid (an overlong
 * form, a surrogate, a code point past U+10FFFF, or cut short by left). */
size_t json_text_utf8_len(const unsigned char *s, size_t left);

/* Append `"…"` with s[0..len) escaped. Invalid UTF-8 bytes become U+FFFD. */
bool json_text_append_str(Buf *b, const char *s, size_t len, Err *err) WARN_UNUSED;

#endif
