/*
 * daemon/groupckpt.h - the checkpoints a standby group (run --standby) shares
 *                      through Postgres, for the targets that keep theirs on
 *                      the machine (queues, KV).
 *
 * Owns:     the rule: the active records every target's durable checkpoint
 *           before it confirms a position to the server (so the slot never
 *           passes what the group knows); at takeover, before the gap check,
 *           a queue or KV target whose own checkpoint is older than the
 *           group's moves to it (a fence and a flush: its checkpoint on this
 *           machine, nothing sent to Cloudflare). D1's checkpoint lives in D1
 *           and is never moved here. The connection: opened when first needed,
 *           dropped on an error and opened again next time.
 * Not mine: the table (pg/sharedckpt); the targets' checkpoints themselves.
 */
#ifndef WAL2EDGE_DAEMON_GROUPCKPT_H
#define WAL2EDGE_DAEMON_GROUPCKPT_H

#include <stdbool.h>

#include "config/config.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/fanout.h"

typedef struct GroupCkpt GroupCkpt;

GroupCkpt *groupckpt_new(const Config *cfg, const LogCtx *log);
void groupckpt_free(GroupCkpt *g);

/* Takeover: move each queue and KV target that is behind the group's checkpoint up to it. */
bool groupckpt_adopt(GroupCkpt *g, Fanout *f, Err *err) WARN_UNUSED;
/* Record each target's durable checkpoint that moved since the last call (ERR_PG, retryable:
 * the caller confirms nothing to the server then). */
bool groupckpt_save(GroupCkpt *g, const Fanout *f, Err *err) WARN_UNUSED;

#endif
