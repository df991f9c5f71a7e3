#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The functions our style bans (unbounded copies and formats, unchecked number parsing, strerror's
# buffer shared by every thread) appear nowhere in the C sources; use snprintf, iq_buf,
# iq_parse_*, iq_strerror / IQ_STRERROR instead. strerror_r and gai_strerror are not banned.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
pattern='\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|sscanf|strtok|gets|strerror)[[:space:]]*\('
# comment lines ("/* ...", " * ...", " */", "// ...") may name them; "*error_r = ..." is code
comment=':[0-9]+:[[:space:]]*(/\*|\*/|\*([[:space:]]|$)|//)'
hits=$(grep -rnE "$pattern" lib producer worker scheduler deploy/devbroker tests/unit tests/integration \
  tests/fuzz --include='*.c' --include='*.h' | grep -vE "$comment" || true)
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
# the check itself must be able to fail
probe=$(printf 'int f(void) { char b[4]; return sprintf(b, "x"); }\n' | grep -cE "$pattern" || true)
[ "$probe" = 1 ] || { echo "the banned-function pattern does not match a known bad line"; exit 1; }
probe=$(printf 'const char *f(int e) { return strerror(e); }\n' | grep -cE "$pattern" || true)
[ "$probe" = 1 ] || { echo "the banned-function pattern does not match strerror"; exit 1; }
probe=$(printf 'p = strerror_r(e, b, n);\nq = gai_strerror(rc);\nr = iq_strerror(e, b, n);\n' |
  grep -cE "$pattern" || true)
[ "$probe" = 0 ] || { echo "the banned-function pattern matches strerror_r or gai_strerror"; exit 1; }
probe=$(printf 'a.c:1: * sprintf(x) in a comment\na.c:2:    *error_r = strerror(e);\n' |
  grep -vE "$comment" | grep -cE "$pattern" || true)
[ "$probe" = 1 ] || { echo "the comment filter hides code or shows comments"; exit 1; }
echo "1 passed, 0 failed"
