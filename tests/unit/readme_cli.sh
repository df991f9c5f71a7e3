#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's CLI reference names every command 'inboxq --help' lists.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
bin=${IQ_BIN_DIR:-build/bin}
commands=$("$bin/inboxq" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
[ -n "$commands" ] || { echo "no commands parsed from inboxq --help"; exit 1; }
missing=0 passed=0
for c in $commands; do
  if grep -q "| \`inboxq $c" README.md; then passed=$((passed + 1)); else echo "README's CLI reference lacks 'inboxq $c'"; missing=$((missing + 1)); fi
done
echo "$passed passed, $missing failed"
[ "$missing" -eq 0 ]
