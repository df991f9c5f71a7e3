#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMAP IDLE push (issue 16): N push accounts on one worker, deliveries at a steady rate to
# random accounts, and what it costs: delivery-to-event latency (the message file appears in
# Maildir/new -> its new-mail event arrives on Kafka), p50 and p99; the worker's RSS holding N
# idle TLS connections; Dovecot logins during the deliveries (after the ramp). No scheduler runs:
# every message arrives by push. Writes bench/results/push-YYYYmmdd-HHMM.md.
#
# Usage: bench/push.sh [--accounts N] [--seconds S] [--rate R] [--smoke] [--keep] [--no-build]
#                      [--out FILE]
#   --accounts N   push accounts (default 1000; more than 50 adds bench users)
#   --seconds S    how long deliveries go on (default 60)
#   --rate R       deliveries per second, to random accounts (default 20)
#   --smoke        50 accounts, 10 s at 5/s (the CI-sized run)
#   --keep         leave the harness running at the end
#   --no-build     measure build-bench/bin (or IQ_BIN_DIR) as it is
#   --out FILE     the report (default bench/results/push-YYYYmmdd-HHMM.md)
# Runs as root (the harness starts PostgreSQL and Dovecot). Harness settings: bench/lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ACCOUNTS=1000 SECS=60 RATE=20 KEEP=0 OUT=""
ARGV="$0 $*"
while (($#)); do
	case $1 in
	--accounts) ACCOUNTS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--smoke) ACCOUNTS=50 SECS=10 RATE=5; shift ;;
	--keep) KEEP=1; shift ;;
	--no-build) export BENCH_NO_BUILD=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "push.sh: unknown argument '$1'; see --help" >&2; exit 64 ;;
	esac
done
for v in ACCOUNTS SECS RATE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "--${v,,} must be a positive whole number"
done
[[ $EUID == 0 ]] || bench_die "run as root (the harness starts PostgreSQL and Dovecot)"
OUT=${OUT:-$IQ_SOURCE_DIR/bench/results/push-$(date -u +%Y%m%d-%H%M).md}

bench_build
bench_harness_start
trap '((KEEP)) || bench_harness_stop' EXIT
bench_fresh_db iq_bench_push
bench_master_key
bench_kafka_fresh "push.$$"
users=()
for ((i = 1; i <= ACCOUNTS; i++)); do users+=("$(bench_user "$i")"); done
bench_log "seeding $ACCOUNTS empty mailboxes"
BENCH_TAG=push bench_seed "$(IFS=,; echo "${users[*]}")" 0 >/dev/null
bench_log "adding $ACCOUNTS push accounts"
for u in "${users[@]}"; do
	bench_account "p-$u" "$u" imap --auto-check yes --check-interval 7d --push auto >/dev/null
done

export INBOXQ_MAX_PUSH_CONNECTIONS=$((ACCOUNTS + 10)) INBOXQ_PUSH_OPEN_RATE=100
dlog=$BENCH_DIR/log/dovecot-main.log
logins() { grep -c 'imap-login: Info: Login: user=<' "$dlog" 2>/dev/null || true; }
dlog0=$(wc -l <"$dlog" 2>/dev/null || echo 0) # this run's part of Dovecot's log starts here
t_start=$EPOCHREALTIME
bench_workers_start 1
worker=${BENCH_WORKERS[0]}
until [[ $(bench_sql "SELECT count(*) FROM push_sessions") -ge $ACCOUNTS ]]; do
	(($(bench_elapsed "$t_start" | cut -d. -f1) < 600)) || bench_die "the worker did not idle on every account within 600 s"
	sleep 0.5
done
ramp=$(bench_elapsed "$t_start")
# the checks queued as each IDLE began have run
until [[ $(bench_sql "SELECT count(*) FROM check_runs WHERE finished_at IS NULL") -eq 0 &&
	$(bench_sql "SELECT count(DISTINCT account_id) FROM check_runs") -ge $ACCOUNTS ]]; do sleep 0.5; done
rss_idle=$(awk '/VmRSS/ { print $2 }' "/proc/$worker/status")
bench_log "$ACCOUNTS accounts idling after ${ramp}s; worker RSS ${rss_idle} kB"

