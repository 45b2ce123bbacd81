/*
 * mapping/shard.h - the shard function: which database of a sharded D1 mapping
 *                   a row belongs to (docs/sharding.md, "The shard function").
 *
 * Owns:     the bytes hashed for a row's shard key (each shard_by column's
 *           Postgres text, joined by one 0x00 byte), the hash (64-bit FNV-1a),
 *           and its reduction to N databases (jump consistent hash, Lamping and
 *           Veach 2014) - the same function as shardFor of the Workers library
 *           (workers/lib), checked on the shared vectors of
 *           tests/fixtures/shard/vectors.json.
 * Not mine: which columns and databases a mapping names (mapping/mapping), taking
 *           the values out of a change (d1/shard).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_MAPPING_SHARD_H
#define WAL2EDGE_MAPPING_SHARD_H

#include <stddef.h>
#include <stdint.h>

/* The most databases one mapping may spread over. */
#define SHARD_MAX_DATABASES 1024
/* The most shard_by columns of one mapping. */
#define SHARD_MAX_COLUMNS 64

/* One shard_by column's value: its Postgres text (never NULL; no 0x00 byte can occur in it). */
typedef struct ShardPart {
    const char *p;
    size_t len;
} ShardPart;

/* 64-bit FNV-1a of n bytes, continuing from h (start with SHARD_FNV_OFFSET). */
#define SHARD_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
uint64_t shard_fnv1a(uint64_t h, const void *p, size_t n);

/* The hash of a shard key: FNV-1a over parts[0], 0x00, parts[1], ... (no trailing 0x00). */
uint64_t shard_key_hash(const ShardPart *parts, size_t n);

/* Jump consistent hash of key into [0, buckets); buckets >= 1. Going from N to
 * M > N buckets moves only the keys that land in the new ones. */
uint32_t shard_jump(uint64_t key, uint32_t buckets);

/* The database index in [0, databases) of a row whose shard key is parts. */
uint32_t shard_for(const ShardPart *parts, size_t n, uint32_t databases);

#endif
