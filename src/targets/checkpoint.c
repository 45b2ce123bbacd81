/*
 * targets/checkpoint.c - see checkpoint.h. A checkpoint is parsed into a copy
 * and assigned only when both halves are valid, so a corrupt row never leaves
 * a target with half a checkpoint.
 */
#include "targets/checkpoint.h"

#include <string.h>

bool checkpoint_parse(const char *commit_lsn, const char *end_lsn, TargetCheckpoint *out)
{
    TargetCheckpoint cp;
    Err sub;
    if (!commit_lsn || !end_lsn || !lsn_parse(commit_lsn, &cp.commit_lsn, &sub) || !lsn_parse(end_lsn, &cp.end_lsn, &sub))
        return false;
    *out = cp;
    return true;
}

bool checkpoint_read_sqlite(Sqlite *db, const char *query, const char *slot, const char *what,
                            TargetCheckpoint *out, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, query, err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, slot, strlen(slot), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1 && !checkpoint_parse(sqlite_column_text(st, 0, NULL), sqlite_column_text(st, 1, NULL), out))
        ok = err_set(err, ERR_STORE, "%s: the %s of slot \"%s\" is corrupt", sqlite_path(db), what, slot);
    else if (rc < 0)
        ok = false;
    sqlite_finalize(st);
    return ok;
}