events=$BENCH_WORK/push-events
deliveries=$BENCH_WORK/push-deliveries
: >"$events"
: >"$deliveries"
"${BT[@]}" consume "$INBOXQ_KAFKA_BROKERS" "$INBOXQ_TOPIC_NEW_MAIL" "$events" &
consumer=$!
sleep 2 # the consumer is at the end of the topic
logins0=$(logins)
n=$((SECS * RATE))
bench_log "delivering $n messages over ${SECS}s"
t0=$EPOCHREALTIME
for ((k = 0; k < n; k++)); do
	u=${users[$((RANDOM * 32768 + RANDOM)) % ACCOUNTS]}
	read -r _ at < <(bench_deliver_one "$u" 4096 "push-$$-$k")
	printf 'push-%s-%s %s\n' "$$" "$k" "$at" >>"$deliveries"
	# the k-th delivery is due at t0 + k / RATE
	wait_s=$(awk -v t0="$t0" -v k="$k" -v r="$RATE" -v now="$EPOCHREALTIME" 'BEGIN { w = t0 + (k + 1) / r - now; printf "%.3f", (w > 0 ? w : 0) }')
	sleep "$wait_s"
done
deadline=$((SECONDS + 60))
while (($(grep -c 'inboxq.bench>' "$events" || true) < n)) && ((SECONDS < deadline)); do sleep 0.5; done
logins1=$(logins)
rss_end=$(awk '/VmRSS/ { print $2 }' "/proc/$worker/status")
kill "$consumer" 2>/dev/null || true
wait "$consumer" 2>/dev/null || true
stats=$(/usr/bin/python3 - "$deliveries" "$events" <<'EOF'
import datetime, json, sys
sent = dict(l.split() for l in open(sys.argv[1]) if l.strip())
got, fetched = {}, {}
for line in open(sys.argv[2]):
    at, _, js = line.partition(" ")
    try:
        ev = json.loads(js)
    except ValueError:
        continue
    tag = (ev.get("message_id") or "").strip("<>").split("@")[0]
    if tag in sent and tag not in got:
        got[tag] = float(at) - float(sent[tag])
        f = datetime.datetime.strptime(ev["fetched_at"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
        fetched[tag] = f.timestamp() - float(sent[tag])
def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
g, f = got.values(), fetched.values()
print(len(sent), len(got), *(f"{x:.3f}" for x in (pct(g, .5), pct(g, .99), max(g, default=float("nan")),
                                                   pct(f, .5), pct(f, .99), max(f, default=float("nan")))))
EOF
)
read -r sent got p50 p99 pmax f50 f99 fmax <<<"$stats"
bench_workers_stop
stored=$(bench_sql "SELECT count(*) FROM messages")
dups=$(bench_sql "SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d")
mkdir -p "$(dirname "$OUT")"
{
	echo "# Push benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "\`$ARGV\`; built from $BENCH_BUILT_FROM."
	echo
	bench_machine | awk -F'\t' '{ printf "- %s: %s\n", $1, $2 }'
	echo
	echo "| measure | value | target |"
	echo "|---|---|---|"
	echo "| push accounts on one worker | $ACCOUNTS | |"
	echo "| ramp (worker start to every account idling) | ${ramp} s | |"
	echo "| deliveries | $sent over ${SECS} s ($RATE/s) to random accounts | |"
	echo "| new-mail events received | $got | all |"
	echo "| delivery to event, p50 | ${p50} s | <= 1.0 s |"
	echo "| delivery to event, p99 | ${p99} s | <= 2 s |"
	echo "| delivery to event, max | ${pmax} s | |"
	echo "| delivery to fetch and commit (the event's fetched_at), p50 / p99 / max | ${f50} / ${f99} / ${fmax} s | |"
	echo "| worker RSS, $ACCOUNTS idle TLS connections | $((rss_idle / 1024)) MB (after the deliveries: $((rss_end / 1024)) MB) | <= 150 MB |"
	echo "| Dovecot logins during the deliveries | $((logins1 - logins0)) | 0 for push accounts |"
	echo "| messages stored / stored twice | $stored / $dups | $sent / 0 |"
	echo
	limited=$(tail -n +$((dlog0 + 1)) "$dlog" | grep -c 'Inotify instance limit for user' || true)
	if ((limited > 0)); then
		echo "**Dovecot ran out of inotify instances** for $limited IDLE session(s)"
		echo "(\`fs.inotify.max_user_instances\` = $(cat /proc/sys/fs/inotify/max_user_instances); every bench"
		echo "Maildir belongs to one uid): for those accounts Dovecot looked for new mail only every"
		echo "\`mailbox_idle_check_interval\` (30 s), which is the tail of the latency above. Raise the"
		echo "sysctl above the number of accounts for a run that measures inboxq rather than this limit."
		echo
	fi
	echo "Each notification queues a normal check, which logs in on a connection of its own (the"
	echo "IDLE connection stays): the logins above are those checks'. Dovecot's own delay before it"
	echo "tells an idling client (about 0.5 s, measured by hand) is inside the latency."
} >"$OUT"
bench_log "report: $OUT"
cat "$OUT"
