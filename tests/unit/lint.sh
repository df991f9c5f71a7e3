#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C sources are formatted as .clang-format says and cppcheck finds nothing in them.
# To fix formatting: clang-format -i FILE. A cppcheck false positive is silenced on its line
# with a "cppcheck-suppress ID" comment that says why.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
dirs=(lib producer worker scheduler deploy/devbroker tests/unit tests/integration)
mapfile -t files < <(find "${dirs[@]}" \( -name '*.c' -o -name '*.h' \) | sort)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if clang-format --dry-run --Werror "${files[@]}" 2>"$tmp/format"; then
  ok "clang-format: ${#files[@]} files as .clang-format says"
else
  bad "clang-format: files not formatted (run clang-format -i on them):"
  grep -oE '^[^:]+\.(c|h)' "$tmp/format" | sort -u | sed 's/^/  /'
fi

cppcheck_run() {
  cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
    --std=c11 -I lib "$@"
}
if cppcheck_run lib producer worker scheduler deploy/devbroker tests/unit 2>"$tmp/cppcheck"; then
  ok "cppcheck: no findings"
else
  bad "cppcheck:"
  cat "$tmp/cppcheck"
fi

# both checks must be able to fail
printf 'int  f( void ){return 1;}\n' >"$tmp/probe.c"
if clang-format --dry-run --Werror "$tmp/probe.c" 2>/dev/null; then
  bad "clang-format accepted a badly formatted probe"
else
  ok "clang-format rejects a badly formatted probe"
fi
printf 'int f(void)\n{\n    int a[4];\n    a[4] = 1;\n    return a[0];\n}\n' >"$tmp/probe.c"
if cppcheck_run "$tmp/probe.c" 2>/dev/null; then
  bad "cppcheck accepted an out-of-bounds write"
else
  ok "cppcheck finds an out-of-bounds write"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
