#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CI-sized run of the push benchmark (issue 16): bench/push.sh --smoke on this build's
# binaries, on a harness of its own (INBOXQ_BENCH_PORT_BASE, default the test port base + 200;
# state in INBOXQ_TEST_DIR-pb): 50 push accounts on one worker, 10 s of deliveries at 5/s, then
# the same with polling at 5 s. Fails when an event is missing, a message is stored twice or a
# push check logged in. The benchmark runs as root (PostgreSQL, Dovecot, the inotify sysctl):
# without root the test is skipped, counted.
set -euo pipefail
: "${IQ_SOURCE_DIR:?run through ctest}" "${IQ_BIN_DIR:?run through ctest}" "${INBOXQ_TEST_DIR:?run through ctest}"
# shellcheck source=tests/lib/skip.bash
source "$IQ_SOURCE_DIR/tests/lib/skip.bash"
if [ "$(id -u)" != 0 ]; then
  iq_skip_allowed bench-root || { echo "FAIL - not root, and INBOXQ_TEST_NO_SKIP=1 forbids skipping (bench-root)"; exit 1; }
  iq_skip_note bench.push_smoke bench-root "bench/push.sh needs root (it starts PostgreSQL and Dovecot)"
  exit 77
fi
export BENCH_PORT_BASE=${INBOXQ_BENCH_PORT_BASE:-$((${INBOXQ_TEST_PORT_BASE:-27100} + 200))}
export BENCH_DIR=$INBOXQ_TEST_DIR-pb IQ_BIN_DIR
exec bash "$IQ_SOURCE_DIR/bench/push.sh" --smoke --no-build --out "$BENCH_DIR.md"
