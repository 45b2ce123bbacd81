#!/usr/bin/env bash
# scripts/demo.sh - the main job, end to end, on the embedded/local defaults:
# install dependencies, build, start the local Postgres, load the demo shop schema
# (sql/demo.sql) and run wal2edge against it with wal2edge.jsonc (targets under .wal2edge/).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
scripts/pg-local.sh start
eval "$(scripts/pg-local.sh env)"
psql -X -q -v ON_ERROR_STOP=1 -f sql/demo.sql

bin=build/release/wal2edge
echo
echo "== wal2edge doctor"
"$bin" --config wal2edge.jsonc doctor
echo
echo "demo: done. The local Postgres keeps running: eval \"\$(scripts/pg-local.sh env)\"; $bin doctor"
