/*
 * cf/r2_multipart.h - R2 multipart uploads.
 *
 * Owns:     create, upload part (from memory or a file range), complete,
 *           abort, list parts; R2's multipart rules checked client-side (parts
 *           >= 5 MiB except the last, all non-final parts the same size, the
 *           last no larger, <= 10,000 parts, <= 5 GiB - 5 MiB per part).
 * Not mine: signing, retries and errors of each request (cf/r2).
 * Pure:     no (network); r2_parts_check() and r2_part_count() are pure.
 */
#ifndef WAL2EDGE_CF_R2_MULTIPART_H
#define WAL2EDGE_CF_R2_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/r2.h"
#include "core/err.h"

typedef struct R2Part {
    unsigned part_number;      /* 1..10,000, ascending */
    char *etag;                /* as returned by upload_part */
    uint64_t size;
} R2Part;

/* Pure: R2's multipart rules over the parts to complete. */
bool r2_parts_check(const R2Part *parts, size_t n, Err *err) WARN_UNUSED;
/* Pure: how many parts an object of `size` needs at `part_size` (checked against the rules). */
bool r2_part_count(uint64_t size, uint64_t part_size, size_t *out, Err *err) WARN_UNUSED;

bool r2_mpu_create(R2Client *c, const char *key, const char *content_type, char **out_upload_id,
                   Err *err) WARN_UNUSED;
/* UploadPart from memory; *out_etag owned. */
bool r2_mpu_upload_part(R2Client *c, const char *key, const char *upload_id, unsigned part_number,
                        const void *data, size_t len, char **out_etag, Err *err) WARN_UNUSED;
/* UploadPart from a file range. */
bool r2_mpu_upload_part_file(R2Client *c, const char *key, const char *upload_id,
                             unsigned part_number, const char *path, uint64_t offset,
                             uint64_t len, char **out_etag, Err *err) WARN_UNUSED;
/* Checks r2_parts_check() first, then CompleteMultipartUpload. out may be NULL. */
bool r2_mpu_complete(R2Client *c, const char *key, const char *upload_id, const R2Part *parts,
                     size_t n, R2ObjectInfo *out, Err *err) WARN_UNUSED;
bool r2_mpu_abort(R2Client *c, const char *key, const char *upload_id, Err *err) WARN_UNUSED;
/* ListParts (first page, up to 1000): *out owned, free with r2_parts_free. */
bool r2_mpu_list_parts(R2Client *c, const char *key, const char *upload_id, R2Part **out,
                       size_t *out_count, Err *err) WARN_UNUSED;
void r2_parts_free(R2Part *parts, size_t n);

#endif
