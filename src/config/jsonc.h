/*
 * config/jsonc.h - a JSON-with-comments parser that remembers where things are.
 *
 * Owns:     the JSONC syntax used by wal2edge.jsonc and mapping files: JSON plus
 *           // and block comments and trailing commas (as wrangler.jsonc), and the
 *           line:column of every value and object key, so that every later
 *           error can point at the exact spot in the user's file.
 * Not mine: what the keys mean (config/config, the mapping loader).
 * Pure:     yes; text in, tree out.
 * Trust:    input is untrusted; depth and size are capped, duplicate keys,
 *           control characters in strings and bad escapes are errors.
 */
#ifndef WAL2EDGE_CONFIG_JSONC_H
#define WAL2EDGE_CONFIG_JSONC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

#include "core/err.h"

#define JSONC_MAX_DEPTH 64

typedef enum {
    JSONC_NULL,
    JSONC_BOOL,
    JSONC_NUMBER,
    JSONC_STRING,
    JSONC_ARRAY,
    JSONC_OBJECT,
} JsoncType;

typedef struct JsoncNode JsoncNode;

typedef struct JsoncMember {
    char *key;
    int line, col;        /* of the key's opening quote, 1-based */
    JsoncNode *value;
} JsoncMember;

struct JsoncNode {
    JsoncType type;
    int line, col;        /* of the value's first character, 1-based */
    bool boolean;
    char *text;           /* STRING: decoded UTF-8 (may hold NUL; see text_len); NUMBER: the literal */
    size_t text_len;
    JsoncNode **items;    /* ARRAY */
    size_t item_count;
    JsoncMember *members; /* OBJECT, in file order */
    size_t member_count;
};

/* Parse text; source_name prefixes error messages ("wal2edge.jsonc:3:7: ..."). Owned result. */
JsoncNode *jsonc_parse(const char *text, size_t len, const char *source_name, Err *err) WARN_UNUSED;
void jsonc_free(JsoncNode *node);

/* Borrowed member of an object by key, or NULL. */
const JsoncMember *jsonc_member(const JsoncNode *object, const char *key);
const char *jsonc_type_name(JsoncType type);
/*
 * The first member of `object` whose key is not in `allowed` (NULL-terminated),
 * or NULL when every key is known. *suggestion is the allowed key closest to it
 * (edit distance of 2 or less), for a "did you mean" hint, or NULL.
 */
const JsoncMember *jsonc_unknown_member(const JsoncNode *object, const char *const *allowed,
                                        const char **suggestion);

/* Validation errors point into a file: "SOURCE:LINE:COL: KEY.PATH: what" (ERR_CONFIG). */
typedef struct JsoncCheck {
    const char *source;
    Err *err;
} JsoncCheck;

/* Fill ck->err (key_path may be empty) and return false. */
bool jsonc_vfail(const JsoncCheck *ck, int line, int col, const char *key_path, const char *fmt, va_list ap)
    ATTR_PRINTF(5, 0);
/* Every key of obj must be in allowed; the error names the first unknown one, with a hint. */
bool jsonc_check_keys(const JsoncCheck *ck, const JsoncNode *obj, const char *key_path,
                      const char *const *allowed) WARN_UNUSED;
/* node must be of type: "expected an object, got array". */
bool jsonc_expect_type(const JsoncCheck *ck, const JsoncNode *node, JsoncType type,
                       const char *key_path) WARN_UNUSED;

/* Strict integer value of a NUMBER node (no fraction or exponent). */
bool jsonc_int64(const JsoncNode *node, int64_t *out);

#endif
