#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test of inboxq-scheduler on the harness's PostgreSQL and dev broker: two schedulers
# at once never send a due check twice, next check times get jitter and backoff, nothing moves
# when Kafka does not confirm (unreachable at start, or gone while running), SIGTERM in the
# middle of a batch finishes that batch, and a due report schedule yields a reports row plus a report job that validates against its JSON Schema.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
for tool in kcat psql; do
	command -v "$tool" >/dev/null || { echo "scheduler.sh: $tool is missing" >&2; exit 1; }
done
"$PY" -c 'import jsonschema' 2>/dev/null || { echo "scheduler.sh: $PY cannot import jsonschema" >&2; exit 1; }

# A topic set of our own: no other test's messages, none of ours elsewhere.
export INBOXQ_TOPIC_CHECK=it.sched.$$.check INBOXQ_TOPIC_REPORT=it.sched.$$.report
export INBOXQ_KAFKA_TIMEOUT=5s
it_fresh_db
it_kafka_topics "$INBOXQ_TOPIC_CHECK" "$INBOXQ_TOPIC_REPORT"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait_exit "$p" 10; done
	psql -q "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE IF EXISTS $IT_DB WITH (FORCE)" >/dev/null 2>&1 || true
	it_cleanup
}
trap cleanup EXIT

sql() { PGOPTIONS='-c client_min_messages=warning' psql -qtAX -v ON_ERROR_STOP=1 "$INBOXQ_PG_DSN" -c "$1"; }
# consume TOPIC [BROKERS]: every message of the topic as "key<TAB>value" lines.
consume() { kcat -b "${2:-$INBOXQ_KAFKA_BROKERS}" -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null; }
# wait_exit PID SECONDS: sets RC to the process's exit status, or 124 after SECONDS (it is
# killed then). Not in a $(...) subshell: only this shell can wait for its children.
wait_exit() {
	local pid=$1 i
	RC=0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" || RC=$?; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	RC=124
}
# validate KIND FILE: every "key<TAB>json" line of FILE validates against schemas/json/KIND.v1.json.
validate() {
	"$PY" - "$IQ_SOURCE_DIR/schemas/json/$1.v1.json" "$2" <<'PYTHON'
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
v = Draft202012Validator(json.load(open(sys.argv[1])), format_checker=FormatChecker())
bad = 0
for line in open(sys.argv[2]):
    key, value = line.rstrip("\n").split("\t", 1)
    for e in v.iter_errors(json.loads(value)):
        print(f"key {key}: {e.message}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PYTHON
}

CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('sched', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f',
	'\\x00', 'test') RETURNING id")
# add_accounts PREFIX N ACTIVE AUTO_CHECK INTERVAL NEXT_CHECK_SQL
add_accounts() {
	sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
		active, auto_check, check_interval_s, next_check_at)
		SELECT '$1-' || g, 'mail.example.org', 993, 'imap', $CRED, true, 'ssl', $3, $4, $5, $6
		FROM generate_series(1, $2) g"
}
add_accounts due 200 true true 600 "now() - g * interval '1 second'"
add_accounts inactive 10 false true 600 "now() - interval '1 minute'"
add_accounts manual 10 true false 600 "now() - interval '1 minute'"
add_accounts later 10 true true 600 "now() + interval '1 hour'"
# Failing accounts back off: 3 failures on a 60 s interval -> 480 s; 10 -> the 1 h cap;
# 10 authentication failures -> the 6 h cap.
add_accounts backoff 3 true true 60 "now() - interval '1 minute'"
sql "UPDATE mail_accounts SET consecutive_failures = 3, last_status = 'failed',
	last_error_class = 'timeout' WHERE name = 'backoff-1'"
sql "UPDATE mail_accounts SET consecutive_failures = 10, last_status = 'failed',
	last_error_class = 'connect' WHERE name = 'backoff-2'"
sql "UPDATE mail_accounts SET consecutive_failures = 10, last_status = 'failed',
	last_error_class = 'auth' WHERE name = 'backoff-3'"
