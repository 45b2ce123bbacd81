#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pgoutput.h"
#include "pg/relcache.h"
#include "test_util.h"

/* F2 and F9 from the reference: public.users as DEFAULT, then as FULL. */
#define F2 "52000060327075626c6963007573657273006400030169640000000017ffffffff006e616d650000000413000000360062696f0000000019ffffffff"
#define F9 "52000060327075626c6963007573657273006600030169640000000017ffffffff016e616d650000000413000000360162696f0000000019ffffffff"

static void decode_hex(PgoDecoder *d, const char *hex, PgoEvent *ev, uint8_t **keep)
{
    size_t n;
    Err err = {0};
    *keep = hex_bytes(hex, &n);
    cr_assert(pgo_decode_exact(d, *keep, n, ev, &err), "%s", err.msg);
}

Test(relcache, put_get_replace_clear)
{
    PgoDecoder d;
    PgoEvent ev;
    uint8_t *b1, *b2;
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    RelCache *rc = relcache_new();
    cr_assert_null(relcache_get(rc, 24626));

    decode_hex(&d, F2, &ev, &b1);
    const Rel *r = relcache_put(rc, &ev);
    free(b1); /* the cache owns copies */
    r = relcache_get(rc, 24626);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->qualname, "public.users");
    cr_assert_eq(r->replident, PGO_RI_DEFAULT);
    cr_assert_eq(r->ncols, 3);
    cr_assert_str_eq(r->cols[1].name, "name");
    cr_assert_eq(r->cols[1].type_oid, 1043);
    cr_assert_eq(r->cols[1].typmod, 54);
    cr_assert(r->cols[0].key);
    cr_assert_not(r->cols[1].key);
    cr_assert_eq(r->cols[2].typmod, -1);

    decode_hex(&d, F9, &ev, &b2);
    relcache_put(rc, &ev);
    free(b2);
    r = relcache_get(rc, 24626);
    cr_assert_eq(r->replident, PGO_RI_FULL);
    cr_assert(r->cols[1].key && r->cols[2].key);
    cr_assert_eq(relcache_count(rc), 1);

    relcache_clear(rc);
    cr_assert_null(relcache_get(rc, 24626));
    cr_assert_eq(relcache_count(rc), 0);
    relcache_free(rc);
    pgo_decoder_free(&d);
}

Test(relcache, many_relations_grow)
{
    PgoEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.type = PGO_RELATION;
    ev.u.relation.nspname = (PgoStr){"s", 1};
    ev.u.relation.relname = (PgoStr){"t", 1};
    ev.u.relation.replident = PGO_RI_DEFAULT;
    RelCache *rc = relcache_new();
    for (uint32_t oid = 1; oid <= 5000; oid++) {
        ev.u.relation.oid = oid * 7;
        relcache_put(rc, &ev);
    }
    cr_assert_eq(relcache_count(rc), 5000);
    for (uint32_t oid = 1; oid <= 5000; oid++)
        cr_assert_not_null(relcache_get(rc, oid * 7));
    cr_assert_null(relcache_get(rc, 3));
    relcache_free(rc);
    relcache_free(NULL);
}

Test(relcache, type_names)
{
    RelCache *rc = relcache_new();
    cr_assert_str_eq(relcache_type_name(rc, 23), "int4");
    cr_assert_str_eq(relcache_type_name(rc, 1043), "varchar");
    cr_assert_str_eq(relcache_type_name(rc, 1184), "timestamptz");
    cr_assert_str_eq(relcache_type_name(rc, 3802), "jsonb");
    cr_assert_str_eq(relcache_type_name(rc, 2950), "uuid");
    cr_assert_str_eq(relcache_type_name(rc, 1009), "_text");
    cr_assert_null(relcache_type_name(rc, 16399));
    cr_assert_null(relcache_builtin_type_name(0));
    cr_assert_null(relcache_builtin_type_name(99999));

    PgoDecoder d;
    PgoEvent ev;
    uint8_t *b1, *b2;
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    decode_hex(&d, "590000400f7075626c6963006d6f6f6400", &ev, &b1); /* F17 enum public.mood */
    relcache_put_type(rc, &ev);
    decode_hex(&d, "590000401600696e743400", &ev, &b2);             /* F16 domain as "".int4 */
    relcache_put_type(rc, &ev);
    free(b1);
    free(b2);
    cr_assert_str_eq(relcache_type_name(rc, 16399), "public.mood");
    cr_assert_str_eq(relcache_type_name(rc, 16406), "int4");
    relcache_clear(rc);
    cr_assert_null(relcache_type_name(rc, 16399));
    relcache_free(rc);
    pgo_decoder_free(&d);
}
