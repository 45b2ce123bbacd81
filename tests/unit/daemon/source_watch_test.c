/* Unit tests for daemon/source_watch's decision: when run goes on, what it records, and the way back. */
#include <criterion/criterion.h>
#include <string.h>

#include "daemon/source_watch.h"

static const SourceWatchTable both = {"public.items", true, true};
static const SourceWatchTable events = {"public.items", false, false};

static SourceWatchSeen seen[SOURCE_WATCH_FILLERS];
static SourceWatchVerdict v;
static Err err;

static void reset(void) { memset(seen, 0, sizeof seen); }

static bool judge(const SourceWatchTable *t, bool exists, uint32_t oid, bool in_pub, bool pub_exists)
{
    CatTableId id = {exists, oid, in_pub};
    return source_watch_judge(t, "pub", &id, pub_exists, seen, &v, &err);
}

Test(source_watch, first_sight_records_every_filler_the_table_uses)
{
    reset();
    cr_assert(judge(&both, true, 100, true, true));
    cr_assert(v.record[SOURCE_WATCH_D1] && v.record[SOURCE_WATCH_KV] && !v.record[SOURCE_WATCH_STREAM]);
    cr_assert(judge(&events, true, 100, true, true));
    cr_assert(!v.record[SOURCE_WATCH_D1] && !v.record[SOURCE_WATCH_KV] && v.record[SOURCE_WATCH_STREAM]);
    cr_assert_not(v.recreated_stream);
}

Test(source_watch, same_oid_goes_on_without_recording)
{
    reset();
    seen[SOURCE_WATCH_D1] = (SourceWatchSeen){true, 100};
    seen[SOURCE_WATCH_KV] = (SourceWatchSeen){true, 100};
    cr_assert(judge(&both, true, 100, true, true));
    cr_assert(!v.record[SOURCE_WATCH_D1] && !v.record[SOURCE_WATCH_KV]);
}

Test(source_watch, recreated_and_unpublished_stops_with_both_oids_and_the_way_back)
{
    reset();
    seen[SOURCE_WATCH_D1] = (SourceWatchSeen){true, 100};
    seen[SOURCE_WATCH_KV] = (SourceWatchSeen){true, 100};
    cr_assert_not(judge(&both, true, 200, false, true));
    cr_assert_eq(err.code, ERR_CHECK);
    cr_assert_str_eq(err.msg, "table public.items was dropped and created again (OID 100, now 200) and is missing "
                              "from the publication: its targets hold the old table's rows; the way back: ALTER "
                              "PUBLICATION \"pub\" ADD TABLE public.items; wal2edge migrate (its D1 table); wal2edge "
                              "warm --mapping public.items (its KV keys); then wal2edge run");
}

Test(source_watch, the_way_back_names_only_what_still_holds_the_old_rows)
{
    reset();
    seen[SOURCE_WATCH_D1] = (SourceWatchSeen){true, 200}; /* migrate done */
    seen[SOURCE_WATCH_KV] = (SourceWatchSeen){true, 100};
    cr_assert_not(judge(&both, true, 200, true, true));
    cr_assert(strstr(err.msg, "(OID 100, now 200): its targets"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "migrate"), "%s", err.msg);
    cr_assert(strstr(err.msg, "; the way back: wal2edge warm --mapping public.items (its KV keys); then wal2edge run"),
              "%s", err.msg);
    seen[SOURCE_WATCH_KV] = (SourceWatchSeen){true, 200}; /* warm done too */
    cr_assert(judge(&both, true, 200, true, true));
}

Test(source_watch, missing_from_the_publication_recopies_everything)
{
    reset();
    seen[SOURCE_WATCH_D1] = (SourceWatchSeen){true, 100};
    seen[SOURCE_WATCH_KV] = (SourceWatchSeen){true, 100};
    cr_assert_not(judge(&both, true, 100, false, true));
    cr_assert_str_eq(err.msg, "table public.items is missing from publication \"pub\": its changes are not streamed; "
                              "the way back: ALTER PUBLICATION \"pub\" ADD TABLE public.items; wal2edge migrate (its "
                              "D1 table); wal2edge warm --mapping public.items (its KV keys); then wal2edge run");
    /* no publication at all: run creates it, nothing to say here */
    cr_assert(judge(&both, true, 100, false, false));
}

Test(source_watch, dropped)
{
    reset();
    cr_assert(judge(&both, false, 0, false, true), "never seen: not ours to report");
    seen[SOURCE_WATCH_D1] = (SourceWatchSeen){true, 100};
    cr_assert_not(judge(&both, false, 0, false, true));
    cr_assert(strstr(err.msg, "table public.items was dropped (it was OID 100): its targets keep its last rows"), "%s",
              err.msg);
    cr_assert(strstr(err.msg, "(or remove its mapping)"), "%s", err.msg);
}

Test(source_watch, events_only_table_recreated_goes_on_and_records_the_new_oid)
{
    reset();
    seen[SOURCE_WATCH_STREAM] = (SourceWatchSeen){true, 100};
    cr_assert(judge(&events, true, 200, true, true));
    cr_assert(v.record[SOURCE_WATCH_STREAM] && v.recreated_stream);
    cr_assert_not(judge(&events, true, 200, false, true), "but not in the publication: stop");
    cr_assert(strstr(err.msg, "ADD TABLE public.items; then wal2edge run"), "%s", err.msg);
}
