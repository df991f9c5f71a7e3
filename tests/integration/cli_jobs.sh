#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test of the operator commands around jobs: `inboxq check` publishing check jobs
# (exit codes, --wait with outcomes written by a stand-in worker, the timeout, --all, Kafka
# down), `inboxq runs` on check_runs rows, and `inboxq status` (accounts, overdue checks,
# outbox, workers, consumer lag per partition, and Kafka down).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
for tool in kcat psql; do
	command -v "$tool" >/dev/null || { echo "cli_jobs.sh: $tool is missing" >&2; exit 1; }
done
"$PY" -c 'import jsonschema' 2>/dev/null || { echo "cli_jobs.sh: $PY cannot import jsonschema" >&2; exit 1; }

export INBOXQ_TOPIC_CHECK=it.cli.$$.check INBOXQ_TOPIC_REPORT=it.cli.$$.report
export INBOXQ_CONSUMER_GROUP=it.cli.$$.group INBOXQ_KAFKA_TIMEOUT=5s
export USER=it-operator
it_fresh_db
it_kafka_topics "$INBOXQ_TOPIC_CHECK" "$INBOXQ_TOPIC_REPORT"
it_master_key
cleanup() {
	psql -q "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE IF EXISTS $IT_DB WITH (FORCE)" >/dev/null 2>&1 || true
	it_cleanup
}
trap cleanup EXIT

sql() { PGOPTIONS='-c client_min_messages=warning' psql -qtAX -v ON_ERROR_STOP=1 "$INBOXQ_PG_DSN" -c "$1"; }
consume() { kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null; }
# run CODE CMD...: runs CMD with stdout in $IT_TMP/out and stderr in $IT_TMP/err; true when it
# exits CODE.
run() {
	local want=$1 rc=0
	shift
	timeout -s KILL 120 "$@" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
	[ "$rc" = "$want" ] || { echo "# '$*' exited $rc, expected $want: $(head -c 400 "$IT_TMP/err")" >&2; return 1; }
}
one_line_err() { [ "$(wc -l <"$IT_TMP/err")" -eq 1 ]; }

CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('cli', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f',
	'\\x00', 'test') RETURNING id")
acct() {
	sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
		active, next_check_at) VALUES ('$1', 'mail.example.org', 993, 'imap', $CRED, true, 'ssl', $2,
		now() + interval '1 hour') RETURNING id"
}
A1=$(acct alpha true)
A2=$(acct beta true)
A3=$(acct gamma false)
# an account's job lines on the check topic
jobs_for() { consume "$INBOXQ_TOPIC_CHECK" | awk -F'\t' -v k="$1" '$1 == k'; }

# --- (d) check: usage, unknown ids, publishing, --wait timing out --------------------------------
check "no ID: exit 64" run 64 inboxq check
# an account is its code or its name: 0 and abc name none (66, the one message)
check "ID 0: exit 66" run 66 inboxq check 0
check "ID abc: exit 66, one line" run 66 inboxq check abc
check "ID abc: one error line" one_line_err
check "ID abc: the one message" grep -q "check: no account has the code or name 'abc'; see 'inboxq account list'" "$IT_TMP/err"
check "IDs and --all: exit 64" run 64 inboxq check --all "$A1"
check "--timeout without --wait: exit 64" run 64 inboxq check "$A1" --timeout 2
check "--direct with --all: exit 64" run 64 inboxq check --direct --all
check "--format xml: exit 64" run 64 inboxq check "$A1" --format xml
check "unknown ID: exit 66" run 66 inboxq check "$A1" 999999
check "unknown ID: one error line naming it" grep -q "999999" "$IT_TMP/err"
check "unknown ID: nothing was published" test "$(consume "$INBOXQ_TOPIC_CHECK" | wc -l)" -eq 0
check "--direct still runs in-process (unknown ID: 66)" run 66 inboxq check 999999 --direct

