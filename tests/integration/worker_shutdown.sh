#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A worker stopped while a job outlasts shutdown_grace abandons the job without acknowledging
# it, leaves the group, and exits cleanly right away (an abandoned job's thread once ran on
# while the worker freed what it used). The job is delivered again: the next worker runs it.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
cred=$(it_credential slow alice "slow-pass")

# a server that drips its replies: the check runs until check_timeout
$PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto imap --scenario drip --port 0 \
  --record "$IT_TMP/record" --ready-file "$IT_TMP/port" >/dev/null 2>"$IT_TMP/server.log" &
spid=$!
for _ in $(seq 100); do [ -s "$IT_TMP/port" ] && break; sleep 0.05; done
id=$(inboxq account add --name slow --host 127.0.0.1 --port "$(cat "$IT_TMP/port")" --protocol imap \
  --credential "$cred" --secure no --keep-copy yes --auto-check no)

export INBOXQ_SHUTDOWN_GRACE=1s INBOXQ_CHECK_TIMEOUT=40s INBOXQ_READ_TIMEOUT=30s
it_spawn worker1 inboxq-worker --concurrency 2
w1=$IT_LAST_PID
inboxq check "$id" >/dev/null
it_wait_for 30 "the check is running on the first worker" \
  bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT count(*) FROM check_runs WHERE account_id = $id AND finished_at IS NULL\")\" -ge 1"
job=$(it_sql "SELECT job_id FROM check_runs WHERE account_id = $id ORDER BY id LIMIT 1")

start=$(date +%s%N)
kill -TERM "$w1"
rc=0
wait "$w1" || rc=$?
secs=$(( ($(date +%s%N) - start) / 1000000000 ))
IT_PIDS=()
IT_PID_NAMES=()
check "the worker exited with status 0 ($rc), not a crash" test "$rc" -eq 0
check "...within a few seconds of SIGTERM (${secs}s; grace 1s, check still running)" test "$secs" -lt 15
check "...saying it abandoned the job" grep -q "abandoning its job" "$IT_TMP/worker1.log"
check "...and left the group (no worker row)" test "$(it_sql 'SELECT count(*) FROM workers')" -eq 0

# not acknowledged: a new worker gets the same job again and finishes it (a short deadline now)
it_spawn worker2 env INBOXQ_CHECK_TIMEOUT=4s INBOXQ_READ_TIMEOUT=3s inboxq-worker
it_wait_for 60 "the abandoned job was delivered again, and run to its end by the next worker" \
  bash -c "grep -q '\[job $job\].*check failed (timeout)' '$IT_TMP/worker2.log' &&
    test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT count(*) FROM check_runs WHERE job_id = '$job' AND finished_at IS NOT NULL\")\" -eq 1"
it_stop_all
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
check "both runs met the dripping server (its scripted deviation, twice)" \
  test "$(grep -cE '"event": "deviation", "conn": [0-9]+, "what": "drip"' "$IT_TMP/record")" -ge 2
finish
