/*
 * cf/r2_intern.h - what cf/r2 shares with cf/r2_multipart, and no one else.
 *
 * Owns:     one signed, retried S3 request (R2Call, r2_call), the query
 *           builder, the object info of a response, the response caps.
 * Not mine: anything outside cf/r2*.c.
 */
#ifndef WAL2EDGE_CF_R2_INTERN_H
#define WAL2EDGE_CF_R2_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/r2.h"
#include "core/buf.h"
#include "core/err.h"
#include "net/http.h"

#define R2_UNCAPPED (SIZE_MAX / 2)
#define R2_XML_MAX (16u * 1024u * 1024u)

typedef struct R2Call {
    const char *what;            /* "r2 put" */
    const char *method;
    const char *key;             /* NULL → the bucket */
    const char *query;           /* encoded, no '?' */
    const HttpHeader *extra;     /* signed and sent */
    size_t nextra;
    const void *body;
    size_t body_len;
    const char *upload_path;
    uint64_t upload_offset;
    uint64_t upload_len;
    const char *payload_hash;    /* NULL → computed from body (or unsigned) */
    bool accept_404;
    size_t max_response;
} R2Call;

/* Send call (signed afresh per attempt, retried per the client's policy). A 2xx (or 404
 * with accept_404) fills *resp; otherwise *err carries S3's code and message. */
bool r2_call(R2Client *c, const R2Call *call, HttpResponse *resp, Err *err) WARN_UNUSED;
/* Append "&name=value" (value encoded) to a query Buf. */
bool r2_query_add(Buf *q, const char *name, const char *value, Err *err) WARN_UNUSED;
/* ETag, type, range and size of a response; out may be NULL. */
void r2_info_from(const HttpResponse *r, R2ObjectInfo *out);
/* Whether bodies go UNSIGNED-PAYLOAD instead of hashed. */
bool r2_unsigned_payload(const R2Client *c);

#endif