t0=$(now_ms)
check "check ID --wait --timeout 2 without a worker: exit 75" run 75 inboxq check "$A1" --wait --timeout 2
ms=$(($(now_ms) - t0))
echo "# --wait --timeout 2 returned after $ms ms"
check "the timeout took 2 s, not much more" test "$ms" -ge 2000 -a "$ms" -lt 8000
JOB=$(awk 'NR == 1 && NF == 2 {print $2}' "$IT_TMP/out")
check "it printed 'ACCOUNT_ID JOB_ID' first" test -n "$JOB" -a "$(awk 'NR == 1 {print $1}' "$IT_TMP/out")" = "$A1"
check "then 'ACCOUNT_ID JOB_ID unfinished'" grep -qx "$A1 $JOB unfinished" "$IT_TMP/out"
check "the timeout is one error line" one_line_err
jobs_for "$A1" >"$IT_TMP/a1.jobs"
check "the job is on the check topic, keyed by the account" test "$(wc -l <"$IT_TMP/a1.jobs")" -eq 1
check "the job validates and says cli:\$USER, manual, its job id" "$PY" - "$IQ_SOURCE_DIR/schemas/json/check_job.v1.json" "$IT_TMP/a1.jobs" "$JOB" "$A1" <<'PYTHON'
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
v = Draft202012Validator(json.load(open(sys.argv[1])), format_checker=FormatChecker())
key, value = open(sys.argv[2]).readline().rstrip("\n").split("\t", 1)
j = json.loads(value)
errors = [e.message for e in v.iter_errors(j)]
ok = (not errors and j["requested_by"] == "cli:it-operator" and j["reason"] == "manual"
      and j["job_id"] == sys.argv[3] and j["account_id"] == int(sys.argv[4]) and key == sys.argv[4])
if not ok:
    print(errors, j, file=sys.stderr)
sys.exit(0 if ok else 1)
PYTHON

# --- check --wait with a stand-in worker writing check_runs ----------------------------------
# finish_runs FILE OUTCOME...: waits for the job lines in FILE, then records a finished run for
# each (in order) the way a worker does.
finish_runs() {
	local file=$1 i=0 line acc job outcome
	shift
	for _ in $(seq 100); do [ "$(wc -l <"$file")" -ge $# ] && break; sleep 0.1; done
	while read -r line; do
		acc=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["account_id"])' "$line")
		job=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["job_id"])' "$line")
		i=$((i + 1))
		outcome=${!i}
		if [ "$outcome" = ok ]; then
			sql "INSERT INTO check_runs (job_id, account_id, worker, started_at, finished_at, outcome,
				messages_new, messages_deleted, bytes, duration_ms, tls_version, requested_by)
				VALUES ('$job', $acc, 'stand-in', now(), now(), 'ok', 3, 1, 4096, 120, 'TLSv1.3', 'cli:it-operator')"
		else
			sql "INSERT INTO check_runs (job_id, account_id, worker, started_at, finished_at, outcome,
				error_class, error, duration_ms, requested_by) VALUES ('$job', $acc, 'stand-in', now(),
				now(), 'failed', 'auth', 'LOGIN rejected: bad password', 80, 'cli:it-operator')"
		fi
		sleep 0.3
	done < <(head -n $# "$file")
}
rc=0
inboxq check "$A1" "$A2" --wait --timeout 30 --format json >"$IT_TMP/w1.out" 2>"$IT_TMP/w1.err" &
WAITER=$!
finish_runs "$IT_TMP/w1.out" ok failed
wait "$WAITER" || rc=$?
check "--wait: one ok and one failed outcome -> exit 1 ($rc)" test "$rc" = 1
check "--wait --format json: 2 job lines, then 2 outcome lines" "$PY" - "$IT_TMP/w1.out" "$A1" "$A2" <<'PYTHON'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
a1, a2 = int(sys.argv[2]), int(sys.argv[3])
jobs, outs = lines[:2], lines[2:]
ok = (len(lines) == 4 and [j["account_id"] for j in jobs] == [a1, a2]
      and outs[0]["account_id"] == a1 and outs[0]["outcome"] == "ok" and outs[0]["messages_new"] == 3
      and outs[0]["messages_deleted"] == 1 and outs[0]["error_class"] is None
      and outs[1]["account_id"] == a2 and outs[1]["outcome"] == "failed"
      and outs[1]["error_class"] == "auth" and outs[1]["error"] == "LOGIN rejected: bad password"
      and {o["job_id"] for o in outs} == {j["job_id"] for j in jobs})
