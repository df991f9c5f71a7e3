#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad configuration gives one clear line naming the setting and the right sysexits code, within
# the configured timeout.
source "$(dirname "$0")/lib.sh"

# expect CODE MAX_SECONDS PATTERN -- COMMAND...
expect() {
  local code=$1 max=$2 pattern=$3; shift 4
  local t0 t1 rc err
  t0=$(now_ms)
  set +e; err=$("$@" 2>&1 >/dev/null); rc=$?; set -e
  t1=$(now_ms)
  check "$* -> exit $code (got $rc)" test "$rc" -eq "$code"
  check "$* -> one line (got $(wc -l <<<"$err"))" test "$(wc -l <<<"$err")" -eq 1
  check "$* -> names '$pattern'" grep -q -- "$pattern" <<<"$err"
  check "$* -> within ${max}s" test $((t1 - t0)) -lt $((max * 1000))
}

closed_port=$((INBOXQ_TEST_PG_PORT + 99))
expect 69 5 "INBOXQ_PG_DSN" -- env INBOXQ_PG_DSN="host=127.0.0.1 port=$closed_port dbname=x user=x password=canary123" INBOXQ_PG_CONNECT_TIMEOUT=2s inboxq migrate
expect 78 2 "malformed" -- env INBOXQ_PG_DSN="host='unterminated" inboxq migrate
expect 78 2 "INBOXQ_CHECK_TIMEOUT" -- env INBOXQ_CHECK_TIMEOUT=soon inboxq-worker --check-config
expect 78 2 "INBOXQ_CONCURRENCY" -- env INBOXQ_CONCURRENCY=0 inboxq-worker --check-config
expect 78 2 "master_key_file" -- env INBOXQ_MASTER_KEY_FILE=/nonexistent/master.key inboxq check 1 --direct
expect 64 2 "unknown option" -- inboxq --no-such-option
expect 64 2 "unknown command" -- inboxq frobnicate
expect 78 2 "unknown setting" -- bash -c "printf 'no_such = 1\n' > $IT_TMP/bad.conf && inboxq --config $IT_TMP/bad.conf migrate"
expect 69 8 "Kafka" -- env INBOXQ_KAFKA_BROKERS=127.0.0.1:$closed_port INBOXQ_KAFKA_TIMEOUT=2s inboxq-scheduler --check-config

# The password in a DSN never reaches the error line.
set +e
err=$(env INBOXQ_PG_DSN="host=127.0.0.1 port=$closed_port dbname=x user=x password=canary123" INBOXQ_PG_CONNECT_TIMEOUT=2s inboxq migrate 2>&1)
set -e
check "password not echoed" bash -c "! grep -q canary123 <<<'$err'"

# config show masks the secret settings' passwords as typed ('/', spaces and '@' included)
# and nothing else
shown=$(INBOXQ_REDIS_URL='redis://default:pa/ss w@rd@127.0.0.1:6379/0' \
  INBOXQ_PG_DSN="host=127.0.0.1 password='canary 456' dbname=x" inboxq config show)
check "config show masks a Redis password with '/' and spaces" bash -c "! grep -q 'pa/ss\|w@rd' <<<\"\$1\"" _ "$shown"
check "...keeps the rest of the URL" grep -q 'redis://default:\*.*@127.0.0.1:6379/0' <<<"$shown"
check "...and masks a quoted DSN password" bash -c "! grep -q 'canary\|456' <<<\"\$1\"" _ "$shown"
check "...but no other setting" grep -q "^topic_check *= inboxq.jobs.check" <<<"$(inboxq config show)"

out=$(inboxq-worker --check-config)
check "worker --check-config reaches the real services" grep -q "postgresql: ok" <<<"$out"
finish
