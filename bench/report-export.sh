#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark: exports N accounts (default 10,000 and 100,000) as CSV, HTML and PDF with
# `inboxq report --direct` from a scratch database and prints wall time and peak RSS per format
# as a Markdown table. Target: the CSV of 100,000 accounts under 32 MB RSS.
# Usage: bench/report-export.sh [--accounts "N..."] [--bin DIR] [--out FILE]
# Writes bench/results/report-export-YYYYmmdd-HHMM.md (or --out FILE) with the commit and load.
# Needs the test harness's PostgreSQL: tests/harness/start pg, with INBOXQ_TEST_DIR set (or
# --dir's default /tmp/inboxq-harness), and /usr/bin/time (Debian package "time").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${IQ_BIN_DIR:-$HERE/../build/bin}
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
OUT=
SIZES="10000 100000"
while (($#)); do
	case $1 in
	--accounts) SIZES=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "report-export.sh: unknown argument '$1'" >&2; exit 64 ;;
	esac
done
TEST_DIR=${INBOXQ_TEST_DIR:-/tmp/inboxq-harness}
[[ -f $TEST_DIR/env ]] || { echo "report-export.sh: no harness at $TEST_DIR; run tests/harness/start pg" >&2; exit 69; }
[[ -x /usr/bin/time ]] || { echo "report-export.sh: /usr/bin/time is missing; apt-get install time" >&2; exit 69; }
[[ -x $BIN/inboxq ]] || { echo "report-export.sh: no inboxq in $BIN; build first or pass --bin" >&2; exit 69; }
# shellcheck disable=SC1091
source "$TEST_DIR/env"

DB=iq_bench_$$
WORK=$(mktemp -d)
cleanup() {
	psql "$INBOXQ_PG_ADMIN_DSN" -Xq -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
psql "$INBOXQ_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB OWNER inboxq" >/dev/null
export INBOXQ_PG_DSN="${INBOXQ_PG_DSN%/*}/$DB"
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$INBOXQ_PG_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
"$BIN/inboxq" migrate >/dev/null
CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('bench', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f', '\\x00',
	'bench') RETURNING id")

bench_results report-export "$OUT"
echo "## inboxq report export benchmark"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $(sql 'SHOW server_version'), $("$BIN/inboxq" --version)."
echo "Binaries in \`$BIN\`, work tree at $(bench_commit); load average at start: $(bench_load)."
echo "Each run is one \`inboxq report --format F --output FILE --direct\` process (server-side cursor,"
echo "1000 rows per FETCH); CPU is user+sys and peak RSS the maximum resident set size, both from"
echo "/usr/bin/time: on a shared machine CPU is the steadier figure, wall time waits on the others."
echo
echo "| accounts | format | pages | output size | wall time | CPU | peak RSS |"
echo "|---:|---|---:|---:|---:|---:|---:|"
csv_rss_100k=
for n in $SIZES; do
	sql "TRUNCATE mail_accounts RESTART IDENTITY CASCADE"
	# Names of varied length, some with accents, CJK and formula-looking text.
	sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
		keep_copy, auto_check, active, last_status)
		SELECT CASE g % 10 WHEN 0 THEN format('=Conta São Paulo %s', g)
			WHEN 1 THEN format('mailbox-%s@example.test with a rather long descriptive name for the printed report', g)
			WHEN 2 THEN format('日本 support %s', g) ELSE format('account %s', g) END,
		'mail.example.test', CASE WHEN g % 2 = 0 THEN 993 ELSE 995 END,
		CASE WHEN g % 2 = 0 THEN 'imap' ELSE 'pop3' END, $CRED, g % 3 <> 0,
		CASE WHEN g % 3 <> 0 THEN 'ssl' END, g % 4 = 0, g % 5 <> 0, g % 7 <> 0,
		CASE g % 3 WHEN 0 THEN 'ok' WHEN 1 THEN 'failed' END
		FROM generate_series(1, $n) AS g"
	sql "VACUUM ANALYZE mail_accounts"
	for fmt in csv html pdf; do
		out=$WORK/report.$fmt
		/usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$BIN/inboxq" report --format "$fmt" \
			--output "$out" --direct >"$WORK/stdout"
		read -r wall rss_kb user sys <"$WORK/time"
		pages=$(sed -n 's/.*, \([0-9]*\) pages\{0,1\},.*/\1/p' "$WORK/stdout")
		size=$(stat -c %s "$out")
		awk -v n="$n" -v f="$fmt" -v p="$pages" -v s="$size" -v w="$wall" -v r="$rss_kb" -v c="$user" -v y="$sys" \
			'BEGIN { printf "| %d | %s | %d | %.1f MB | %.2f s | %.2f s | %.1f MB |\n", n, f, p, s / 1048576, w, c + y, r / 1024 }' 
		[[ $fmt == csv && $n == 100000 ]] && csv_rss_100k=$rss_kb
		rm -f "$out"
	done
done
echo
echo "Load average at end: $(bench_load)."
echo
if [[ -n $csv_rss_100k ]]; then
	if ((csv_rss_100k < 32 * 1024)); then
		echo "Target met: the CSV of 100,000 accounts peaked at $((csv_rss_100k / 1024)) MB RSS (< 32 MB)."
	else
		echo "Target MISSED: the CSV of 100,000 accounts peaked at $((csv_rss_100k / 1024)) MB RSS (>= 32 MB)."
		exit 1
	fi
fi
