/* Unit tests for mapping/shard: FNV-1a and jump hash on their published vectors, and
 * the whole shard function on tests/fixtures/shard/vectors.json - the file the
 * Workers library's shardFor is tested on too, so the two agree byte for byte. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "mapping/shard.h"

static json_t *vectors(void)
{
    json_error_t je;
    json_t *v = json_load_file(WAL2EDGE_FIXTURES "/shard/vectors.json", 0, &je);
    cr_assert_not_null(v, "vectors.json: %s", je.text);
    return v;
}

static void hex64(uint64_t h, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, h);
}

Test(shard, fnv1a_published_vectors)
{
    char hex[17];
    hex64(shard_fnv1a(SHARD_FNV_OFFSET, "", 0), hex);
    cr_assert_str_eq(hex, "cbf29ce484222325");
    hex64(shard_fnv1a(SHARD_FNV_OFFSET, "a", 1), hex);
    cr_assert_str_eq(hex, "af63dc4c8601ec8c");
    hex64(shard_fnv1a(SHARD_FNV_OFFSET, "foobar", 6), hex);
    cr_assert_str_eq(hex, "85944171f73967e8");
    /* incremental = one pass */
    cr_assert_eq(shard_fnv1a(shard_fnv1a(SHARD_FNV_OFFSET, "foo", 3), "bar", 3),
                 shard_fnv1a(SHARD_FNV_OFFSET, "foobar", 6));
}

Test(shard, jump_published_vectors)
{
    cr_assert_eq(shard_jump(1, 1), 0);
    cr_assert_eq(shard_jump(42, 57), 43);
    cr_assert_eq(shard_jump(256, 1024), 520);
    cr_assert_eq(shard_jump(3735883980u, 1), 0);
    cr_assert_eq(shard_jump(3735883980u, 666), 361);
    cr_assert_eq(shard_jump(UINT64_C(16045690984833335023), 255), 237);
}

Test(shard, fixture_vectors)
{
    json_t *v = vectors();
    size_t i, checked = 0;
    json_t *e;
    json_array_foreach(json_object_get(v, "fnv1a64"), i, e) {
        const char *s = json_string_value(json_object_get(e, "bytes"));
        char hex[17];
        hex64(shard_fnv1a(SHARD_FNV_OFFSET, s, strlen(s)), hex);
        cr_assert_str_eq(hex, json_string_value(json_object_get(e, "hash")), "\"%s\"", s);
        checked++;
    }
    json_array_foreach(json_object_get(v, "jump"), i, e) {
        uint64_t key = strtoull(json_string_value(json_object_get(e, "key")), NULL, 10);
        uint32_t n = (uint32_t)json_integer_value(json_object_get(e, "buckets"));
        cr_assert_eq(shard_jump(key, n), json_integer_value(json_object_get(e, "bucket")));
        checked++;
    }
    json_array_foreach(json_object_get(v, "shard"), i, e) {
        json_t *key = json_object_get(e, "key");
        ShardPart parts[8];
        size_t n = json_array_size(key);
        cr_assert(n > 0 && n <= 8);
        for (size_t k = 0; k < n; k++)
            parts[k] = (ShardPart){json_string_value(json_array_get(key, k)),
                                   json_string_length(json_array_get(key, k))};
        char hex[17];
        hex64(shard_key_hash(parts, n), hex);
        cr_assert_str_eq(hex, json_string_value(json_object_get(e, "hash")), "vector %zu", i);
        const char *ns;
        json_t *want;
        json_object_foreach(json_object_get(e, "shards"), ns, want) {
            cr_assert_eq(shard_for(parts, n, (uint32_t)atoi(ns)), json_integer_value(want), "vector %zu, %s", i, ns);
            checked++;
        }
    }
    cr_assert_geq(checked, 100);
    json_decref(v);
}

Test(shard, separator_and_order_matter)
{
    ShardPart ab[] = {{"ab", 2}}, a_b[] = {{"a", 1}, {"b", 1}}, b_a[] = {{"b", 1}, {"a", 1}};
    cr_assert_neq(shard_key_hash(ab, 1), shard_key_hash(a_b, 2));
    cr_assert_neq(shard_key_hash(a_b, 2), shard_key_hash(b_a, 2));
    /* one part is its bytes alone */
    cr_assert_eq(shard_key_hash(ab, 1), shard_fnv1a(SHARD_FNV_OFFSET, "ab", 2));
}

Test(shard, always_in_range_and_spread_evenly)
{
    enum { N = 4, KEYS = 40000 };
    unsigned count[N] = {0};
    for (int k = 0; k < KEYS; k++) {
        char s[16];
        int len = snprintf(s, sizeof s, "%d", k);
        uint32_t b = shard_for(&(ShardPart){s, (size_t)len}, 1, N);
        cr_assert_lt(b, N);
        count[b]++;
    }
    for (int b = 0; b < N; b++) /* within 5% of KEYS/N */
        cr_assert(count[b] > KEYS / N * 95 / 100 && count[b] < KEYS / N * 105 / 100, "shard %d: %u", b, count[b]);
}

Test(shard, growing_moves_only_keys_to_the_new_databases)
{
    /* 4 -> 6: a key either stays or moves to database 4 or 5 (what makes re-sharding cheap) */
    unsigned moved = 0;
    for (int k = 0; k < 10000; k++) {
        char s[16];
        int len = snprintf(s, sizeof s, "t%d", k);
        ShardPart p = {s, (size_t)len};
        uint32_t a = shard_for(&p, 1, 4), b = shard_for(&p, 1, 6);
        cr_assert(a == b || b >= 4, "key %s: %u -> %u", s, a, b);
        moved += a != b;
    }
    cr_assert(moved > 2800 && moved < 3900, "moved %u of 10000 (expected about a third)", moved);
    cr_assert_eq(shard_for(&(ShardPart){"x", 1}, 1, 1), 0);
}
