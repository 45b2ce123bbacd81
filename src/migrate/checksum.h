/*
 * migrate/checksum.h - the per-row checksum `migrate` computes the same way on
 *                      the Postgres side and on the D1 side.
 *
 * Owns:     the hash of one row of D1 values.
 * Not mine: reading the rows (migrate/migrate, migrate/d1_rest), converting
 *           values (value/render).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_MIGRATE_CHECKSUM_H
#define WAL2EDGE_MIGRATE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "value/render.h"

/* Hash of one row of D1 values (in the D1 table's column order). */
uint64_t migrate_row_hash(const D1Value *vals, size_t n);

#endif
