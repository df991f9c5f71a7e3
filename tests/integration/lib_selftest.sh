#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The integration test library (lib.sh) itself: small scripts that use it must fail when a
# process they started crashed, exited by itself, or left a sanitizer, assertion or glibc
# report in a log (even with the script's own checks all passing, and even when the report went
# to a discarded stderr); when a fail happened inside $(...); when nothing passed; when a file an
# absence is checked in is missing; when inboxq check crashed or printed no result. A skip is
# printed, counted and ends as 77, and a failure where INBOXQ_TEST_NO_SKIP=1 forbids it.
# Real sanitizer runtimes are used: tiny programs built here with gcc -fsanitize.
source "$(dirname "$0")/lib.sh"
lib="$IQ_SOURCE_DIR/tests/integration/lib.sh"
bin="$IT_TMP/bin"
mkdir -p "$bin"

# child NAME BODY: runs a script sourcing lib.sh with BODY; sets RC and OUT (stdout+stderr).
child() {
  local f="$IT_TMP/$1.sh"
  printf 'source %q\n%s\n' "$lib" "$2" >"$f"
  RC=0
  OUT=$(env -u INBOXQ_TEST_KEEP -u IQ_SKIP_LOG -u INBOXQ_TEST_NO_SKIP -u INBOXQ_TEST_ALLOW_SKIP \
    bash "$f" 2>&1) || RC=$?
  printf '%s\n' "$OUT" >"$IT_TMP/$1.out"
}
# expect DESCRIPTION RC REGEX: the last child exited RC and printed a line matching REGEX
expect() {
  if [ "$RC" = "$2" ] && grep -qE -- "$3" <<<"$OUT"; then pass "$1"
  else fail "$1 (exit $RC, want $2 and /$3/): $(tail -n 5 <<<"$OUT" | tr '\n' '|')"; fi
}

cat >"$IT_TMP/ub.c" <<'EOF'
#include <limits.h>
int main(int argc, char **argv)
{
    (void)argv;
    int x = INT_MAX;
    x += argc; /* signed overflow: UBSan */
    return x == 0;
}
EOF
cat >"$IT_TMP/uaf.c" <<'EOF'
#include <stdlib.h>
int main(void)
{
    volatile char *p = malloc(8);
    free((void *)p);
    return p[3]; /* heap-use-after-free: ASan */
}
EOF
gcc -O0 -g -fsanitize=undefined -fno-sanitize-recover=all -o "$bin/ub" "$IT_TMP/ub.c"
gcc -O0 -g -fsanitize=address -o "$bin/uaf" "$IT_TMP/uaf.c"
# a stand-in daemon: serves "jobs" until SIGTERM, like a worker
printf '#!/bin/bash\ntrap "exit 0" TERM\nwhile :; do sleep 0.1; done\n' >"$bin/daemon"
chmod +x "$bin/daemon"

# --- the control: checks pass, a daemon stopped by SIGTERM -------------------------------------
child control "it_spawn d $bin/daemon; check 'true is true' true; finish"
expect "control: all passed -> exit 0" 0 '^1 passed, 0 failed, 0 skipped$'

# --- sanitizers abort, and their reports fail the test wherever stderr went ------------------
# (waits until the process is gone: a SIGTERM while UBSan symbolizes its stack would end it first)
child ubsan-bg "it_spawn w bash -c 'sleep 0.3; exec $bin/ub 2>/dev/null'; check ok true
for _ in \$(seq 300); do it_exited \$IT_LAST_PID && break; sleep 0.1; done; finish"
expect "UBSan in a background process (stderr discarded): the test fails" 1 'crash report in sanitizer\.[0-9]+'
expect "...the process aborted (abort_on_error), not a silent exit 1" 1 'died of signal 6'
child ubsan-fg "$bin/ub 2>/dev/null || true; check ok true; finish"
expect "UBSan in a foreground command whose failure was ignored: the test fails" 1 'crash report in sanitizer\.'
child asan-fg "$bin/uaf >/dev/null 2>&1 || true; check ok true; finish"
expect "ASan use-after-free, output discarded: the test fails" 1 'crash report in sanitizer\.'
grep -q 'heap-use-after-free' "$IT_TMP/asan-fg.out" && pass "...and the report is printed" ||
  fail "...and the report is printed"
child ubsan-early "set -e; $bin/ub 2>/dev/null || true; false; finish"
expect "a report found when the script ended early (set -e) is printed too" 1 'crash report in sanitizer\.'

# --- other reports in any log or stderr capture ----------------------------------------------
child assert-log "it_spawn w bash -c 'echo \"inboxq-worker: jobs.c:12: run: Assertion \\\`n > 0'\\'' failed.\" >&2; sleep 30'
check ok true; sleep 0.5; finish"
expect "an assertion message in a running worker's log fails the test" 1 'crash report in w\.log'
child glibc-err "mkdir -p \$IT_TMP/sub; echo 'free(): double free detected in tcache 2' >\$IT_TMP/sub/check-3.err
check ok true; finish"
expect "a glibc heap report in a nested .err file fails the test" 1 'crash report in sub/check-3\.err'
child oom-log "echo 'inboxq: out of memory' >\$IT_TMP/x.log; check ok true; finish"
expect "inboxq's own abort message fails the test" 1 'crash report in x\.log'
child clean-words "echo 'check failed (size_limit): line too long; assert nothing' >\$IT_TMP/w.log; check ok true; finish"
expect "ordinary error messages are not crash reports" 0 '^1 passed, 0 failed'

