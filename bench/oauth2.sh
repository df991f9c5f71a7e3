#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OAuth2 sign-in (issue 14) on the harness's authorization server and OAuth2 Dovecot. Writes
# bench/results/oauth2-YYYYmmdd-HHMM.md.
#
# Usage: bench/oauth2.sh [--checks N] [--seconds S] [--lifetime L] [--rounds R] [--keep]
#   part 1  token economy: N checks (default 1000) of one OAuth2 account spread over S seconds
#           (default 600) with tokens living L seconds (default 60); target: token requests
#           <= S/L * 1.5 (15 for the defaults)
#   part 2  20 accounts sharing one credential, checked at once by 2 workers; target: 1 request
#   part 3  the added time of an OAuth2 login (token cached) over a password login, median of R
#           (default 30) `inboxq check --direct` runs each on the same mailbox contents
#   --only LIST  parts to run, comma separated (default 1,2,3)
#   --keep  leave the harness running (default: stop it)
# Runs as root; the harness in BENCH_DIR on BENCH_PORT_BASE (bench/lib.sh), services certs pg
# redis dovecot kafka oauth.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CHECKS=1000 SECONDS_=600 LIFETIME=60 ROUNDS=30 KEEP=0 ONLY=1,2,3
while (($#)); do
	case $1 in
	--checks) CHECKS=$2; shift 2 ;;
	--seconds) SECONDS_=$2; shift 2 ;;
	--lifetime) LIFETIME=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--only) ONLY=$2; shift 2 ;;
	-h | --help) sed -n '3,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) bench_die "unknown argument '$1'; see --help" ;;
	esac
done
for v in CHECKS SECONDS_ LIFETIME ROUNDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "--${v,,} must be a positive whole number"
done
[[ $ONLY =~ ^[1-3](,[1-3])*$ ]] || bench_die "--only takes part numbers 1-3, comma separated"
part() { [[ ,$ONLY, == *,$1,* ]]; }
[[ $EUID == 0 ]] || bench_die "run as root (the harness starts PostgreSQL and Dovecot)"
bench_build
INBOXQ_TEST_PORT_BASE=$BENCH_PORT_BASE INBOXQ_TEST_KAFKA_PARTITIONS=$BENCH_PARTITIONS \
	"$IQ_SOURCE_DIR/tests/harness/start" --dir "$BENCH_DIR" --devbroker "$IQ_BIN_DIR/inboxq-devbroker" \
	certs pg redis dovecot kafka oauth 2>/dev/null || bench_die "the harness did not start"
mkdir -p "$BENCH_WORK"
bench_env
[[ $KEEP == 1 ]] || trap 'bench_workers_stop; bench_harness_stop' EXIT
OUT=$IQ_SOURCE_DIR/bench/results/oauth2-$(date +%Y%m%d-%H%M).md
BENCH_RESULTS=$BENCH_WORK/oauth2.jsonl
: >"$BENCH_RESULTS"
OAUTH=$INBOXQ_TEST_OAUTH_URL
tag=$$
adm() { curl -sf --cacert "$INBOXQ_CA_FILE" -X POST -d "$2" "$OAUTH/admin/$1"; }
requests() {
	curl -sf --cacert "$INBOXQ_CA_FILE" "$OAUTH/admin/stats" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["by_client"].get(sys.argv[1], 0))' "$1"
}
oauth_account() { # NAME CLIENT USER [account options]: an OAuth2 credential and an IMAPS account
	local name=$1 client=$2 user=$3
	shift 3
	printf 'bench-secret' | inboxq credential add --type oauth2 --name "c-$name" --username "$user" \
		--provider generic --token-url "$OAUTH/token" --client-id "$client" --client-secret-stdin >/dev/null
	inboxq account add --name "$name" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
		--protocol imap --credential "c-$name" --secure yes --secure-type ssl --auto-check no "$@"
}
bench_fresh_db bench_oauth2
bench_master_key
# the checks quiet; the workers keep info (bench_wait_joined reads their assignments)
quiet() { INBOXQ_LOG_LEVEL=warn "$@"; }

# --- part 1: token economy
if part 1; then
bench_log "part 1: $CHECKS checks over ${SECONDS_}s, token lifetime ${LIFETIME}s"
adm client "{\"client_id\":\"econ-$tag\",\"secret\":\"bench-secret\",\"username\":\"user001\",\"ttl\":$LIFETIME}" >/dev/null
econ=$(oauth_account econ "econ-$tag" user001)
t0=$EPOCHREALTIME fails=0
for ((i = 0; i < CHECKS; i++)); do
	due=$(awk -v t="$t0" -v i="$i" -v n="$CHECKS" -v s="$SECONDS_" 'BEGIN { printf "%.3f", t + i * s / n }')
	wait_s=$(awk -v d="$due" -v now="$EPOCHREALTIME" 'BEGIN { w = d - now; printf "%.3f", (w > 0 ? w : 0) }')
	sleep "$wait_s"
	quiet inboxq check "$econ" --direct >/dev/null 2>&1 || fails=$((fails + 1))
