#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C sources are formatted as .clang-format says, and cppcheck and clang-tidy (with
# .clang-tidy's checks, on the plain build's compile_commands.json) find nothing in them.
# To fix formatting: clang-format -i FILE. A false positive is silenced on its line with a
# "cppcheck-suppress ID" or "NOLINT(check)" comment that says why. clang-tidy runs once, in
# the plain build (a sanitizer build's flags add nothing to it).
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
dirs=(lib producer worker scheduler deploy/devbroker tests/unit tests/integration tests/tsan tests/fuzz)
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

# Until merge: these files, edited on main at the same time, still ignore some iq_buf append
# results (IQ_MUST_CHECK); the top CMakeLists.txt keeps them building. Delete with that block.
until_merge=(lib/bus/messages.c scheduler/schedule.c producer/cmd_account_list.c)
cppcheck_run() {
  cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
    $(printf -- "--suppress=ignoredReturnValue:%s " "${until_merge[@]}") \
    --std=c11 $(printf -- "-I %s " lib/*/) "$@"
}
if cppcheck_run lib producer worker scheduler deploy/devbroker tests/unit tests/tsan tests/fuzz 2>"$tmp/cppcheck"; then
  ok "cppcheck: no findings"
else
  bad "cppcheck:"
  cat "$tmp/cppcheck"
fi

build=${IQ_BIN_DIR:+$IQ_BIN_DIR/..}
tidy=0
if [ -n "$build" ] && [ -f "$build/compile_commands.json" ] &&
  grep -q '^INBOXQ_SANITIZE:STRING=$' "$build/CMakeCache.txt" 2>/dev/null; then
  tidy=1
  if run-clang-tidy -quiet -p "$build" -j "$(nproc)" "$PWD/(lib|worker|scheduler|producer)/" \
    >"$tmp/tidy" 2>&1 && ! grep -qE '(warning|error):' "$tmp/tidy"; then
    ok "clang-tidy: no findings"
  else
    bad "clang-tidy:"
    grep -E '(warning|error):' "$tmp/tidy" | sort -u
  fi
fi

# every check must be able to fail
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
if [ "$tidy" = 1 ]; then
  printf '#include <stddef.h>\nint f(int *p)\n{\n    p = NULL;\n    return *p;\n}\n' >"$tmp/probe.c"
  if clang-tidy --quiet "$tmp/probe.c" -- -std=c11 2>/dev/null | grep -q 'warning:'; then
    ok "clang-tidy finds a null dereference"
  else
    bad "clang-tidy missed a null dereference"
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
