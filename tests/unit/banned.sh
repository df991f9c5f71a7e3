#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The functions our style bans (unbounded copies and formats, unchecked number parsing) appear
# nowhere in the C sources; use snprintf, iq_buf, iq_parse_* instead.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
pattern='\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|sscanf|strtok|gets)[[:space:]]*\('
hits=$(grep -rnE "$pattern" lib producer worker scheduler deploy/devbroker tests/unit tests/integration tests/fuzz \
  --include='*.c' --include='*.h' | grep -vE ':[0-9]+:[[:space:]]*(/?\*|//)' || true)
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
# the check itself must be able to fail
probe=$(printf 'int f(void) { char b[4]; return sprintf(b, "x"); }\n' | grep -cE "$pattern" || true)
[ "$probe" = 1 ] || { echo "the banned-function pattern does not match a known bad line"; exit 1; }
echo "1 passed, 0 failed"