done
elapsed=$(bench_elapsed "$t0")
req=$(requests "econ-$tag")
target=$(((SECONDS_ * 3 + LIFETIME * 2 - 1) / (LIFETIME * 2)))
bench_record part=1 checks="$CHECKS" seconds="$elapsed" lifetime="$LIFETIME" token_requests="$req" \
	failed_checks="$fails" target="$target" met="$([[ $req -le $target && $fails == 0 ]] && echo true || echo false)"
fi

# --- part 2: 20 accounts, one credential, 2 workers at once
if part 2; then
bench_log "part 2: 20 accounts sharing one credential, 2 workers"
bench_kafka_fresh "oauth2.$tag"
adm client "{\"client_id\":\"share-$tag\",\"secret\":\"bench-secret\",\"username\":\"user002\"}" >/dev/null
printf 'bench-secret' | inboxq credential add --type oauth2 --name c-share --username user002 \
	--provider generic --token-url "$OAUTH/token" --client-id "share-$tag" --client-secret-stdin >/dev/null
ids=()
for i in $(seq 1 20); do
	ids+=("$(inboxq account add --name "share$i" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
		--protocol imap --credential c-share --secure yes --secure-type ssl --auto-check no)")
done
bench_workers_start 2 || bench_die "the workers did not join"
t0=$EPOCHREALTIME
inboxq check "${ids[@]}" --wait --timeout 120 >"$BENCH_WORK/part2.out" 2>&1 || true
elapsed=$(bench_elapsed "$t0")
bench_workers_stop
okc=$(bench_sql "SELECT count(*) FROM mail_accounts WHERE name LIKE 'share%' AND last_status = 'ok'")
req=$(requests "share-$tag")
bench_record part=2 accounts=20 workers=2 seconds="$elapsed" ok="$okc" token_requests="$req" \
	met="$([[ $req == 1 && $okc == 20 ]] && echo true || echo false)"
fi

# --- part 3: an OAuth2 login over a password login, same mailbox, alternated
if part 3; then
bench_log "part 3: login time, $ROUNDS rounds"
adm client "{\"client_id\":\"lat-$tag\",\"secret\":\"bench-secret\",\"username\":\"user003\"}" >/dev/null
lat_o=$(oauth_account lat-oauth "lat-$tag" user003)
lat_p=$(bench_account lat-pass user003 imap)
quiet inboxq check "$lat_o" --direct >/dev/null 2>&1 # the token, once: part 3 measures logins
: >"$BENCH_WORK/p3.txt"
for ((r = 0; r < ROUNDS; r++)); do
	for id in "$lat_p" "$lat_o"; do
		ms=$(quiet inboxq check "$id" --direct --format json 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["duration_ms"])')
		echo "$id $ms" >>"$BENCH_WORK/p3.txt"
	done
done
read -r med_p med_o < <(/usr/bin/python3 - "$BENCH_WORK/p3.txt" "$lat_p" "$lat_o" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
p = [int(m) for i, m in rows if i == sys.argv[2]]
o = [int(m) for i, m in rows if i == sys.argv[3]]
print(statistics.median(p), statistics.median(o))
PY
)
bench_record part=3 rounds="$ROUNDS" password_median_ms="$med_p" oauth2_median_ms="$med_o" \
	note="password on the main Dovecot, OAuth2 on the OAuth2 Dovecot (introspection per login)"
fi

{
	echo "# OAuth2 benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "Built from: $BENCH_BUILT_FROM"
	echo
	bench_machine | awk -F'\t' '{ printf "- %s: %s\n", $1, $2 }'
	echo
	echo "| part | result | target |"
	echo "|---|---|---|"
	/usr/bin/python3 - "$BENCH_RESULTS" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    o["part"] = int(o["part"])
    if o["part"] == 1:
        print(f"| 1 token economy | {o['token_requests']} token requests for {o['checks']} checks in {o['seconds']} s "
              f"(lifetime {o['lifetime']} s), {o['failed_checks']} failed | <= {o['target']}: "
              f"{'met' if o['met'] else 'MISSED'} |")
    elif o["part"] == 2:
        print(f"| 2 one credential, 20 accounts, 2 workers | {o['token_requests']} token request(s), "
              f"{o['ok']}/20 ok in {o['seconds']} s | 1: {'met' if o['met'] else 'MISSED'} |")
    elif o["part"] == 3:
        d = o["oauth2_median_ms"] - o["password_median_ms"]
        print(f"| 3 login time | password {o['password_median_ms']} ms, OAuth2 {o['oauth2_median_ms']} ms "
              f"(median of {o['rounds']}): +{d} ms | reported |")
PY
	echo
	echo "Raw results:"
	echo
	echo '```'
	cat "$BENCH_RESULTS"
	echo '```'
} >"$OUT"
bench_log "wrote $OUT"
cat "$OUT"
