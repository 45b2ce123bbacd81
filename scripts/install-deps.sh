#!/usr/bin/env bash
# scripts/install-deps.sh [--npm] - install everything wal2edge needs to build, test and demo
# on Debian 12: the compiler toolchain, the C libraries, PostgreSQL 15 and the command-line
# tools the tests use. With --npm, also the pinned JavaScript packages (npm ci) that run the
# local Cloudflare edge (workerd). Uses sudo when not root. Safe to run again.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libpq-dev libcurl4-openssl-dev libsqlite3-dev libssl-dev libjansson-dev libzstd-dev libcriterion-dev
    libmicrohttpd-dev
    postgresql-15 postgresql-client-15
    sqlite3 zstd jq curl ca-certificates util-linux
    systemd docker.io mmdebstrap docker-compose
    prometheus chromium
    iptables iproute2   # standby_cut_test cuts a connection (needs root; skipped without)
    # the benchmarks only (bench/replication: GNU time for peak RSS, callgrind for instruction
    # counts); no test needs them
    time valgrind
)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
    sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    # Debian starts a "main" cluster on 5432 when postgresql is installed; the project uses
    # its own cluster (scripts/pg-local.sh) and does not need that one running.
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--npm" ] && [ -f "$repo/package-lock.json" ]; then
    (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: done"