if not ok:
    print(lines, file=sys.stderr)
sys.exit(0 if ok else 1)
PYTHON
rc=0
inboxq check "$A2" --wait --timeout 30 >"$IT_TMP/w2.out" 2>"$IT_TMP/w2.err" &
WAITER=$!
for _ in $(seq 100); do [ -s "$IT_TMP/w2.out" ] && break; sleep 0.1; done
JOB2=$(awk 'NR == 1 {print $2}' "$IT_TMP/w2.out")
awk 'NR == 1 {printf "{\"account_id\":%s,\"job_id\":\"%s\"}\n", $1, $2}' "$IT_TMP/w2.out" >"$IT_TMP/w2.json"
finish_runs "$IT_TMP/w2.json" ok
wait "$WAITER" || rc=$?
check "--wait: all ok -> exit 0 ($rc)" test "$rc" = 0
check "--wait text: 'ACCOUNT JOB ok new=3 deleted=1'" grep -qx "$A2 $JOB2 ok new=3 deleted=1" "$IT_TMP/w2.out"

# --- --all, and Kafka down ---------------------------------------------------------------------
check "--all: exit 0" run 0 inboxq check --all
check "--all: one job per active account (not the inactive one)" \
	test "$(awk '{print $1}' "$IT_TMP/out" | sort -n | tr '\n' ' ')" = "$A1 $A2 "
check "Kafka unreachable: exit 69" \
	run 69 env INBOXQ_KAFKA_BROKERS=127.0.0.1:1 INBOXQ_KAFKA_TIMEOUT=1s inboxq check "$A1"
check "Kafka unreachable: the error names Kafka and the setting" grep -q "INBOXQ_KAFKA_BROKERS" "$IT_TMP/err"
check "Kafka unreachable: no job line printed" test ! -s "$IT_TMP/out"

# --- (e) runs ------------------------------------------------------------------------------------
sql "INSERT INTO check_runs (job_id, account_id, worker, started_at, finished_at, outcome,
	error_class, error, messages_new, messages_deleted, messages_skipped, bytes, tls_version,
	duration_ms, requested_by) VALUES
	('00000000-0000-4000-8000-000000000001', $A3, 'w1', now() - interval '2 hours',
	 now() - interval '2 hours' + interval '1.5 seconds', 'ok', NULL, NULL, 4, 0, 1, 12345,
	 'TLSv1.3', 1500, 'scheduler'),
	('00000000-0000-4000-8000-000000000002', $A3, 'w2', now() - interval '1 hour',
	 now() - interval '1 hour' + interval '75 seconds', 'failed', 'timeout',
	 'no answer within 30s', 0, 0, 0, 0, 'TLSv1.2', 75000, 'cli:alice'),
	('00000000-0000-4000-8000-000000000003', $A3, 'w1', now() - interval '3 seconds', NULL,
	 NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, 'scheduler')"
check "runs: exit 0" run 0 inboxq runs "$A3"
cp "$IT_TMP/out" "$IT_TMP/runs.txt"
check "runs: a header naming the account" grep -q "^account $A3 (gamma): 3 " "$IT_TMP/runs.txt"
order=$(grep -o '00000000-0000-4000-8000-00000000000[123]' "$IT_TMP/runs.txt" | tr '\n' ' ')
check "runs: newest first (running, failed, ok)" test "$order" = "00000000-0000-4000-8000-000000000003 00000000-0000-4000-8000-000000000002 00000000-0000-4000-8000-000000000001 "
check "runs: the running one says running" grep -q "running .*00000000-0000-4000-8000-000000000003" "$IT_TMP/runs.txt"
check "runs: the failed one shows duration, TLS, who and the error" \
	grep -Eq "1m15s +failed .*TLSv1\.2 +cli:alice +00000000-0000-4000-8000-000000000002 +timeout: no answer within 30s$" "$IT_TMP/runs.txt"
