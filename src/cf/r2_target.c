/*
 * cf/r2_target.c - see r2_target.h: checks the credentials first so the
 * message names the target and the variables to set, then hands the
 * endpoint (config_r2_endpoint: the target's own, or the account's) and the
 * bucket to r2_client_new.
 */
#include "cf/r2_target.h"

#include <stdlib.h>

#include "core/secret.h"

R2Client *r2_client_for_target(const Config *cfg, const ConfigTarget *t, const R2Options *opts, Err *err)
{
    if (!t->access_key_id || !t->secret_access_key || secret_is_empty(t->secret_access_key)) {
        err_set(err, ERR_CONFIG,
                "r2.%s: no credentials (set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or the target's "
                "access_key_id / secret_access_key)",
                t->name);
        return NULL;
    }
    char *endpoint = config_r2_endpoint(cfg, t);
    R2Client *c = r2_client_new(endpoint, t->remote_id, t->access_key_id, t->secret_access_key, opts, err);
    free(endpoint);
    if (!c)
        err_prefix(err, "r2.%s", t->name);
    return c;
}
