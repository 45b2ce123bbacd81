/*
 * pg/slotcmd.h - how wal2edge asks for a logical slot, by server release.
 *
 * Owns:     the PGSLOT_* creation flags, the CREATE_REPLICATION_SLOT command
 *           text for a server release (legacy keywords before 15, the option
 *           list from 15, FAILOVER from 17), and the rule that turns
 *           source.failover_slot into a decision for one server (failover and
 *           two-phase together, and which release refuses which).
 * Not mine: sending the command (pg/stream); quoting the slot name (the
 *           caller passes it quoted); reading the config (config/config).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_PG_SLOTCMD_H
#define WAL2EDGE_PG_SLOTCMD_H

#include <stdbool.h>

#include "core/err.h"

/* How to create a slot (flags for pgstream_create_slot). */
enum {
    PGSLOT_TWO_PHASE = 1 << 0,        /* decode PREPARE (PG15+) */
    PGSLOT_EXPORT_SNAPSHOT = 1 << 1,  /* keep the slot's snapshot until the next command here */
    PGSLOT_TEMPORARY = 1 << 2,        /* dropped by the server when this session ends, even on a crash */
    PGSLOT_FAILOVER = 1 << 3,         /* synchronized to physical standbys (PG17+); never with TEMPORARY */
};

/* The first release whose slots decode PREPARE TRANSACTION. */
#define SLOTCMD_TWO_PHASE_MIN_VERSION 150000
/* The first release with failover slots, and the first that keeps a failover slot two-phase. */
#define SLOTCMD_FAILOVER_MIN_VERSION 170000
#define SLOTCMD_FAILOVER_TWO_PHASE_MIN_VERSION 180000

/* source.failover_slot: absent (the server decides), false, true. */
typedef enum { SLOT_FAILOVER_AUTO = -1, SLOT_FAILOVER_OFF = 0, SLOT_FAILOVER_ON = 1 } SlotFailover;

/*
 * The command for server_version (PQserverVersion: 150004, 170002) creating
 * quoted_slot (an identifier already quoted) with PGSLOT_* flags. Flags the
 * release cannot express are left out (TWO_PHASE before 15, FAILOVER before
 * 17). Owned result.
 */
char *slotcmd_create(int server_version, const char *quoted_slot, unsigned flags);

/*
 * Decide the main slot's PGSLOT_TWO_PHASE / PGSLOT_FAILOVER flags for
 * server_version under setting. AUTO: failover where the server has it (17+).
 * ON on a server before 17 is ERR_CONFIG naming the release. On 17 a failover
 * slot cannot be two-phase (17 refuses the pair: the standby's copy would not
 * know where two-phase decoding began), so failover wins there and PREPAREd
 * transactions arrive at COMMIT PREPARED; 18 keeps both.
 */
bool slotcmd_main_flags(int server_version, SlotFailover setting, unsigned *flags, Err *err) WARN_UNUSED;

/* "yes", "no", or "n/a" before 17 (the server has no failover slots) - for doctor and status. */
const char *slotcmd_failover_label(int server_version, bool failover);

#endif
