#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark: N due accounts (default 10,000) in a scratch database, one `inboxq-scheduler --once`
# timed from start to exit (PostgreSQL claims, check jobs confirmed by the dev broker, next check
# times written), then the topic is read back to verify one job per account. Target: under 2 s.
# Usage: bench/scheduler-dispatch.sh [--accounts N] [--runs R] [--bin DIR] [--out FILE]
# Writes bench/results/scheduler-dispatch-YYYYmmdd-HHMM.md (or --out FILE) with the commit and load.
# Needs the test harness's PostgreSQL and dev broker: tests/harness/start pg kafka, with
# INBOXQ_TEST_DIR set (or --dir's default /tmp/inboxq-harness), and kcat.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${IQ_BIN_DIR:-$HERE/../build/bin}
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
OUT=
N=10000
RUNS=1
TARGET_MS=2000
while (($#)); do
	case $1 in
	--accounts) N=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "scheduler-dispatch.sh: unknown argument '$1'" >&2; exit 64 ;;
	esac
done
[[ $N =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "scheduler-dispatch.sh: --accounts and --runs take positive numbers" >&2; exit 64; }
TEST_DIR=${INBOXQ_TEST_DIR:-/tmp/inboxq-harness}
[[ -f $TEST_DIR/env ]] || { echo "scheduler-dispatch.sh: no harness at $TEST_DIR; run tests/harness/start pg kafka" >&2; exit 69; }
[[ -x $BIN/inboxq-scheduler ]] || { echo "scheduler-dispatch.sh: no inboxq-scheduler in $BIN; build first or pass --bin" >&2; exit 69; }
command -v kcat >/dev/null || { echo "scheduler-dispatch.sh: kcat is missing; apt-get install kcat" >&2; exit 69; }
# shellcheck disable=SC1091
source "$TEST_DIR/env"
[[ -n ${INBOXQ_KAFKA_BROKERS:-} ]] || { echo "scheduler-dispatch.sh: the harness runs no dev broker; tests/harness/start kafka" >&2; exit 69; }

DB=iq_bench_sched_$$
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	psql "$INBOXQ_PG_ADMIN_DSN" -Xq -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$INBOXQ_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB OWNER inboxq" >/dev/null
export INBOXQ_PG_DSN="${INBOXQ_PG_DSN%/*}/$DB"
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$INBOXQ_PG_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
"$BIN/inboxq" migrate >/dev/null
CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('bench', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f', '\\x00',
	'bench') RETURNING id")
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
	check_interval_s, next_check_at)
	SELECT 'bench-' || g, 'mail.example.org', 993, 'imap', $CRED, true, 'ssl', 300,
	now() - interval '1 minute' FROM generate_series(1, $N) g"
sql "VACUUM ANALYZE mail_accounts"

bench_results scheduler-dispatch "$OUT"
echo "## inboxq-scheduler dispatch benchmark"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $(sql 'SHOW server_version'), $("$BIN/inboxq-scheduler" --version), dev broker (librdkafka mock cluster)."
echo "Binaries in \`$BIN\`, work tree at $(bench_commit); load average at start: $(bench_load)."
echo "Each run is one \`inboxq-scheduler --once\` process with the default settings (batches of"
echo "${INBOXQ_SCHEDULER_BATCH:-1000}), timed from exec to exit, on $N due accounts; the check topic is read back"
echo "with kcat afterwards."
echo
echo "| run | accounts | dispatched | on the topic | distinct accounts | moved on | wall time | target < $((TARGET_MS / 1000)) s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---|"
status=0
for run in $(seq "$RUNS"); do
	topic=bench.sched.$$.$run.check
	sql "UPDATE mail_accounts SET next_check_at = now() - interval '1 minute'"
	t0=${EPOCHREALTIME/./}
	out=$(INBOXQ_TOPIC_CHECK=$topic INBOXQ_TOPIC_REPORT=bench.sched.$$.report \
		"$BIN/inboxq-scheduler" --once --log-level warn)
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	dispatched=$(grep -o 'dispatched [0-9]*' <<<"$out" | grep -o '[0-9]*$')
	kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$topic" -o beginning -e -q -f '%k\n' 2>/dev/null >"/tmp/$DB.keys"
	on_topic=$(wc -l <"/tmp/$DB.keys")
	distinct=$(sort -u "/tmp/$DB.keys" | wc -l)
	rm -f "/tmp/$DB.keys"
	moved=$(sql "SELECT count(*) FROM mail_accounts WHERE next_check_at > now()")
	verdict=met
	((ms < TARGET_MS)) || verdict="**missed**"
	if [[ $dispatched != "$N" || $on_topic != "$N" || $distinct != "$N" || $moved != "$N" ]]; then
		verdict="**wrong count**"
		status=1
	fi
	printf '| %d | %d | %s | %s | %s | %s | %d.%03d s | %s |\n' "$run" "$N" "$dispatched" "$on_topic" \
		"$distinct" "$moved" $((ms / 1000)) $((ms % 1000)) "$verdict"
done
echo
echo "Load average at end: $(bench_load)."
exit "$status"