check "runs: the ok one shows counts, bytes and TLS" \
	grep -Eq "1\.5s +ok +4 +0 +1 +12\.1 KiB +TLSv1\.3 +scheduler" "$IT_TMP/runs.txt"
check "runs --format json: exit 0" run 0 inboxq runs "$A3" --format json
check "runs --format json: the fields" "$PY" - "$IT_TMP/out" <<'PYTHON'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"]
ok = (d["account_name"] == "gamma" and [x["outcome"] for x in r] == ["running", "failed", "ok"]
      and r[2]["messages_new"] == 4 and r[2]["messages_skipped"] == 1 and r[2]["bytes"] == 12345
      and r[2]["tls_version"] == "TLSv1.3" and r[2]["duration_ms"] == 1500
      and r[1]["error_class"] == "timeout" and r[1]["requested_by"] == "cli:alice"
      and r[0]["finished_at"] is None and r[1]["started_at"].endswith("Z"))
if not ok:
    print(d, file=sys.stderr)
sys.exit(0 if ok else 1)
PYTHON
check "runs --limit 1: only the newest" run 0 inboxq runs "$A3" --limit 1 --format json
check "runs --limit 1: one run" test "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["runs"]))' "$IT_TMP/out")" = 1
A5=$(acct epsilon true)
check "runs of an account never checked" run 0 inboxq runs "$A5"
check "runs of an account never checked: says so" grep -q "no checks recorded yet" "$IT_TMP/out"
check "runs of an unknown account: exit 66" run 66 inboxq runs 999999
check "runs abc: exit 66 (no such account)" run 66 inboxq runs abc
check "runs --limit 0: exit 64" run 64 inboxq runs "$A3" --limit 0

# --- (e) status ----------------------------------------------------------------------------------
A4=$(acct delta true)
sql "UPDATE mail_accounts SET last_status = 'failed', last_error_class = 'auth' WHERE id = $A1"
sql "UPDATE mail_accounts SET last_status = 'ok' WHERE id = $A2"
sql "UPDATE mail_accounts SET last_status = 'ok' WHERE id = $A3"
sql "UPDATE mail_accounts SET next_check_at = now() - interval '1 hour' WHERE id = $A4"
sql "INSERT INTO outbox (event_id, topic, key, payload, created_at, sent_at) VALUES
	('00000000-0000-4000-8000-0000000000a1', 't', '1', '{}', now() - interval '90 seconds', NULL),
	('00000000-0000-4000-8000-0000000000a2', 't', '1', '{}', now() - interval '10 seconds', NULL),
	('00000000-0000-4000-8000-0000000000a3', 't', '1', '{}', now() - interval '1 hour', now())"
sql "INSERT INTO workers (name, heartbeat_at, concurrency, jobs_in_flight, jobs_done) VALUES
	('worker:it:1', now(), 4, 2, 17), ('worker:it:old', now() - interval '5 minutes', 4, 0, 3)"
sql "INSERT INTO push_sessions (account_id, worker) VALUES ($A1, 'worker:it:1')"
checks_published=$(consume "$INBOXQ_TOPIC_CHECK" | wc -l)
check "status --format json: exit 0" run 0 inboxq status --format json
check "status json: accounts, overdue, outbox, workers, lag = every published job" \
	"$PY" - "$IT_TMP/out" "$A4" "$checks_published" "$INBOXQ_CONSUMER_GROUP" <<'PYTHON'
import json, sys
d = json.load(open(sys.argv[1]))
a, o, ob, w, k = d["accounts"], d["overdue"], d["outbox"], d["workers"], d["kafka"]
want_a = {"active": 4, "ok": 1, "failed": 1, "partial": 0, "never_checked": 2, "inactive": 1}
ok = (a == want_a and d["failures_by_class"] == {"auth": 1} and o["count"] == 1 and o["oldest_account_id"] == int(sys.argv[2])
      and o["oldest_account_name"] == "delta" and 3590000 <= o["oldest_overdue_ms"] <= 3700000
      and ob["pending"] == 2 and 89000 <= ob["oldest_pending_ms"] <= 120000
      and [x["name"] for x in w["live"]] == ["worker:it:1"] and w["stale"] == 1
      and w["live"][0]["jobs_in_flight"] == 2 and w["live"][0]["jobs_done"] == 17
      and w["live"][0]["push_connections"] == 1
      and k["available"] is True and k["group"] == sys.argv[4] and len(k["partitions"]) == 8
      and all(p["committed"] is None for p in k["partitions"])
      and k["total_lag"] == int(sys.argv[3]))