sql "SELECT id FROM mail_accounts WHERE name LIKE 'due-%' OR name LIKE 'backoff-%' ORDER BY id" >"$IT_TMP/due.ids"
sql "SELECT id || ' ' || next_check_at FROM mail_accounts WHERE name NOT LIKE 'due-%'
	AND name NOT LIKE 'backoff-%' ORDER BY id" >"$IT_TMP/untouched.before"

# --- (a) two schedulers at once, small batches, for 3 s ----------------------------------------
t0=$(now_ms)
for n in 1 2; do
	INBOXQ_SCHEDULER_BATCH=7 INBOXQ_SCHEDULER_TICK=200ms \
		inboxq-scheduler --log-level info 2>"$IT_TMP/sched$n.log" &
	PIDS+=($!)
done
sleep 3
kill -TERM "${PIDS[0]}" "${PIDS[1]}"
wait_exit "${PIDS[0]}" 15
rc1=$RC
wait_exit "${PIDS[1]}" 15
rc2=$RC
PIDS=()
check "two schedulers stop on SIGTERM with exit 0 ($rc1, $rc2)" test "$rc1" = 0 -a "$rc2" = 0
n1=$(grep -o 'stopped: [0-9]*' "$IT_TMP/sched1.log" | grep -o '[0-9]*$' || echo 0)
n2=$(grep -o 'stopped: [0-9]*' "$IT_TMP/sched2.log" | grep -o '[0-9]*$' || echo 0)
echo "# scheduler 1 dispatched $n1, scheduler 2 dispatched $n2"
check "the two schedulers' counts add up to the 203 due accounts" test $((n1 + n2)) -eq 203

consume "$INBOXQ_TOPIC_CHECK" >"$IT_TMP/checks"
verdict=0
"$PY" - "$IT_TMP/checks" "$IT_TMP/due.ids" >"$IT_TMP/checks.verdict" <<'PYTHON' || verdict=$?
import collections, json, sys
due = set(int(x) for x in open(sys.argv[2]).read().split())
seen = collections.Counter()
bad = []
for line in open(sys.argv[1]):
    key, value = line.rstrip("\n").split("\t", 1)
    job = json.loads(value)
    seen[job["account_id"]] += 1
    if key != str(job["account_id"]):
        bad.append(f"key {key} != account_id {job['account_id']}")
    if job["requested_by"] != "scheduler" or job["reason"] != "scheduled":
        bad.append(f"job {job['job_id']}: requested_by {job['requested_by']}, reason {job['reason']}")
twice = sorted(a for a, n in seen.items() if n > 1)
missing = sorted(due - set(seen))
extra = sorted(set(seen) - due)
print(f"jobs={sum(seen.values())} accounts={len(seen)} twice={twice[:5]} missing={missing[:5]} extra={extra[:5]} bad={bad[:3]}")
sys.exit(0 if not twice and not missing and not extra and not bad else 1)
PYTHON
echo "# $(cat "$IT_TMP/checks.verdict")"
check "every due account got exactly one check job, none other got any" test "$verdict" = 0
check "203 check jobs on the topic" test "$(wc -l <"$IT_TMP/checks")" -eq 203
check "the check jobs validate against check_job.v1.json" validate check_job "$IT_TMP/checks"

# next_check_at: interval ± 10% after the dispatch, spread out (jitter), not all equal.
read -r lo hi distinct spread < <(sql "SELECT min(s), max(s), count(DISTINCT s), max(s) - min(s) FROM (
	SELECT extract(epoch FROM next_check_at - now())::int AS s FROM mail_accounts
	WHERE name LIKE 'due-%') x" | tr '|' ' ')
