/*
 * pg/lsn.h - PostgreSQL log sequence numbers: the "X/X" text form and ordering.
 *
 * Owns:     Lsn (a plain uint64), strict parsing and formatting of "HI/LO" hex,
 *           the fixed-width "16 hex digits" form that sorts like the number
 *           (D1's read-your-writes position), and TargetCheckpoint (a transaction's commit and end LSN).
 * Not mine: where LSNs come from (pg/pgoutput, pg/walproto) or are persisted.
 * Pure:     yes; no allocation.
 * Trust:    lsn_parse accepts untrusted text (config, server replies) and is
 *           strict: 1-8 hex digits, '/', 1-8 hex digits, nothing else.
 */
#ifndef WAL2EDGE_PG_LSN_H
#define WAL2EDGE_PG_LSN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

typedef uint64_t Lsn;

#define LSN_INVALID ((Lsn)0)
/* "FFFFFFFF/FFFFFFFF" plus the NUL. */
#define LSN_STR_MAX 18

/* A transaction's place in the WAL: what a target's checkpoint records
 * (pipeline/target) and the state store keeps for it (state/store). Here, below
 * both, so the store does not depend on the target interface. */
typedef struct TargetCheckpoint {
    Lsn commit_lsn;            /* last durably applied transaction's commit LSN, 0 if none */
    Lsn end_lsn;               /* and its end LSN */
} TargetCheckpoint;

/* Parse "16/B374D848" (either hex case). No sign, spaces, "0x" or empty halves. */
bool lsn_parse(const char *s, Lsn *out, Err *err) WARN_UNUSED;

/* Format as Postgres does ("%X/%X", upper case); buf holds LSN_STR_MAX bytes. Returns buf. */
char *lsn_format(Lsn lsn, char *buf);

/* "0000001600B37480": 16 upper-case hex digits, so text order is LSN order (a
 * SQL comparison, or JavaScript's, needs no 64-bit arithmetic). buf holds
 * LSN_FIXED_MAX bytes. Returns buf. */
#define LSN_FIXED_MAX 17
char *lsn_format_fixed(Lsn lsn, char *buf);

/* -1, 0 or 1, like strcmp. */
static inline int lsn_cmp(Lsn a, Lsn b)
{
    return (a > b) - (a < b);
}

#endif
