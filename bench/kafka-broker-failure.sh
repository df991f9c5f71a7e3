#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Records a run of the broker-failure test (tests/integration/real/kafka_broker_failure.sh) on a
# real 3-broker Kafka cluster: the time from a check partition's leader's SIGKILL to the first
# check completed on that partition again, the two-brokers-down outage, and the lost and
# duplicated message counts, in bench/results/kafka-broker-failure-DATE.md.
#   bench/kafka-broker-failure.sh [BUILD_DIR]     (default build; it must be built)
# The harness runs on its own port base (BENCH_PORT_BASE, default 30100) and state dir.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -x "$build/bin/inboxq-worker" ] || { echo "bench: build $build first (cmake --build $build)" >&2; exit 1; }
out=$PWD/bench/results/kafka-broker-failure-$(date -u +%Y%m%d-%H%M).md
INBOXQ_TEST_PORT_BASE=${BENCH_PORT_BASE:-30100} INBOXQ_BENCH_RESULTS=$out \
  ctest --test-dir "$build" -R '^it\.real\.kafka_broker_failure$' --output-on-failure
echo "bench: wrote $out"
