#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The scheduler's report sweeper on the harness's PostgreSQL and dev broker. A reports row whose
# job never reached Kafka (as a crash between the row's commit and the broker's confirmation
# leaves it) is published again and rendered exactly once; so is one left running by a worker
# that is gone, while one running on a live worker is left alone. Without a worker the report is
# marked failed after report_sweep_attempts, with a message saying so, and the metrics count it.
# Two schedulers never both publish one report; a late original job, and copies of a job handled
# by two workers at once, render nothing twice.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
for tool in kcat psql; do
	command -v "$tool" >/dev/null || { echo "report_sweep.sh: $tool is missing" >&2; exit 1; }
done
"$PY" -c 'import jsonschema' 2>/dev/null || { echo "report_sweep.sh: $PY cannot import jsonschema" >&2; exit 1; }

it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_SCHEDULER_TICK=200ms INBOXQ_KAFKA_TIMEOUT=1s INBOXQ_CONCURRENCY=2
trap 'it_stop_all; psql -q "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE IF EXISTS $IT_DB WITH (FORCE)" >/dev/null 2>&1 || true; it_cleanup' EXIT

sql() { PGOPTIONS='-c client_min_messages=warning' psql -qtAX -v ON_ERROR_STOP=1 "$INBOXQ_PG_DSN" -c "$1"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
# consume TOPIC: every message of the topic as "key<TAB>value" lines.
consume() { kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null || true; }
# metrics PORT: the /metrics page of a process of ours.
metrics() { "$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$1/metrics"; }
# metric PORT NAME: the value of an unlabelled sample ("" when absent).
metric() { metrics "$1" 2>/dev/null | awk -v n="$2" '$1 == n {print $2}'; }
# counted REPUBLISHED GIVEN_UP: the two schedulers of part (a) counted that many in all.
counted() {
	local r1 r2 g1 g2
	r1=$(metric "$sport" inboxq_scheduler_reports_republished_total)
	r2=$(metric $((sport + 1)) inboxq_scheduler_reports_republished_total)
	g1=$(metric "$sport" inboxq_scheduler_reports_given_up_total)
	g2=$(metric $((sport + 1)) inboxq_scheduler_reports_given_up_total)
	[ -n "$r1" ] && [ -n "$r2" ] && [ -n "$g1" ] && [ -n "$g2" ] &&
		[ $((r1 + r2)) -eq "$1" ] && [ $((g1 + g2)) -eq "$2" ]
}
# is REPORT STATUS
is() { [ "$(sql "SELECT status FROM reports WHERE id = $1")" = "$2" ]; }
# logged COUNT PATTERN: the workers' logs hold COUNT lines matching PATTERN.
logged() { [ "$(cat "$IT_TMP"/worker*.log | grep -c -- "$2")" -eq "$1" ]; }
# logged_min COUNT PATTERN: at least COUNT such lines (a rebalance may hand a job over twice).
logged_min() { [ "$(cat "$IT_TMP"/worker*.log | grep -c -- "$2")" -ge "$1" ]; }
# add_row AGE [STATUS CLAIMED_BY]: a reports row as a crash leaves it, created AGE ago.
add_row() {
	local claim="NULL, NULL, NULL"
	[ -n "${3:-}" ] && claim="'$3', now() - interval '$1', '$(uuid)'"
	sql "INSERT INTO reports (job_id, format, lang, filters, status, requested_by, created_at,
		claimed_by, claimed_at, claim)
		VALUES ('$(uuid)', 'csv', 'en', '{\"secure\": true}', '${2:-pending}', 'cli:crash',
		now() - interval '$1', $claim) RETURNING id"
}

CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('sweep', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f',
	'\\x00', 'test') RETURNING id")
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
	auto_check) SELECT 'sweep-' || g, 'mail.example.org', 993, 'imap', $CRED, g % 3 <> 0,
	CASE WHEN g % 3 <> 0 THEN 'ssl' END, false FROM generate_series(1, 3000) g"

