/*
 * mapping/shard.c - see shard.h. Both steps are chosen so that a Worker computes
 * them identically in JavaScript: FNV-1a needs only 64-bit wrapping multiply and
 * xor (BigInt there), and jump hash's one division is done in IEEE doubles on
 * values below 2^32, which C and JavaScript round the same way.
 */
#include "mapping/shard.h"

#define FNV_PRIME UINT64_C(0x100000001b3)

uint64_t shard_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t shard_key_hash(const ShardPart *parts, size_t n)
{
    static const unsigned char sep = 0;
    uint64_t h = SHARD_FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            h = shard_fnv1a(h, &sep, 1);
        h = shard_fnv1a(h, parts[i].p, parts[i].len);
    }
    return h;
}

uint32_t shard_jump(uint64_t key, uint32_t buckets)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)buckets) {
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        j = (int64_t)((double)(b + 1) * ((double)(INT64_C(1) << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

uint32_t shard_for(const ShardPart *parts, size_t n, uint32_t databases)
{
    return databases <= 1 ? 0 : shard_jump(shard_key_hash(parts, n), databases);
}