echo "# due accounts now next due in ${lo}..${hi} s (${distinct} distinct seconds, spread ${spread} s)"
elapsed=$((($(now_ms) - t0) / 1000 + 2))
check "next checks lie within the 600 s interval ± 10%" test "$lo" -ge $((540 - elapsed)) -a "$hi" -le 660
check "next checks are spread by jitter (> 60 distinct seconds, spread > 60 s)" test "$distinct" -gt 60 -a "$spread" -gt 60
b1=$(sql "SELECT extract(epoch FROM next_check_at - now())::int FROM mail_accounts WHERE name = 'backoff-1'")
b2=$(sql "SELECT extract(epoch FROM next_check_at - now())::int FROM mail_accounts WHERE name = 'backoff-2'")
b3=$(sql "SELECT extract(epoch FROM next_check_at - now())::int FROM mail_accounts WHERE name = 'backoff-3'")
echo "# backoff: 3 failures -> ${b1} s, 10 failures -> ${b2} s, 10 auth failures -> ${b3} s"
check "3 failures on 60 s back off to 480 s ± 10%" test "$b1" -ge $((432 - elapsed)) -a "$b1" -le 528
check "10 failures back off to the 1 h cap ± 5 min" test "$b2" -ge $((3300 - elapsed)) -a "$b2" -le 3900
check "10 authentication failures back off to the 6 h cap ± 5 min" test "$b3" -ge $((21300 - elapsed)) -a "$b3" -le 21900
sql "SELECT id || ' ' || next_check_at FROM mail_accounts WHERE name NOT LIKE 'due-%'
	AND name NOT LIKE 'backoff-%' ORDER BY id" >"$IT_TMP/untouched.after"
check "inactive, manual-only and not-yet-due accounts were left alone" \
	cmp -s "$IT_TMP/untouched.before" "$IT_TMP/untouched.after"

# --- (b) Kafka unreachable: nothing moves --------------------------------------------------------
sql "UPDATE mail_accounts SET next_check_at = now() - interval '1 minute' WHERE name IN ('due-1', 'due-2', 'due-3')"
snap() { sql "SELECT id || ' ' || next_check_at FROM mail_accounts ORDER BY id"; }
snap >"$IT_TMP/b.before"
rc=0
INBOXQ_KAFKA_BROKERS=127.0.0.1:1 INBOXQ_KAFKA_TIMEOUT=1s timeout -s KILL 60 inboxq-scheduler --once >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
check "Kafka unreachable at start: exit 69 ($rc)" test "$rc" = 69
check "Kafka unreachable at start: one error line naming Kafka" \
	test "$(wc -l <"$IT_TMP/err")" -eq 1 -a "$(grep -c -i kafka "$IT_TMP/err")" -eq 1
snap >"$IT_TMP/b.after"
check "Kafka unreachable at start: no next_check_at moved" cmp -s "$IT_TMP/b.before" "$IT_TMP/b.after"

