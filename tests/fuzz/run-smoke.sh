#!/usr/bin/env bash
# tests/fuzz/run-smoke.sh SECONDS - build the `fuzz` preset and run every libFuzzer
# target for SECONDS each (CI uses ~30), starting from its seed corpus.
# New inputs go to a scratch directory, so the committed corpus stays as it is.
# Exits non-zero on the first crash, leak, sanitizer report or timeout; the crashing
# input is kept in build/fuzz/artifacts/ as crash-*/leak-*/timeout-* (libFuzzer's naming);
# reproduce with: build/fuzz/tests/fuzz/<target> build/fuzz/artifacts/<file>
set -euo pipefail
SECONDS_EACH=${1:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)" >/dev/null
ARTIFACTS=$ROOT/build/fuzz/artifacts
mkdir -p "$ARTIFACTS"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
status=0
for src in tests/fuzz/*_fuzz.c; do
    name=$(basename "$src" .c)
    bin=$(find build/fuzz -type f -name "$name" -perm -u+x | head -n1)
    corpus=tests/fuzz/corpus/${name%_fuzz}
    mkdir -p "$SCRATCH/$name"
    echo "== $name for ${SECONDS_EACH}s"
    if ! "$bin" -max_total_time="$SECONDS_EACH" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$SCRATCH/$name" "$corpus" 2>"$SCRATCH/$name.log"; then
        tail -n 60 "$SCRATCH/$name.log"
        status=1
        break
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$SCRATCH/$name.log" || true
done
exit $status
