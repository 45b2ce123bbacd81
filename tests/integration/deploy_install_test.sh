#!/usr/bin/env bash
# `cmake --install` (cmake/Install.cmake): the binary, the systemd unit, the user docs and the
# examples land where GNUInstallDirs says; the installed binary names its version and commit;
# the unit passes `systemd-analyze verify` and its offline security audit, keeps the sandbox
# the issue asks for, and points at the installed binary; the example config loads.
source "$(dirname "$0")/lib.sh"

build=$(dirname "$WAL2EDGE_BIN")
[ -f "$build/CMakeCache.txt" ] || { echo "$TEST_NAME: $build is not a CMake build tree" >&2; exit 1; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
root="$WORK/root"
DESTDIR="$root" cmake --install "$build" >"$WORK/install.out" 2>&1 || { cat "$WORK/install.out" >&2; exit 1; }

inst="$root$prefix"
unit="$inst/lib/systemd/system/wal2edge.service"
doc="$inst/share/doc/wal2edge"
for f in bin/wal2edge lib/systemd/system/wal2edge.service share/doc/wal2edge/README.md \
    share/doc/wal2edge/deploy.md share/doc/wal2edge/config.md share/doc/wal2edge/examples/wal2edge.jsonc \
    share/doc/wal2edge/examples/wal2edge.env share/doc/wal2edge/examples/mappings/users.jsonc; do
    [ -f "$inst/$f" ] && pass "installed $f" || fail "missing $prefix/$f"
done
[ -x "$inst/bin/wal2edge" ] && pass "the binary is executable" || fail "bin/wal2edge is not executable"
[ ! -e "$doc/internals" ] && pass "docs/internals is not installed" || fail "docs/internals was installed"
[ ! -e "$root/etc/wal2edge" ] && [ ! -e "$inst/etc/wal2edge" ] && pass "no config written into etc" ||
    fail "cmake --install wrote a config into etc (a reinstall would overwrite the user's)"

"$inst/bin/wal2edge" version >"$WORK/version.out"
"$WAL2EDGE_BIN" version | cmp -s - "$WORK/version.out" && grep -q '(commit [0-9a-f]\{12\}' "$WORK/version.out" &&
    pass "installed binary: $(cat "$WORK/version.out")" || fail "installed version: $(cat "$WORK/version.out")"

# the unit: the directives the deployment relies on
for d in 'ExecStart='"$prefix"'/bin/wal2edge --config [^ ]*/wal2edge/wal2edge.jsonc run' \
    'ProtectSystem=strict' 'StateDirectory=wal2edge' 'NoNewPrivileges=yes' 'User=wal2edge' 'DynamicUser=yes' \
    'EnvironmentFile=[^ ]*/wal2edge/wal2edge.env' 'Restart=on-failure' 'KillSignal=SIGTERM'; do
    grep -Eq "^$d\$" "$unit" && pass "unit: $d" || fail "unit lacks $d"
done
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
[ -n "$stop" ] && [ "$stop" -gt 60 ] && pass "TimeoutStopSec=${stop}s is above the 60 s HTTP request timeout" ||
    fail "TimeoutStopSec '$stop' must exceed the 60 s a request in flight may take"
grep -q '^Type=exec$' "$unit" && pass "Type=exec (no libsystemd)" || fail "unit Type is not exec"

# systemd-analyze checks that ExecStart's binary exists, so point it at the DESTDIR copy
sed "s#$prefix/bin/wal2edge#$inst/bin/wal2edge#g" "$unit" >"$WORK/wal2edge.service"
if systemd-analyze verify --man=no "$WORK/wal2edge.service" >"$WORK/verify.out" 2>&1 && [ ! -s "$WORK/verify.out" ]; then
    pass "systemd-analyze verify: clean"
else
    fail "systemd-analyze verify: $(cat "$WORK/verify.out")"
fi
# exposure 0.0 (locked down) .. 10.0 (unprotected); the unit scores 1.5
if systemd-analyze security --offline=yes --threshold=20 "$WORK/wal2edge.service" >"$WORK/security.out" 2>&1; then
    pass "systemd-analyze security: $(grep -o 'exposure level[^:]*: [0-9.]*' "$WORK/security.out")"
else
    fail "systemd-analyze security above 2.0: $(tail -n 1 "$WORK/security.out")"
fi

# the example config loads with an env file's variables (ids empty: embedded targets)
mkdir -p "$WORK/etc/mappings"
cp "$doc/examples/wal2edge.jsonc" "$WORK/etc/"
cp "$doc/examples/mappings/"*.jsonc "$WORK/etc/mappings/"
WAL2EDGE_BIN="$inst/bin/wal2edge"   # run_w2e runs the installed binary from here on
STATE_DIRECTORY="$WORK/state" CLOUDFLARE_ACCOUNT_ID=0123456789abcdef0123456789abcdef \
    CLOUDFLARE_API_TOKEN=canary-token-never-printed run_w2e config --config "$WORK/etc/wal2edge.jsonc" config
expect_rc config 0
expect_contains "$WORK/config.out" "$WORK/state" "state_dir comes from STATE_DIRECTORY"
expect_not_contains "$WORK/config.out" "canary-token-never-printed" "the token is redacted"
unset STATE_DIRECTORY
CLOUDFLARE_ACCOUNT_ID=x CLOUDFLARE_API_TOKEN=y run_w2e config_nostate --config "$WORK/etc/wal2edge.jsonc" config
expect_contains "$WORK/config_nostate.out" '/var/lib/wal2edge' "state_dir defaults to the image's volume"

finish
