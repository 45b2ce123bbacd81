#!/usr/bin/env bash
# scripts/test.sh - the whole test suite, from nothing: install dependencies, check terraform/,
# build, run the unit tests, start the local Postgres (and the local edge), run the integration
# tests (among them the Docker image's), build without a preset, then the ASan+UBSan build's
# tests, the edge emulator's tests and a short fuzz run.
# This is exactly what CI runs (.ci/run).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
jobs=$(nproc)
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "dependencies"
scripts/install-deps.sh --npm

step "static checks"
scripts/check-source.sh

step "alert rules: promtool check and unit tests (monitoring/)"
promtool check rules monitoring/alerts.yml
promtool test rules monitoring/alerts_test.yml

step "terraform/: fmt and the provider schema check (offline)"
# the registry is out of reach, so no `terraform init`/`validate`: the schema check stands in
if command -v terraform >/dev/null 2>&1; then
    TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff terraform
else
    echo "terraform is not installed: skipping terraform fmt -check (the schema check still runs)"
fi
node scripts/check-terraform.mjs terraform
npm run --silent test:terraform

step "build (gcc, Debug, -Werror)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"

step "local services: Postgres 15 and the Cloudflare edge emulator (workerd)"
scripts/pg-local.sh start
scripts/edge-local.sh start
eval "$(scripts/edge-local.sh env)"   # the client's *_edge_test unit tests talk to it
trap 'scripts/edge-local.sh stop >/dev/null 2>&1 || true' EXIT

step "unit tests"
ctest --preset dev -L unit -j "$jobs"

step "integration tests"
ctest --preset dev -L integration

step "build (clang, ASan+UBSan)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"

step "build without a preset (cmake -S . -B build/plain, Release, no -Werror: what users run)"
cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=Release -DWAL2EDGE_TESTS=OFF >/dev/null
cmake --build build/plain -j "$jobs"

step "build (gcc, Release: what scripts/demo.sh runs)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

step "unit + integration tests under ASan+UBSan"
# every unit test; the integration tests except the long fault/crash/warm loops, which the
# Debug build above has already run (they would double the run time under the sanitizers)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -L 'unit|integration' -E 'crash|faults|warm|e2e'

step "edge emulator and Worker tests (workerd)"
npm run --silent test:edge
npm run --silent test:workers
npm run --silent test:shop      # the shop Worker on the whole loop: Postgres, wal2edge run, the edge

if [ -x tests/fuzz/run-smoke.sh ] || [ -f tests/fuzz/run-smoke.sh ]; then
    step "fuzz smoke run"
    bash tests/fuzz/run-smoke.sh "${FUZZ_SECONDS:-30}"
fi

step "all tests passed"
