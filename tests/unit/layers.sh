#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lib/ is layered (README, "Architecture"): no folder includes a layer above it or a sibling it
# was not given, no program includes another folder's internal header, each third-party library
# is called only by the layers that own it, and no two modules depend on each other, whether
# through headers or (read from the plain build's objects) through the functions they call.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

objects=()
# the plain build's objects (ctest sets IQ_BIN_DIR; run by hand, build/ of the source tree)
build=${IQ_BIN_DIR:+$IQ_BIN_DIR/..}
build=${build:-build}
if [ -n "$build" ] && [ -f "$build/CMakeFiles/TargetDirectories.txt" ]; then
  objects=(--objects "$(cd "$build" && pwd)")
fi
if python3 tests/unit/layers.py "${objects[@]}" >"$tmp/out"; then
  ok "layers: includes and ${objects:+symbol }dependencies point down, no cycles"
else
  bad "layers:"
  sed 's/^/  /' "$tmp/out"
fi
[ ${#objects[@]} -gt 0 ] || bad "no build directory to read objects from at $build: build first (cmake -S . -B build && cmake --build build) or set IQ_BIN_DIR"

# every rule must be able to fail: a probe tree breaks one rule each
probe() { # name, then files as path=content
  local name=$1 root="$tmp/$1"
  shift
  for spec in "$@"; do
    mkdir -p "$root/$(dirname "${spec%%=*}")"
    printf '%b\n' "${spec#*=}" >"$root/${spec%%=*}"
  done
  mkdir -p "$root/tests/unit"
  if python3 tests/unit/layers.py --root "$root" >"$tmp/$name.out"; then
    bad "probe '$name' passed"
  else
    ok "probe '$name' fails: $(head -1 "$tmp/$name.out")"
  fi
}
probe upward 'lib/core/a.c=#include "b.h"' 'lib/mail/b.h=int b(void);'
probe sibling 'lib/net/a.c=#include "b.h"' 'lib/store/b.h=int b(void);'
probe internal 'producer/a.c=#include "s_int.h"' 'lib/mail/s_int.h=int s(void);'
probe thirdparty 'lib/core/a.c=#include <libetpan/libetpan.h>'
probe cycle 'lib/core/a.c=#include "b.h"' 'lib/core/a.h=int a(void);' \
  'lib/core/b.c=#include "a.h"' 'lib/core/b.h=int b(void);'
probe headers 'lib/core/a.h=#include "b.h"' 'lib/core/b.h=#include "a.h"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