# --- (a) no worker: published again report_sweep_attempts times, then failed ------------------
GIVEUP=$(add_row "1 hour")
GONE=$(add_row "1 hour" running "worker:gone:1")
# A worker that is alive (heartbeat in the future keeps it fresh for the whole test), rendering.
sql "INSERT INTO workers (name, started_at, heartbeat_at, concurrency)
	VALUES ('worker:busy:1', now() - interval '2 hours', now() + interval '1 hour', 1)"
BUSY=$(add_row "1 hour" running "worker:busy:1")
# Reborn: same name as a dead worker, but the process started after the claim.
sql "INSERT INTO workers (name, started_at, heartbeat_at, concurrency)
	VALUES ('worker:reborn:1', now(), now() + interval '1 hour', 1)"
REBORN=$(add_row "1 hour" running "worker:reborn:1")
sport=$((INBOXQ_TEST_PG_PORT + 93))
for n in 0 1; do
	INBOXQ_REPORT_SWEEP_AFTER=3s INBOXQ_REPORT_SWEEP_ATTEMPTS=2 \
		it_spawn "sched-a$n" inboxq-scheduler --metrics-listen "127.0.0.1:$((sport + n))"
done
it_wait_for 60 "without a worker, report $GIVEUP ends failed" is "$GIVEUP" failed
it_wait_for 20 "...and so does report $GONE (left running by a gone worker)" is "$GONE" failed
it_wait_for 20 "the schedulers' metrics count 6 republished jobs and 3 given up" counted 6 3
it_stop_all
err=$(sql "SELECT error FROM reports WHERE id = $GIVEUP")
echo "# report $GIVEUP: $err"
check "the error says no worker took it and it gave up after 2 republished jobs" \
	grep -q "no worker took its job; gave up after publishing its job again 2 time(s), 3s apart" <<<"$err"
check "the error of the gone worker's report names that" \
	grep -q "its worker worker:gone:1 stopped while rendering it; gave up after publishing its job again 2 time(s)" \
	<<<"$(sql "SELECT error FROM reports WHERE id = $GONE")"
check "report $GIVEUP: republished 2, finished, no output" \
	test "$(sql "SELECT republished, finished_at IS NOT NULL, output IS NULL FROM reports WHERE id = $GIVEUP")" = "2|t|t"
check "report $BUSY, running on a live worker, was left alone" \
	test "$(sql "SELECT status, republished FROM reports WHERE id = $BUSY")" = "running|0"
check "report $REBORN, claimed before its worker's name was reused, was swept too" \
	test "$(sql "SELECT status FROM reports WHERE id = $REBORN")" = failed
consume "$INBOXQ_TOPIC_REPORT" >"$IT_TMP/jobs.a"
check "2 jobs each for the three stuck reports (no scheduler published one twice), none other" \
	test "$(cut -f1 "$IT_TMP/jobs.a" | sort | uniq -c | awk '{print $1 ":" $2}' | sort | tr '\n' ' ')" = \
	"$(printf '2:%s\n' "$GIVEUP" "$GONE" "$REBORN" | sort | tr '\n' ' ')"
