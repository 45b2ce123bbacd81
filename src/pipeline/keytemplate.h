/*
 * pipeline/keytemplate.h - templates over a row's columns ("user:{id}",
 *                          "tenant:{tenant_id}:user:{email}"), as KV keys and
 *                          KV value/metadata templates use them.
 *
 * Owns:     the template syntax ({column} placeholders, everything else
 *           literal), rendering a template against a row (a Rel plus a
 *           pgoutput tuple: stream changes and snapshot rows look the same),
 *           the escaping rule for data substituted into keys (docs/kv.md), and
 *           the KV key rules (1..512 bytes, not "." or "..").
 * Not mine: which templates a mapping has (mapping/), where keys go (targets/kv).
 * Pure:     yes.
 * Trust:    values are untrusted bytes off the stream or from a snapshot; any
 *           byte sequence renders, escaped into printable ASCII/UTF-8 in keys.
 *
 * Key escaping (KT_ESCAPE_KEY): each value substituted into a key is the
 * column's Postgres text (the same text pgoutput sends) in which '%', ':', '/',
 * every byte below 0x20, 0x7F, and every byte that is not part of a valid
 * UTF-8 sequence become "%XX" (upper-case hex). So "a:b/c%d" renders as
 * "a%3Ab%2Fc%25d": a value can never forge a key's separators, and keys are
 * always valid UTF-8. Literal text of the template is kept as written.
 * A NULL value means the row has no key for that template.
 */
#ifndef WAL2EDGE_PIPELINE_KEYTEMPLATE_H
#define WAL2EDGE_PIPELINE_KEYTEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/pgoutput.h"
#include "pg/relcache.h"

#define KT_KEY_MAX_BYTES 512

typedef struct KeyTemplate KeyTemplate;

/* Parse "{col}" placeholders (non-empty names, balanced braces). ERR_CONFIG
 * naming the template when malformed. Owned. */
KeyTemplate *keytemplate_parse(const char *text, Err *err) WARN_UNUSED;
void keytemplate_free(KeyTemplate *t);

const char *keytemplate_text(const KeyTemplate *t);
/* The placeholders' column names, in order of appearance (duplicates kept). */
size_t keytemplate_column_count(const KeyTemplate *t);
const char *keytemplate_column(const KeyTemplate *t, size_t i);
/* Whether the template has no placeholder at all. */
bool keytemplate_is_literal(const KeyTemplate *t);

typedef enum KtMode {
    KT_ESCAPE_KEY,             /* escape substituted values (keys); NULL → KT_NULL */
    KT_RAW,                    /* substitute the text as is; NULL → "" (value/metadata templates) */
} KtMode;

typedef enum KtResult {
    KT_OK = 1,
    KT_NULL = 0,               /* KT_ESCAPE_KEY: a placeholder's value is NULL: no key */
    KT_MISSING = -1,           /* a placeholder's column is absent or an unchanged TOAST value */
    KT_ERROR = -2,             /* *err set (buffer cap) */
} KtResult;

/* Append the rendering for (rel, tup) to out. On KT_NULL/KT_MISSING out may
 * hold a partial rendering (callers reset it); *missing_col names the column. */
KtResult keytemplate_render(const KeyTemplate *t, KtMode mode, const Rel *rel, const PgoTuple *tup, Buf *out,
                            const char **missing_col, Err *err);

/* Append p[0..n) escaped by the key rule above. */
bool kt_escape_append(Buf *out, const void *p, size_t n, Err *err) WARN_UNUSED;

/* The KV key rules: 1..512 bytes, not "." or "..". *why (may be NULL) says which failed. */
bool kt_key_valid(const char *key, size_t len, const char **why);

/* Whether p[0..n) is valid UTF-8. */
bool kt_utf8_valid(const void *p, size_t n);

/* Index of the column named `name` in rel, or -1. */
long kt_rel_column(const Rel *rel, const char *name);

#endif