# A broker of our own that dies while the scheduler runs.
"$IQ_BIN_DIR/inboxq-devbroker" --bootstrap-file "$IT_TMP/own.bootstrap" >/dev/null 2>"$IT_TMP/own.log" &
BROKER=$!
PIDS+=("$BROKER")
for _ in $(seq 50); do [ -s "$IT_TMP/own.bootstrap" ] && break; sleep 0.1; done
OWN=$(tr -d ' \n' <"$IT_TMP/own.bootstrap")
rport=$((INBOXQ_TEST_PG_PORT + 81)) # free: 93-94 are report_sweep's
readyz() { $PY -c 'import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
except Exception:
    print(0)' "http://127.0.0.1:$rport/readyz" 2>/dev/null; }
INBOXQ_KAFKA_BROKERS=$OWN INBOXQ_KAFKA_TIMEOUT=1s INBOXQ_SCHEDULER_TICK=200ms \
	inboxq-scheduler --log-level info --metrics-listen "127.0.0.1:$rport" 2>"$IT_TMP/sched3.log" &
SCHED=$!
PIDS+=("$SCHED")
for _ in $(seq 50); do
	[ "$(sql "SELECT count(*) FROM mail_accounts WHERE name IN ('due-1', 'due-2', 'due-3') AND next_check_at > now()")" = 3 ] && break
	sleep 0.1
done
check "with its broker up, the scheduler's /readyz is 200 ($(readyz))" test "$(readyz)" = 200
check "with its broker up, the running scheduler dispatches the 3 due accounts" \
	test "$(consume "$INBOXQ_TOPIC_CHECK" "$OWN" | wc -l)" -eq 3
kill -TERM "$BROKER"
wait "$BROKER" 2>/dev/null || true
sql "UPDATE mail_accounts SET next_check_at = now() - interval '1 minute' WHERE name IN ('due-4', 'due-5')"
snap >"$IT_TMP/b2.before"
sleep 5
snap >"$IT_TMP/b2.after"
check "broker gone: the scheduler keeps running" kill -0 "$SCHED"
check "broker gone: no next_check_at moved in 5 s of ticks" cmp -s "$IT_TMP/b2.before" "$IT_TMP/b2.after"
check "broker gone: the log says the jobs were not confirmed" grep -q "not confirmed by Kafka" "$IT_TMP/sched3.log"
# README: /readyz is ready only with PostgreSQL and Kafka reachable
r=$(readyz)
check "broker gone: the scheduler's /readyz is 503 and says Kafka ($r)" grep -q '^503 .*Kafka' <<<"$r"
kill -TERM "$SCHED"
wait_exit "$SCHED" 20
rc=$RC
PIDS=()
check "broker gone: SIGTERM still ends the scheduler with exit 0 ($rc)" test "$rc" = 0

# --- (c) SIGTERM in the middle of a batch: the batch is finished, then the scheduler stops ------
# The broker is frozen (SIGSTOP) while the scheduler waits for it to confirm a batch, so the
# signal lands while the batch's claims are held; the README says it finishes that batch.
"$IQ_BIN_DIR/inboxq-devbroker" --bootstrap-file "$IT_TMP/own2.bootstrap" >/dev/null 2>"$IT_TMP/own2.log" &
BROKER=$!
PIDS+=("$BROKER")
for _ in $(seq 50); do [ -s "$IT_TMP/own2.bootstrap" ] && break; sleep 0.1; done
OWN=$(tr -d ' \n' <"$IT_TMP/own2.bootstrap")
sql "UPDATE mail_accounts SET next_check_at = now() + interval '1 hour'"
INBOXQ_KAFKA_BROKERS=$OWN INBOXQ_KAFKA_TIMEOUT=60s INBOXQ_SCHEDULER_TICK=200ms \
	inboxq-scheduler --log-level info 2>"$IT_TMP/sched4.log" &
SCHED=$!
PIDS+=("$SCHED")
sleep 1 # connected, nothing due
kill -STOP "$BROKER"
sql "UPDATE mail_accounts SET next_check_at = now() - interval '1 minute' WHERE name LIKE 'due-%'"
# claimed = held by the scheduler's open transaction (this probe skips locked rows)
free_due() { sql "SELECT count(*) FROM (SELECT 1 FROM mail_accounts WHERE name LIKE 'due-%'
	FOR UPDATE SKIP LOCKED) x"; }
for _ in $(seq 100); do [ "$(free_due)" = 0 ] && break; sleep 0.1; done
check "with the broker frozen, the scheduler holds all 200 due accounts in an open batch" test "$(free_due)" = 0
kill -TERM "$SCHED"
sleep 1
check "SIGTERM during the batch: the scheduler is still finishing it" kill -0 "$SCHED"
kill -CONT "$BROKER"
wait_exit "$SCHED" 30
rc=$RC
check "SIGTERM during the batch: exit 0 once the batch is done ($rc)" test "$rc" = 0
check "the log says it finished the current batch before stopping" \
	grep -q "finishing the current batch, then stopping" "$IT_TMP/sched4.log"
check "all 200 claimed accounts moved on (their jobs were confirmed)" \
	test "$(sql "SELECT count(*) FROM mail_accounts WHERE name LIKE 'due-%' AND next_check_at > now()")" = 200
consume "$INBOXQ_TOPIC_CHECK" "$OWN" | cut -f1 | sort | uniq -c | awk '{print $1}' | sort | uniq -c >"$IT_TMP/d.counts"
check "the frozen broker got exactly one check job for each of the 200 ($(tr '\n' ' ' <"$IT_TMP/d.counts"))" \
	test "$(tr -s ' ' <"$IT_TMP/d.counts" | sed 's/^ //')" = "200 1"
kill -TERM "$BROKER"
wait "$BROKER" 2>/dev/null || true
PIDS=()

# --- (d) report schedules ------------------------------------------------------------------------
sql "UPDATE mail_accounts SET next_check_at = now() + interval '1 hour'"
# The "*/5" schedule below must not straddle a 5-minute mark: run just before one, the next run
# is a moment away and already due again when this part checks. Wait such a moment out.
while (( $(date +%s) % 300 > 280 )); do sleep 1; done
SID=$(sql "INSERT INTO report_schedules (name, cron, format, lang, filters, next_run_at)
	VALUES ('every5', '*/5 * * * *', 'csv', 'pt-BR', '{\"secure\": true, \"name\": \"due\"}',
	now() - interval '1 minute') RETURNING id")
OFF=$(sql "INSERT INTO report_schedules (name, cron, format, lang, filters, next_run_at, active)
	VALUES ('off', '0 3 * * *', 'pdf', 'en', '{}', now() - interval '1 minute', false) RETURNING id")
BAD=$(sql "INSERT INTO report_schedules (name, cron, format, lang, filters, next_run_at)
	VALUES ('broken', '61 * * * *', 'html', 'en', '{}', now() - interval '1 minute') RETURNING id")
rc=0
timeout -s KILL 60 inboxq-scheduler --once >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
check "--once with one usable due schedule: exit 0 ($rc)" test "$rc" = 0
check "--once prints 'dispatched 0 checks, 1 reports'" grep -qx "dispatched 0 checks, 1 reports" "$IT_TMP/out"
row=$(sql "SELECT id, status, format, lang, filters = '{\"name\": \"due\", \"secure\": true}'::jsonb,
	requested_by, job_id FROM reports WHERE schedule_id = $SID")
IFS='|' read -r RID status fmt lang filters_ok by job_id <<<"$row"
check "a pending reports row for the schedule (csv, pt-BR, its filters, by scheduler)" \
	test "$status|$fmt|$lang|$filters_ok|$by" = "pending|csv|pt-BR|t|scheduler"
check "exactly one reports row in all" test "$(sql "SELECT count(*) FROM reports")" = 1
consume "$INBOXQ_TOPIC_REPORT" >"$IT_TMP/reports"
check "one report job on the report topic" test "$(wc -l <"$IT_TMP/reports")" -eq 1
check "the report job validates against report_job.v1.json" validate report_job "$IT_TMP/reports"
check "the report job matches its row (key, ids, format, filters)" "$PY" - "$IT_TMP/reports" "$RID" "$job_id" "$SID" <<'PYTHON'
import json, sys
key, value = open(sys.argv[1]).readline().rstrip("\n").split("\t", 1)
j = json.loads(value)
want = {"report_id": int(sys.argv[2]), "job_id": sys.argv[3], "schedule_id": int(sys.argv[4]),
        "format": "csv", "lang": "pt-BR", "filters": {"name": "due", "secure": True},
        "requested_by": "scheduler"}
bad = {k: (j.get(k), v) for k, v in want.items() if j.get(k) != v}
if key != sys.argv[2] or bad:
    print("mismatch:", key, bad, file=sys.stderr)
    sys.exit(1)
PYTHON
read -r mod ahead last_age < <(sql "SELECT extract(epoch FROM next_run_at)::bigint % 300,
	extract(epoch FROM next_run_at - now())::int, extract(epoch FROM now() - last_run_at)::int
	FROM report_schedules WHERE id = $SID" | tr '|' ' ')
check "next_run_at advanced to the next 5-minute mark (in ${ahead} s)" test "$mod" = 0 -a "$ahead" -gt 0 -a "$ahead" -le 300
check "last_run_at set" test "$last_age" -le 30
check "the inactive schedule was not run" test "$(sql "SELECT count(*) FROM report_schedules WHERE id = $OFF AND next_run_at < now() AND last_run_at IS NULL")" = 1
check "the schedule with a bad cron is put off an hour, with an error logged" \
	test "$(sql "SELECT extract(epoch FROM next_run_at - now())::int / 60 FROM report_schedules WHERE id = $BAD")" -ge 58
check "the bad cron is named in the log" grep -q "report schedule $BAD (broken)" "$IT_TMP/err"
rc=0
timeout -s KILL 60 inboxq-scheduler --once >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
check "a second --once finds nothing due" grep -qx "dispatched 0 checks, 0 reports" "$IT_TMP/out"

finish
