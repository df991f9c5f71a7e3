#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Back-pressure in the worker's consumer: a backlog of jobs on one partition fills the slot's
# queue, the partition is paused and resumed, every job is handled exactly once, and the worker
# survives the run. Most of the jobs are redeliveries of one job id (done after the first, so
# each takes about a millisecond), so the consumer thread hands jobs over as fast as it can
# poll them (a queued job's message was once read by that thread after the slot freed it; the
# window was too narrow for this test to hit on demand, but under ASan it would report it).
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
n=1500
port=$((INBOXQ_TEST_PG_PORT + 94))

u=user050
it_empty_mailbox $u
it_seed $u 2
c=$(it_credential c $u "$INBOXQ_TEST_MAIL_PASS_BULK")
id=$(inboxq account add --name bp --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
  --credential "$c" --secure yes --secure-type ssl --auto-check no)

# the backlog, published before any worker joins: one job id, n deliveries, one key
job=$(cat /proc/sys/kernel/random/uuid)
for _ in $(seq 1 $n); do
  printf '{"schema":"inboxq.check_job.v1","job_id":"%s","account_id":%s,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:test","reason":"manual","attempt":1}\n' "$job" "$id"
done | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$id"

it_spawn worker inboxq-worker --concurrency 1 --metrics-listen "127.0.0.1:$port" --log-level debug
metric() { # NAME{labels} -> value (0 when absent or not served yet)
  $PY -c 'import sys, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=3).read().decode()
except Exception:
    body = ""
v = 0
for line in body.splitlines():
    k, _, val = line.rpartition(" ")
    if k == sys.argv[2]:
        v = float(val)
print(int(v))' "http://127.0.0.1:$port/metrics" "$1"
}
handled() { test "$(metric 'inboxq_jobs_total{kind="check",result="done"}')" -eq $n; }
it_wait_for 120 "all $n deliveries handled" handled

check "the job ran once: one run record" test "$(it_sql "SELECT count(*) FROM check_runs WHERE job_id = '$job'")" -eq 1
check "...and stored the mailbox once" test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id")" -eq 2
pauses=$(metric inboxq_consumer_pauses_total)
check "the partition was paused under the backlog ($pauses time(s))" test "$pauses" -ge 1
check "...and resumed (the log says both)" bash -c "grep -q 'paused ' '$IT_TMP/worker.log' && grep -q 'resumed ' '$IT_TMP/worker.log'"
check "the worker is still running" kill -0 "$IT_LAST_PID"
it_stop_all
check "it left the group cleanly" test "$(it_sql 'SELECT count(*) FROM workers')" -eq 0
finish
