#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command works: deploy/local/demo --once brings up its own stack (own state
# dir and ports), the scheduler and workers check both demo accounts, new mail shows up in the
# inbox listing, and everything stops afterwards. With INBOXQ_TEST_KAFKA=real (it.real.demo), the
# same on `--kafka real`: its own 3-broker Kafka cluster.
source "$(dirname "$0")/lib.sh"
demo_dir="$IT_TMP/demo"
# a clean environment, as a new user has: none of the test harness's settings leak in; its own
# ports, 1400 above the suite's (28500 by default), so two suites on their own bases never meet
demo_base=$((INBOXQ_TEST_PG_PORT + 1400))
out=$(cd "$IQ_SOURCE_DIR" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="${HOME:-/root}" INBOXQ_DEMO_DIR="$demo_dir" INBOXQ_TEST_PORT_BASE=$demo_base \
  timeout 300 deploy/local/demo --once --kafka "$IT_KAFKA" 2>&1) || { echo "$out" | tail -30; fail "demo exited non-zero"; }
check "the demo checked both accounts" grep -q "stored: 7 messages for account 1, 3 for account 2" <<<"$out"
check "the demo shows the inbox" grep -q "inbox of account 1 'Alice (IMAPS)' (7 messages shown" <<<"$out"
check "the inbox shows dates for people (YYYY-MM-DD HH:MM UTC)" grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC " <<<"$out"
check "the demo shows the accounts report" grep -q "page 1 of 1, 2 accounts" <<<"$out"
check "the demo prints the console's address and sign-in" \
  grep -q "http://127.0.0.1:$((demo_base + 91))/  sign in as: demo / [0-9a-f]\{18\}" <<<"$out"
check "the demo's sign-in worked" grep -q "signed in from 127.0.0.1" "$demo_dir/logs/console.log"
check "the demo prints the kcat command" grep -q "kcat -b 127.0.0.1:[0-9]*\(,127.0.0.1:[0-9]*\)* -C -t inboxq.events.new-mail" <<<"$out"
if [ "$IT_KAFKA" = real ]; then
  check "the demo ran on three Kafka brokers" grep -q "kcat -b 127.0.0.1:$((demo_base + 40)),127.0.0.1:$((demo_base + 41)),127.0.0.1:$((demo_base + 42)) " <<<"$out"
fi
# "[/]" keeps the pattern from matching this check's own command line
check "nothing of the demo is left running" bash -c "! pgrep -f '${demo_dir}[/]' >/dev/null"
finish
