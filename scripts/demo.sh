#!/usr/bin/env bash
# scripts/demo.sh - the main job, end to end, on the embedded/local defaults:
# install dependencies, build, start the local Postgres, load the demo shop (sql/demo.sql),
# create the replication slot, make some changes (sql/demo-activity.sql) and run wal2edge
# with wal2edge.jsonc until it has caught up. The mapped tables land in the embedded D1 file
# .wal2edge/d1/app.sqlite, cache keys in .wal2edge/kv/cache.sqlite, change events in
# .wal2edge/queues/changes.ndjson and every transaction in .wal2edge/changes.ndjson.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
scripts/pg-local.sh start
eval "$(scripts/pg-local.sh env)"
bin=build/release/wal2edge

echo "== load the demo shop (sql/demo.sql)"
"$bin" slot drop --force >/dev/null 2>&1 || true   # start over: a fresh slot for a fresh schema (its old state goes too)
rm -rf .wal2edge
psql -X -q -v ON_ERROR_STOP=1 -f sql/demo.sql

echo "== wal2edge doctor"
"$bin" doctor
echo "== wal2edge plan"
"$bin" plan
echo "== wal2edge slot create"
"$bin" slot create
echo "== changes on the source (sql/demo-activity.sql)"
psql -X -q -v ON_ERROR_STOP=1 -f sql/demo-activity.sql
echo "== wal2edge run --exit-when-caught-up"
"$bin" --log-format text run --exit-when-caught-up
echo "== wal2edge status"
"$bin" status

echo
echo "== the embedded D1 file (.wal2edge/d1/app.sqlite)"
sqlite3 -header -column .wal2edge/d1/app.sqlite \
    "SELECT id, email, name FROM users ORDER BY id; SELECT sku, price, tags FROM products ORDER BY sku;
     SELECT id, status, total FROM orders ORDER BY id; SELECT slot, commit_lsn FROM _wal2edge_state;"
echo
echo "== the embedded KV namespace (.wal2edge/kv/cache.sqlite)"
sqlite3 .wal2edge/kv/cache.sqlite "SELECT key, substr(value, 1, 70) FROM kv ORDER BY key;"
echo
echo "== change events on the embedded queue (.wal2edge/queues/changes.ndjson), the last two"
tail -n 2 .wal2edge/queues/changes.ndjson | cut -c 1-240
echo
echo "demo: done. Every transaction is in .wal2edge/changes.ndjson; the local Postgres keeps running:"
echo "  eval \"\$(scripts/pg-local.sh env)\"; $bin run      # stream until Ctrl-C"