# --- processes that end by themselves --------------------------------------------------------
child self-exit "it_spawn w bash -c 'exit 1'; sleep 0.3; check ok true; finish"
expect "a spawned process that exited by itself with status 1 fails the test" 1 'exited by itself with status 1'
child segv "it_spawn w bash -c 'kill -SEGV \$\$'; sleep 0.3; check ok true; finish"
expect "a spawned process killed by SIGSEGV fails the test" 1 'died of signal 11'
child killed "it_spawn w $bin/daemon; kill -KILL \$IT_LAST_PID; sleep 0.2; check ok true; finish"
expect "a process the test killed with SIGKILL on purpose does not" 0 '^1 passed, 0 failed'

# --- counting -----------------------------------------------------------------------------
child subshell 'x=$(fail "inside a command substitution"; echo y); check "outer" true; finish'
expect "a fail inside \$(...) is counted" 1 '^1 passed, 1 failed'
child nothing 'finish'
expect "a test where nothing passed fails" 1 'no check passed'
child absent-missing "absent 'no secret in the log' secret \$IT_TMP/never-written.log; finish"
expect "absent: a missing file is a failure, not an absence" 1 'no file .*never-written\.log'
child absent-found "echo 'the secret' >\$IT_TMP/a.log; absent 'no secret in the log' secret \$IT_TMP/a.log; finish"
expect "absent: a match is a failure" 1 'found: the secret'
child absent-ok "echo 'nothing' >\$IT_TMP/a.log; absent 'no secret in the log' secret \$IT_TMP/a.log; finish"
expect "absent: an existing file without a match passes" 0 '^1 passed'

# --- skips --------------------------------------------------------------------------------
child skip "check ok true; it_skip ipv6 'no IPv6 loopback'; finish"
expect "a skip is printed and counted, and the test ends as 77" 77 '^1 passed, 0 failed, 1 skipped$'
grep -q '^SKIP - ipv6: no IPv6 loopback' "$IT_TMP/skip.out" && pass "...the skip line names it" ||
  fail "...the skip line names it"
RC=0
OUT=$(env -u IQ_SKIP_LOG -u INBOXQ_TEST_ALLOW_SKIP INBOXQ_TEST_NO_SKIP=1 bash "$IT_TMP/skip.sh" 2>&1) || RC=$?
expect "INBOXQ_TEST_NO_SKIP=1: a skip is a failure" 1 'skipped \(ipv6\), and INBOXQ_TEST_NO_SKIP=1 forbids it'
RC=0
OUT=$(env -u IQ_SKIP_LOG INBOXQ_TEST_NO_SKIP=1 INBOXQ_TEST_ALLOW_SKIP=backlog,ipv6 bash "$IT_TMP/skip.sh" 2>&1) || RC=$?
expect "...unless INBOXQ_TEST_ALLOW_SKIP names it" 77 '1 skipped'

# --- it_check: a crash or a missing result is a failure even inside $(...) -------------------
stub="$IT_TMP/stub"
mkdir -p "$stub"
printf '#!/bin/bash\n[ "$1" = check ] || exit 64\ncase $INBOXQ_STUB in\n segv) kill -SEGV $$ ;;\n nojson) echo "inboxq: cannot reach PostgreSQL" >&2; exit 69 ;;\n failed) echo "{\\"outcome\\": \\"failed\\", \\"error_class\\": \\"auth\\"}"; exit 1 ;;\nesac\n' >"$stub/inboxq"
chmod +x "$stub/inboxq"
child check-segv "IQ_BIN_DIR=$stub; PATH=$stub:\$PATH; out=\$(it_check 1 INBOXQ_STUB=segv); check ok true; finish"
expect "it_check: a check that died of a signal fails the test" 1 'inboxq check 1 died of signal 11'
child check-nojson "PATH=$stub:\$PATH; out=\$(it_check 1 INBOXQ_STUB=nojson); check ok true; finish"
expect "it_check: a check that printed no JSON result fails the test" 1 'printed no JSON result: inboxq: cannot reach PostgreSQL'
child check-failed "PATH=$stub:\$PATH; out=\$(it_check 1 INBOXQ_STUB=failed); check 'class auth' test \"\$(jget error_class <<<\"\$out\")\" = auth; check 'exit status kept' test \"\$(cat \$IT_TMP/check-1.rc)\" = 1; finish"
expect "it_check: a failed check is a result (exit 1 kept in check-ID.rc)" 0 '^2 passed, 0 failed'
finish
