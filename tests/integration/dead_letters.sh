#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Jobs that can never succeed go to the dead-letter topic, end to end through a worker: a check
# job of an unknown schema version, and a valid check job for an account that was deleted. Each
# dead letter validates against dead_letter.v1, names its class, carries the original job as it
# was, and the job queued behind it on the same partition runs; the deleted account gets no run
# and its mailbox is never contacted; the worker counts both.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
cred=$(it_credential dl alice dl-pass)

$PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto imap --scenario normal --port 0 \
  --cert "$cert" --key "$key" --record "$IT_TMP/record" --ready-file "$IT_TMP/port" \
  >/dev/null 2>"$IT_TMP/server.err" &
spid=$!
for _ in $(seq 100); do [ -s "$IT_TMP/port" ] && break; sleep 0.05; done
live=$(inboxq account add --name dl-live --host 127.0.0.1 --port "$(cat "$IT_TMP/port")" \
  --protocol imap --credential "$cred" --secure no --keep-copy yes --auto-check no)
gone=$(inboxq account add --name dl-gone --host 127.0.0.1 --port "$(cat "$IT_TMP/port")" \
  --protocol imap --credential "$cred" --secure no --keep-copy yes --auto-check no)
inboxq account delete "$gone" >/dev/null
check "the deleted account is gone" test "$(it_sql "SELECT count(*) FROM mail_accounts WHERE id = $gone")" -eq 0

uuid() { cat /proc/sys/kernel/random/uuid; }
# job ACCOUNT_ID JOB_ID SCHEMA: a check job as the CLI publishes it
job() {
  printf '{"schema":"%s","job_id":"%s","account_id":%s,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:test","reason":"manual","attempt":1}' \
    "$3" "$2" "$1"
}
publish() { kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$1"; }
unknown=$(uuid) deleted=$(uuid) behind1=$(uuid) behind2=$(uuid)
# all four on one key, so one partition, in this order
job "$live" "$unknown" inboxq.check_job.v9 | publish "$live"
job "$live" "$behind1" inboxq.check_job.v1 | publish "$live"
job "$gone" "$deleted" inboxq.check_job.v1 | publish "$live"
job "$live" "$behind2" inboxq.check_job.v1 | publish "$live"

port=$((INBOXQ_TEST_PG_PORT + 82)) # 93-94 are report_sweep's, which may run beside it
it_spawn worker inboxq-worker --metrics-listen "127.0.0.1:$port"
ran() { test "$(it_sql "SELECT count(*) FROM check_runs WHERE job_id IN ('$behind1', '$behind2') AND finished_at IS NOT NULL")" -eq 2; }
it_wait_for 60 "the jobs behind both dead letters ran" ran || true
dead_count() { it_kcat_all "$INBOXQ_TOPIC_DEAD" | grep -c . || true; }
it_wait_for 30 "two dead letters published" bash -c "$(declare -f it_kcat_all dead_count); test \"\$(dead_count)\" -ge 2" || true
it_kcat_all "$INBOXQ_TOPIC_DEAD" >"$IT_TMP/dead"
check "exactly two dead letters" test "$(grep -c . "$IT_TMP/dead")" -eq 2
check "both validate against dead_letter.v1" test "$(it_validate dead_letter.v1 <"$IT_TMP/dead" 2>/dev/null)" = 2
# field VALUE_OF_JOB_ID FIELD: a field of the dead letter whose original_value holds that job id
field() {
  $PY - "$IT_TMP/dead" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if sys.argv[2] in d["original_value"]:
        print(d[sys.argv[3]])
EOF
}
check "unknown schema: class unknown_schema ($(field "$unknown" error))" test "$(field "$unknown" error_class)" = unknown_schema
check "unknown schema: the original job, byte for byte" \
  test "$(field "$unknown" original_value)" = "$(job "$live" "$unknown" inboxq.check_job.v9)"
check "unknown schema: topic and key kept" \
  test "$(field "$unknown" original_topic)/$(field "$unknown" original_key)" = "$INBOXQ_TOPIC_CHECK/$live"
check "deleted account: class account_deleted ($(field "$deleted" error))" test "$(field "$deleted" error_class)" = account_deleted
check "deleted account: the original job, byte for byte" \
  test "$(field "$deleted" original_value)" = "$(job "$gone" "$deleted" inboxq.check_job.v1)"
check "dead letters in order of their jobs" \
  test "$(field "$unknown" original_offset)" -lt "$(field "$deleted" original_offset)"
check "no run recorded for either dead job" \
  test "$(it_sql "SELECT count(*) FROM check_runs WHERE job_id IN ('$unknown', '$deleted')")" -eq 0
check "the live account's two jobs ran: 2 runs, both ok" \
  test "$(it_sql "SELECT string_agg(outcome, ',') FROM check_runs WHERE account_id = $live")" = "ok,ok"
# the server saw exactly the live account's two sessions (the deleted account's job never connected)
check "the mail server saw two sessions" test "$(grep -c '"event": "connect"' "$IT_TMP/record")" -eq 2
metric() { $PY -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$port/metrics" |
  awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'; }
check "the worker counted an unknown_schema dead letter" test "$(metric 'inboxq_jobs_dead_lettered_total{error_class="unknown_schema"}')" = 1
check "the worker counted an account_deleted dead letter" test "$(metric 'inboxq_jobs_dead_lettered_total{error_class="account_deleted"}')" = 1
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
finish
