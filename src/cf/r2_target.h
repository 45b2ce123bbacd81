/*
 * cf/r2_target.h - an R2 client for an "r2" target of the config.
 *
 * Owns:     the one set-up of an R2Client from a config target (its endpoint,
 *           bucket and credentials), with the message a missing credential
 *           gets - for snapshots (reader and sink), the queue's claim checks
 *           and doctor.
 * Not mine: the client itself (cf/r2), the endpoint rule (config_r2_endpoint).
 * Pure:     yes (no request is made).
 * Secrets:  the secret stays borrowed from the config target.
 */
#ifndef WAL2EDGE_CF_R2_TARGET_H
#define WAL2EDGE_CF_R2_TARGET_H

#include "cf/r2.h"
#include "config/config.h"
#include "core/err.h"

/*
 * Owned client for remote r2 target t (opts NULL: the defaults). ERR_CONFIG
 * "r2.NAME: no credentials (set ...)" when the access key id or secret is
 * missing; other errors are cf/r2's, prefixed "r2.NAME". cfg and t must
 * outlive the client.
 */
R2Client *r2_client_for_target(const Config *cfg, const ConfigTarget *t, const R2Options *opts,
                               Err *err) WARN_UNUSED;

#endif
