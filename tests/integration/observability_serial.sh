#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Observability (runs alone: it stops the shared PostgreSQL): /metrics scraped during real checks
# passes `promtool check metrics` and its counters move as expected; /healthz answers; /readyz
# turns unready within seconds when PostgreSQL stops and ready again when it returns; Redis down
# is "degraded", not unready. JSON log lines carry the stable field names and no secret.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
harness() { "$IQ_SOURCE_DIR/tests/harness/$1" --dir "$INBOXQ_TEST_DIR" "${@:2}" >/dev/null 2>&1; }
restore() { harness start pg redis; it_cleanup; }
trap restore EXIT
export INBOXQ_PG_CONNECT_TIMEOUT=2s INBOXQ_SCHEDULER_TICK=300ms

port=$((INBOXQ_TEST_PG_PORT + 90))
u=user049
it_empty_mailbox $u
c=$(it_credential c $u "$INBOXQ_TEST_MAIL_PASS_BULK")
id=$(inboxq account add --name obs --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
  --credential "$c" --secure yes --secure-type ssl --auto-check no)
it_spawn worker inboxq-worker --metrics-listen "127.0.0.1:$port" --log-format json
url="http://127.0.0.1:$port"
get() { $PY -c 'import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=3); print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except Exception as e:
    print(0)' "$1" 2>/dev/null; }
it_wait_for 20 "the worker serves /healthz" bash -c "$(declare -f get); PY=$PY; get $url/healthz | head -1 | grep -qx 200"
it_wait_for 20 "/readyz is ready" bash -c "$(declare -f get); PY=$PY; get $url/readyz | head -1 | grep -qx 200"

metric() { # NAME{labels} -> value (0 when absent)
  get "$url/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}
before=$(metric 'inboxq_messages_total{action="fetched"}')
it_seed $u 3
check "the worker ran the check, and check --wait says ok (exit 0)" \
  inboxq check "$id" --wait --timeout 60 >"$IT_TMP/wait.out" 2>"$IT_TMP/wait.err"
get "$url/metrics" | tail -n +2 >"$IT_TMP/metrics"
check "/metrics passes promtool check metrics" promtool check metrics <"$IT_TMP/metrics"
after=$(metric 'inboxq_messages_total{action="fetched"}')
check "messages fetched counter moved by 3 ($before -> $after)" test "$((${after%.*} - ${before%.*}))" -eq 3
check "checks counter counts the ok check" test "$(metric 'inboxq_checks_total{outcome="ok",error_class=""}' | cut -d. -f1)" -ge 1
check "duration histogram observed it" test "$(metric 'inboxq_check_duration_seconds_count' | cut -d. -f1)" -ge 1
check "consumer lag exported" grep -q '^inboxq_kafka_consumer_lag{' "$IT_TMP/metrics"
check "outbox gauges exported" grep -q '^inboxq_outbox_pending ' "$IT_TMP/metrics"

# Redis down: degraded, still ready
harness stop redis
it_wait_for 15 "/readyz says degraded while Redis is down" bash -c "$(declare -f get); PY=$PY; get $url/readyz | grep -q degraded"
check "...and is still 200" test "$(get "$url/readyz" | head -1)" = 200
harness start redis

# PostgreSQL down: unready within seconds, ready again after
harness stop pg
t0=$(now_ms)
it_wait_for 15 "/readyz turns unready when PostgreSQL stops" bash -c "$(declare -f get); PY=$PY; get $url/readyz | head -1 | grep -qx 503"
check "...within 10 s ($(( $(now_ms) - t0 )) ms)" test $(( $(now_ms) - t0 )) -lt 10000
harness start pg
it_wait_for 20 "/readyz is ready again when PostgreSQL returns" bash -c "$(declare -f get); PY=$PY; get $url/readyz | head -1 | grep -qx 200"

# the scheduler's endpoints
sport=$((port + 1))
auto=$(inboxq account add --name obs-auto --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
  --credential "$c" --secure yes --secure-type ssl --auto-check yes --check-interval 1h)
it_spawn scheduler inboxq-scheduler --metrics-listen "127.0.0.1:$sport"
surl="http://127.0.0.1:$sport"
it_wait_for 20 "the scheduler dispatched and counts it" bash -c "$(declare -f get); PY=$PY; get $surl/metrics | grep -q '^inboxq_scheduler_dispatched_total{kind=\"check\"} [1-9]'"
get "$surl/metrics" | tail -n +2 >"$IT_TMP/smetrics"
check "scheduler /metrics passes promtool" promtool check metrics <"$IT_TMP/smetrics"
check "scheduler exports the due backlog" grep -q '^inboxq_scheduler_due_backlog ' "$IT_TMP/smetrics"
check "scheduler /readyz is ready" test "$(get "$surl/readyz" | head -1)" = 200
it_wait_for 30 "the worker ran the scheduled check of account $auto" bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT count(*) FROM check_runs WHERE account_id = $auto AND requested_by = 'scheduler' AND outcome = 'ok'\")\" -ge 1"

it_stop_all
log="$IT_TMP/worker.log"
check "JSON log lines parse and carry time/level/component/message" $PY -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    if line.startswith("{"):
        o = json.loads(line); n += 1
        assert {"time", "level", "component", "message"} <= set(o), o
assert n > 0' "$log"
check "a check's log line carries job_id and account_id" grep -q '"job_id":"[0-9a-f-]*","account_id":'"$id" "$log"
absent "no password in the logs" "$INBOXQ_TEST_MAIL_PASS_BULK" "$log"
finish
