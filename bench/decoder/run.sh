#!/usr/bin/env bash
# bench/decoder/run.sh [--seconds S] [CAPTURE...] - build and run the decoder benchmark.
# Built with one compiler call at -O2 (no CMake, not part of the test build) into
# build/bench/. Without captures it uses every tests/fixtures/pgoutput/*.bin.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
"$CC" -std=c11 -O2 -DNDEBUG -D_POSIX_C_SOURCE=200809L -I"$ROOT/src" \
    "$ROOT/bench/decoder/bench.c" \
    "$ROOT"/src/pg/{pgoutput,lsn,relcache,decode_render}.c \
    "$ROOT"/src/core/{buf,err,mem,json_text}.c \
    -o "$OUT/decoder-bench"
ARGS=()
if [ "${1:-}" = "--seconds" ]; then ARGS=(--seconds "$2"); shift 2; fi
if [ $# -eq 0 ]; then set -- "$ROOT"/tests/fixtures/pgoutput/*.bin; fi
"$OUT/decoder-bench" "${ARGS[@]}" "$@"