if not ok:
    print(json.dumps(d, indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)
PYTHON
echo "# $checks_published check jobs published so far, none consumed"

# The group consumes everything (kcat in the group commits on close), then 2 more jobs.
timeout -s KILL 60 kcat -b "$INBOXQ_KAFKA_BROKERS" -G "$INBOXQ_CONSUMER_GROUP" -X auto.offset.reset=earliest \
	-X enable.auto.commit=true -e -q "$INBOXQ_TOPIC_CHECK" >/dev/null 2>&1 || true
check "2 more jobs" run 0 inboxq check "$A1" "$A2"
check "status after the group consumed: exit 0" run 0 inboxq status --format json
check "status json: committed offsets read, lag = the 2 new jobs" "$PY" - "$IT_TMP/out" <<'PYTHON'
import json, sys
k = json.load(open(sys.argv[1]))["kafka"]
check = [p for p in k["partitions"] if p["topic"].endswith(".check")]
ok = (k["total_lag"] == 2 and any(p["committed"] is not None for p in check)
      and all(p["lag"] == (p["high"] - p["committed"] if p["committed"] is not None else p["high"] - p["low"])
              for p in k["partitions"]))
if not ok:
    print(json.dumps(k, indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)
PYTHON
check "status (table): exit 0" run 0 inboxq status
cp "$IT_TMP/out" "$IT_TMP/status.txt"
check "status table: accounts line" grep -q "^accounts: *4 active: 1 ok, 1 failed, 0 partial, 2 never checked (1 inactive" "$IT_TMP/status.txt"
check "status table: failures by error class" grep -q "^failures: *by error class: auth 1$" "$IT_TMP/status.txt"
check "status table: the oldest overdue check" grep -Eq "^overdue: *1 check\(s\); oldest: account $A4 \(delta\), (59m5[0-9]s|1h00m) overdue" "$IT_TMP/status.txt"
check "status table: outbox" grep -Eq "^outbox: *2 event\(s\) pending, oldest 1m(29|3[0-9])s old" "$IT_TMP/status.txt"
check "status table: live workers" grep -q "^workers: *1 live" "$IT_TMP/status.txt"
check "status table: the worker's row" grep -Eq "^  worker:it:1 +4 +2 +17 " "$IT_TMP/status.txt"
check "status table: lag" grep -q "^kafka: *consumer lag of group $INBOXQ_CONSUMER_GROUP: 2 job(s) in all" "$IT_TMP/status.txt"
check "status table: 8 partition rows" test "$(grep -c "^  it\.cli\.$$\.\(check\|report\) " "$IT_TMP/status.txt")" -eq 8

check "status with Kafka down: exit 0" \
	run 0 env INBOXQ_KAFKA_BROKERS=127.0.0.1:1 INBOXQ_KAFKA_TIMEOUT=1s inboxq status
check "status with Kafka down: still the PostgreSQL parts" grep -q "^accounts: *4 active" "$IT_TMP/out"
check "status with Kafka down: says Kafka is unavailable" grep -q "^kafka: *unavailable" "$IT_TMP/out"
check "status with Kafka down: one warning line" test "$(grep -c "warning: Kafka is unavailable" "$IT_TMP/err")" -eq 1 -a "$(wc -l <"$IT_TMP/err")" -eq 1
check "status json with Kafka down: available false" \
	run 0 env INBOXQ_KAFKA_BROKERS=127.0.0.1:1 INBOXQ_KAFKA_TIMEOUT=1s inboxq status --format json
check "status json with Kafka down: available false" \
	test "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kafka"]["available"])' "$IT_TMP/out")" = False

finish
