/*
 * pipeline/gap.c - see gap.h.
 *
 * The position starts at the target's own checkpoint. The store's record is used
 * only when it describes that same checkpoint (or the target keeps none); then its
 * "complete through" position may move the target further, its slot incarnation is
 * taken, and a record whose through position is unknown makes the verdict
 * "unverified" rather than a guess. The order of the tests matters: no position at
 * all is a fresh target; a different incarnation is a gap even if the numbers look
 * fine; only then is the position compared with confirmed_flush_lsn. The way back
 * is chosen by the target name's prefix (d1., kv., queues., anything else a log).
 */
#include "pipeline/gap.h"

#include <string.h>

GapVerdict gap_judge(const GapInput *in, Lsn slot_confirmed, Lsn slot_incarnation)
{
    GapVerdict v = {.kind = GAP_NONE, .position = in->own.end_lsn, .incarnation = 0};
    bool own = in->own.commit_lsn != 0;
    if (!own && !in->recorded)
        return (GapVerdict){.kind = GAP_FRESH, .position = 0, .incarnation = 0};
    /* The store's row speaks for the target only while it describes the checkpoint the
     * target holds (or the target keeps none of its own). A target that moved on without
     * this state directory (migrate, warm, another state directory) or went back (restored)
     * is judged by its own checkpoint alone. */
    bool use_record = in->recorded && (!own || in->own.commit_lsn == in->rec_commit_lsn);
    if (use_record) {
        if (!in->rec_through_known)
            return (GapVerdict){.kind = GAP_UNVERIFIED, .position = in->own.end_lsn, .incarnation = 0};
        if (in->rec_through > v.position)
            v.position = in->rec_through;
        v.incarnation = in->rec_incarnation;
        if (!own && v.position == 0)
            return (GapVerdict){.kind = GAP_FRESH, .position = 0, .incarnation = v.incarnation};
    }
    if (v.incarnation && slot_incarnation && v.incarnation != slot_incarnation)
        v.kind = GAP_OTHER_INCARNATION;
    else if (v.position < slot_confirmed)
        v.kind = GAP_BEHIND;
    return v;
}

bool gap_is_gap(GapKind kind)
{
    return kind == GAP_BEHIND || kind == GAP_OTHER_INCARNATION;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * The commands that rebuild a target of this kind, then hand over to run. *then_accept:
 * the way ends with `wal2edge run --accept-gap TARGET` (nothing can rebuild it).
 */
static const char *way_back(const char *target, bool *then_accept)
{
    *then_accept = false;
    if (starts_with(target, "d1."))
        return "re-copy it with `wal2edge migrate` (it copies the mapped tables at a new point of the same slot "
               "and moves the checkpoint there), then `wal2edge run`";
    if (starts_with(target, "kv."))
        return "re-fill it with `wal2edge warm` (or `wal2edge warm --mapping NAME` for each mapping of this "
               "namespace; it moves the checkpoint to its snapshot), then `wal2edge run`";
    *then_accept = true;
    if (starts_with(target, "queues."))
        return "its consumers missed these changes: re-sync them from a consistent copy (`wal2edge snapshot`, "
               "whose manifest names its LSN; the consumer Worker's D1 with `wal2edge migrate`), then accept the "
               "gap for the queue with ";
    return "the change log misses these transactions; keep the file apart if it matters, then accept the gap with ";
}

bool gap_describe(const char *target, const GapVerdict *v, const char *slot, Lsn slot_confirmed, Buf *out,
                  Err *err)
{
    char pos[LSN_STR_MAX], conf[LSN_STR_MAX], inc[LSN_STR_MAX];
    lsn_format(v->position, pos);
    lsn_format(slot_confirmed, conf);
    lsn_format(v->incarnation, inc);
    bool ok;
    if (v->kind == GAP_OTHER_INCARNATION)
        ok = buf_printf(out, err,
                        "%s: its checkpoint %s belongs to an earlier replication slot \"%s\" (created at %s), which "
                        "was dropped and created again; the changes committed in between are in neither slot.",
                        target, pos, slot, inc);
    else
        ok = buf_printf(out, err,
                        "%s: it is complete through %s, but slot \"%s\" has already confirmed %s (the slot was "
                        "created again, advanced, or used by another state directory); the changes committed in "
                        "between can no longer be streamed.",
                        target, pos, slot, conf);
    bool then_accept;
    const char *how = way_back(target, &then_accept);
    if (then_accept)
        return ok && buf_printf(out, err, " Way back: %s`wal2edge run --accept-gap %s`.", how, target);
    return ok && buf_printf(out, err, " Way back: %s.", how);
}
