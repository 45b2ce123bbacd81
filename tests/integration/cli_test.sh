#!/usr/bin/env bash
# The command-line contract of PRODUCT.md ("The interface"): commands, help, version, exit codes.
source "$(dirname "$0")/lib.sh"

run_w2e help help
expect_rc help 0
for cmd in run plan migrate snapshot warm status doctor slot decode version help; do
    expect_contains "$WORK/help.out" "  $cmd" "help lists $cmd"
done
expect_contains "$WORK/help.out" "--config FILE"

run_w2e version version
expect_rc version 0
# the commit is the source tree's HEAD (built at every build, so never a stale one)
head=$(git -C "${WAL2EDGE_SOURCE_DIR:-$(dirname "$0")/../..}" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
grep -Eq "^wal2edge [0-9]+\.[0-9]+\.[0-9]+ \(commit $head(-dirty)?\)\$" "$WORK/version.out" &&
    pass "version prints 'wal2edge X.Y.Z (commit $head)'" || fail "version output: $(cat "$WORK/version.out")"
run_w2e version_flag --version
cmp -s "$WORK/version.out" "$WORK/version_flag.out" && pass "--version prints the same" ||
    fail "--version output: $(cat "$WORK/version_flag.out")"

run_w2e nocmd
expect_rc nocmd 2
run_w2e unknown frobnicate
expect_rc unknown 2
expect_contains "$WORK/unknown.err" 'unknown command "frobnicate"'
run_w2e badopt --api-token=xyz doctor
expect_rc badopt 2
expect_contains "$WORK/badopt.err" 'unknown option "--api-token=xyz"' "secrets are not accepted as options"

write_config "$WORK/w.jsonc"
for cmd in run plan migrate snapshot warm status doctor slot decode; do
    run_w2e "usage_$cmd" --config "$WORK/w.jsonc" "$cmd" --no-such-option
    expect_rc "usage_$cmd" 2
done

# config errors exit 2 with file:line:col
(cd "$WORK" && "$WAL2EDGE_BIN" doctor >"$WORK/nofile.out" 2>"$WORK/nofile.err"; echo $? >"$WORK/nofile.rc") || true
expect_rc nofile 2
expect_contains "$WORK/nofile.err" 'config file "wal2edge.jsonc" not found'

printf '{\n  "source": {"dsn": "x"},\n  "d1": {"app": {"databse_id": "x"}}\n}\n' >"$WORK/typo.jsonc"
run_w2e typo --config "$WORK/typo.jsonc" doctor
expect_rc typo 2
expect_contains "$WORK/typo.err" "typo.jsonc:3:18: d1.app: unknown key \"databse_id\""

printf '{"source": {"dsn": "${W2E_NOT_SET_VAR}"}}' >"$WORK/unset.jsonc"
run_w2e unset --config "$WORK/unset.jsonc" config
expect_rc unset 2
expect_contains "$WORK/unset.err" 'source.dsn: environment variable "W2E_NOT_SET_VAR" is not set'

run_w2e config_ok --config "$WORK/w.jsonc" config
expect_rc config_ok 0
jq -e '.source.slot == "wal2edge_test" and (.source.dsn | contains("[redacted]"))' "$WORK/config_ok.out" >/dev/null &&
    pass "config prints resolved JSON with the password redacted" || fail "config output: $(cat "$WORK/config_ok.out")"

finish