check "the republished jobs carry their report's job_id and validate against report_job.v1.json" \
	"$PY" - "$IQ_SOURCE_DIR/schemas/json/report_job.v1.json" "$IT_TMP/jobs.a" \
	"$(sql "SELECT string_agg(id || '=' || job_id, ',') FROM reports")" <<'PYTHON'
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
v = Draft202012Validator(json.load(open(sys.argv[1])), format_checker=FormatChecker())
ids = dict(x.split("=") for x in sys.argv[3].split(","))
bad = 0
for line in open(sys.argv[2]):
    key, value = line.rstrip("\n").split("\t", 1)
    job = json.loads(value)
    for e in v.iter_errors(job):
        print(f"key {key}: {e.message}", file=sys.stderr)
        bad += 1
    if str(job["report_id"]) != key or job["job_id"] != ids[key] or job["filters"] != {"secure": True}:
        print(f"key {key}: {job}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PYTHON

# --- (b) with workers: a lost job is rendered exactly once ----------------------------------
# The failed reports' jobs are still on the topic: the workers must leave them failed.
LOST=$(add_row "1 hour")
LOST_JOB=$(sql "SELECT job_id FROM reports WHERE id = $LOST")
GONE2=$(add_row "1 hour" running "worker:gone:2")
for n in 1 2; do it_spawn "worker$n" inboxq-worker; done
for n in 1 2; do
	INBOXQ_REPORT_SWEEP_AFTER=60s INBOXQ_REPORT_SWEEP_ATTEMPTS=3 \
		it_spawn "sched-b$n" inboxq-scheduler
done
it_wait_for 60 "the lost report $LOST is rendered" is "$LOST" done
it_wait_for 30 "the report $GONE2 its worker left running is rendered" is "$GONE2" done
want=$(sql "SELECT count(*) FROM mail_accounts WHERE secure")
check "report $LOST: done, $want rows, republished once, claimed by a worker" \
	test "$(sql "SELECT rows, republished, claimed_by LIKE 'worker:%' FROM reports WHERE id = $LOST")" = "$want|1|t"
# The original job finally arrives (same job_id, as the CLI or scheduler built it).
finished=$(sql "SELECT finished_at FROM reports WHERE id = $LOST")
skips=$(cat "$IT_TMP"/worker*.log | grep -c -- "report $LOST is already done; job $LOST_JOB skipped" || true)
printf '{"schema":"inboxq.report_job.v1","job_id":"%s","report_id":%s,"format":"csv","lang":"en","filters":{"secure":true},"schedule_id":null,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:crash"}' \
	"$LOST_JOB" "$LOST" | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_REPORT" -k "$LOST"
it_wait_for 30 "a worker skips the late original job of report $LOST" \
	logged_min $((skips + 1)) "report $LOST is already done; job $LOST_JOB skipped"
check "report $LOST was rendered exactly once" logged 1 "report $LOST rendered"
check "the late job changed nothing" test "$(sql "SELECT finished_at FROM reports WHERE id = $LOST")" = "$finished"
it_wait_for 30 "the workers skip the jobs of the reports that failed" \
	logged_min 6 "report \($GIVEUP\|$GONE\|$REBORN\) is already failed"
check "the failed reports' jobs were not rendered (failed is final)" \
	test "$(sql "SELECT count(*) FROM reports WHERE id IN ($GIVEUP, $GONE, $REBORN) AND status = 'failed' AND output IS NULL")" -eq 3

# Copies of one job under different keys (different partitions): two workers with two slots
# each may take them at once; one renders, the others skip.
DUP=$(sql "INSERT INTO reports (job_id, format, lang, filters, requested_by)
	VALUES ('$(uuid)', 'pdf', 'en', '{}', 'cli:dup') RETURNING id")
DUP_JOB=$(sql "SELECT job_id FROM reports WHERE id = $DUP")
for k in a b c d e f; do
	printf '{"schema":"inboxq.report_job.v1","job_id":"%s","report_id":%s,"format":"pdf","lang":"en","filters":{},"schedule_id":null,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:dup"}' \
		"$DUP_JOB" "$DUP" >"$IT_TMP/dup.$k"
done
kcats=()
for k in a b c d e f; do
	kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_REPORT" -k "dup-$k" "$IT_TMP/dup.$k" &
	kcats+=("$!")
done
for p in "${kcats[@]}"; do wait "$p" || true; done
it_wait_for 60 "report $DUP is rendered" is "$DUP" done
it_wait_for 30 "the 5 other copies of its job are skipped" logged_min 5 "report $DUP is already"
check "report $DUP was rendered exactly once from 6 copies of its job" logged 1 "report $DUP rendered"
check "report $DUP holds a PDF of every account" \
	test "$(sql "SELECT rows, substr(output, 1, 5) = '%PDF-' FROM reports WHERE id = $DUP")" = "3000|t"
check "no report was republished in part (b) beyond the two stuck ones" \
	test "$(sql "SELECT count(*) FROM reports WHERE republished > 0 AND id NOT IN ($GIVEUP, $GONE, $REBORN)")" -eq 2
it_stop_all
check "no worker reported a result dropped (no claim was taken over)" logged 0 "was taken over"
finish
