#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C sources are formatted as .clang-format says, and cppcheck and clang-tidy (with
# .clang-tidy's checks, on the plain build's compile_commands.json) find nothing in them.
# To fix formatting: clang-format -i FILE. A false positive is silenced on its line with a
# "cppcheck-suppress ID" or "NOLINT(check)" comment that says why. clang-tidy runs once, in
# the plain build (a sanitizer build's flags add nothing to it).
# Every check says how many files it looked at, and fails when that is not all of them; a check
# that cannot run here is a skip (tests/lib/skip.bash), never a silent "no findings".
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
# shellcheck source=tests/lib/skip.bash
source tests/lib/skip.bash
dirs=(lib producer worker scheduler deploy/devbroker tests/unit tests/integration tests/tsan tests/fuzz)
mapfile -t files < <(find "${dirs[@]}" \( -name '*.c' -o -name '*.h' \) | sort)
# the C files clang-tidy must analyse: those of the programs and the library
mapfile -t tidy_files < <(find "$PWD/lib" "$PWD/worker" "$PWD/scheduler" "$PWD/producer" -name '*.c' | sort)
passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
skip() {
  if iq_skip_allowed "$1"; then skipped=$((skipped + 1)); iq_skip_note unit.lint "$@"
  else bad "skipped ($1), and INBOXQ_TEST_NO_SKIP=1 forbids it: ${*:2}"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in lib producer worker scheduler tests/unit; do
  grep -q "^$d/" < <(printf '%s\n' "${files[@]}") || bad "no C files found under $d/: the file list is wrong"
done

if [ "${#files[@]}" -eq 0 ]; then
  bad "clang-format: no files to check"
elif clang-format --dry-run --Werror "${files[@]}" 2>"$tmp/format"; then
  ok "clang-format: ${#files[@]} files as .clang-format says"
else
  bad "clang-format: files not formatted (run clang-format -i on them):"
  grep -oE '^[^:]+\.(c|h)' "$tmp/format" | sort -u | sed 's/^/  /'
fi

cppcheck_run() {
  cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
    --std=c11 $(printf -- "-I %s " lib/*/) "$@"
}
if cppcheck_run lib producer worker scheduler deploy/devbroker tests/unit tests/tsan tests/fuzz 2>"$tmp/cppcheck"; then
  ok "cppcheck: no findings in lib producer worker scheduler deploy/devbroker tests/unit tests/tsan tests/fuzz"
else
  bad "cppcheck:"
  cat "$tmp/cppcheck"
fi

build=${IQ_BIN_DIR:+$IQ_BIN_DIR/..}
tidy=0
if [ -z "$build" ] || [ ! -f "$build/compile_commands.json" ]; then
  skip clang-tidy "no compile_commands.json (IQ_BIN_DIR unset or not a CMake build)"
elif ! grep -q '^INBOXQ_SANITIZE:STRING=$' "$build/CMakeCache.txt" 2>/dev/null; then
  skip clang-tidy "a sanitizer build; clang-tidy runs on the plain build"
else
  tidy=1
  rc=0
  run-clang-tidy -quiet -p "$build" -j "$(nproc)" "$PWD/(lib|worker|scheduler|producer)/" \
    >"$tmp/tidy" 2>&1 || rc=$?
  # run-clang-tidy prints one "clang-tidy... FILE" line per file it analysed
  sed -nE 's/^clang-tidy[^ ]* .* -quiet (\/[^ ]+\.c)$/\1/p' "$tmp/tidy" | sort -u >"$tmp/tidy-done"
  printf '%s\n' "${tidy_files[@]}" >"$tmp/tidy-want"
  missing=$(comm -23 "$tmp/tidy-want" "$tmp/tidy-done")
  if [ "$rc" -ne 0 ] || grep -qE '(warning|error):' "$tmp/tidy"; then
    bad "clang-tidy (exit $rc):"
    grep -E '(warning|error):' "$tmp/tidy" | sort -u
  elif [ "${#tidy_files[@]}" -eq 0 ] || [ -n "$missing" ]; then
    bad "clang-tidy analysed $(wc -l <"$tmp/tidy-done") of ${#tidy_files[@]} C files; not analysed:"
    sed 's/^/  /' <<<"$missing"
  else
    ok "clang-tidy: no findings in all ${#tidy_files[@]} C files of lib, producer, worker, scheduler"
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
  # read the whole output first: with pipefail, grep -q closing the pipe early made clang-tidy
  # fail to write (exit 74), and the probe "missed" under load
  clang-tidy --quiet "$tmp/probe.c" -- -std=c11 >"$tmp/probe.out" 2>/dev/null || true
  if grep -q 'warning:' "$tmp/probe.out"; then
    ok "clang-tidy finds a null dereference"
  else
    bad "clang-tidy missed a null dereference"
  fi
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || exit 1
[ "$skipped" -eq 0 ] || exit 77
