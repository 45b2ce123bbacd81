/*
 * cf/r2_xml.h - the S3 XML that R2 answers with, read.
 *
 * Owns:     minimal, bounded reading of S3 XML: the text of a known element
 *           (the five predefined entities and numeric references decoded), and
 *           a ListObjectsV2 result.
 * Not mine: the requests (cf/r2, cf/r2_multipart).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_CF_R2_XML_H
#define WAL2EDGE_CF_R2_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct R2ListEntry {
    char *key;
    uint64_t size;
    char *etag;
    char *last_modified;
} R2ListEntry;

typedef struct R2ListResult {
    R2ListEntry *items;
    size_t count;
    char **common_prefixes;
    size_t prefix_count;
    bool truncated;
    char *next_token;          /* NextContinuationToken when truncated */
} R2ListResult;

void r2_list_result_free(R2ListResult *r);

/* Owned, entity-decoded text of the first <tag>…</tag> in xml[from..len) ;
 * NULL when absent. *next (optional) gets the offset after the closing tag. */
char *r2_xml_text(const char *xml, size_t len, size_t from, const char *tag, size_t *next);
bool r2_xml_parse_list(const char *xml, size_t len, R2ListResult *out, Err *err) WARN_UNUSED;

/* The first occurrence of needle in hay[0..hlen), or NULL. */
const char *r2_xml_contains(const char *hay, size_t hlen, const char *needle);
/* The first <tag>…</tag> in xml[from..len): its text is [*cs, *ce), *end is past the
 * closing tag. False when absent. */
bool r2_xml_find(const char *xml, size_t len, size_t from, const char *tag, size_t *cs, size_t *ce,
                 size_t *end);

#endif
