#!/bin/sh
# The image's HEALTHCHECK: GET /healthz on run's metrics endpoint (METRICS_LISTEN's port, on
# loopback); when nothing listens there (curl exit 7: metrics off, or a command other than run),
# `wal2edge status`. Docker wants 0 (healthy) or 1 (unhealthy).
port=${METRICS_LISTEN##*:}
if [ -n "$port" ]; then
    curl -fsS -o /dev/null --max-time 10 "http://127.0.0.1:$port/healthz"
    rc=$?
    [ "$rc" = 0 ] && exit 0
    [ "$rc" != 7 ] && exit 1
fi
wal2edge status >/dev/null 2>&1 || exit 1
