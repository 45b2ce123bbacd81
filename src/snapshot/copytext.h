/*
 * snapshot/copytext.h - one row of COPY ... TO STDOUT in text format split
 *                       into its column values.
 *
 * Owns:     the text format's row syntax: columns separated by a tab, the row
 *           ended by a newline, NULL written as \N, and the backslash escapes
 *           of the values (\b \f \n \r \t \v, \\, octal \ooo, hex \xhh, any
 *           other escaped character as itself); values are unescaped in place,
 *           so a row costs no allocation.
 * Not mine: reading the rows (pg/snapshot), what the values mean (pipeline/rowjson).
 * Pure:     yes.
 * Trust:    rows come from the server; a malformed one (wrong column count,
 *           a dangling backslash) is ERR_PROTOCOL, never read past its end.
 */
#ifndef WAL2EDGE_SNAPSHOT_COPYTEXT_H
#define WAL2EDGE_SNAPSHOT_COPYTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pg/pgoutput.h"

/*
 * Split row[0..len) (its newline optional) into exactly ncols values in cols:
 * PGO_COL_NULL for \N, else PGO_COL_TEXT pointing into row, which is
 * unescaped in place (values stay valid as long as row does).
 */
bool copytext_split(char *row, size_t len, PgoCol *cols, size_t ncols, Err *err) WARN_UNUSED;

#endif
