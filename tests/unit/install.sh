#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cmake --install` installs the three programs and the schemas, and not the development
# broker, which only the "dev" component brings.
set -euo pipefail
build=${IQ_BIN_DIR:?set IQ_BIN_DIR to the build bin directory}/..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); echo "ok - $what"; else failed=$((failed + 1)); echo "FAIL - $what"; fi; }

cmake --install "$build" --prefix "$tmp/prod" >/dev/null
for p in inboxq inboxq-worker inboxq-scheduler; do
  check "installs $p" test -x "$tmp/prod/bin/$p"
done
check "installs the schemas" test -f "$tmp/prod/share/inboxq/schemas/json/check_job.v1.json"
check "leaves the development broker out" test ! -e "$tmp/prod/bin/inboxq-devbroker"
cmake --install "$build" --prefix "$tmp/dev" --component dev >/dev/null
check "the dev component installs the development broker" test -x "$tmp/dev/bin/inboxq-devbroker"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
