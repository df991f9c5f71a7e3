#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMAP IDLE push (issue 16): N push accounts on one worker, deliveries at a steady rate to
# random accounts, and what it costs, side by side in one run with the alternatives:
#  1. push: delivery-to-event latency (the message file appears in Maildir/new -> its new-mail
#     event arrives on Kafka), p50 and p99; the worker's RSS holding N idle TLS connections;
#     Dovecot logins and CPU during the deliveries (after the ramp); and, in the same minute, a
#     bare IDLE client (Python, no inboxq) on 10 of the accounts measuring Dovecot's own delay
#     before it tells an idling client;
#  2. polling: the same accounts with push off, checked every 5 s (the minimum interval) by the
#     scheduler and one worker, the same rate of deliveries: latency, Dovecot CPU and logins;
#  3. fetchmail --idle on 20 of the accounts, one process each: latency, RSS and CPU.
# Writes bench/results/push-YYYYmmdd-HHMM.md.
#
# Usage: bench/push.sh [--accounts N] [--seconds S] [--rate R] [--fetchmail N] [--no-poll]
#                      [--smoke] [--keep] [--no-build] [--out FILE]
#   --accounts N    push accounts (default 1000; more than 50 adds bench users)
#   --seconds S     how long deliveries go on in each of 1. and 2. (default 60)
#   --rate R        deliveries per second, to random accounts (default 20)
#   --fetchmail N   fetchmail --idle processes in 3. (default 20; 0 leaves 3. out)
#   --no-poll       leave 2. out
#   --smoke         50 accounts, 10 s at 5/s, no fetchmail, and a failing exit status when an
#                   event is missing, a message is stored twice or a push check logged in (CI)
#   --keep          leave the harness running at the end
#   --no-build      measure build-bench/bin (or IQ_BIN_DIR) as it is
#   --out FILE      the report (default bench/results/push-YYYYmmdd-HHMM.md)
# Runs as root (the harness starts PostgreSQL and Dovecot; fs.inotify.max_user_instances is
# raised to hold every IDLE session). Harness settings: bench/lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ACCOUNTS=1000 SECS=60 RATE=20 KEEP=0 OUT="" FM_N=20 POLL=1 SMOKE=0
ARGV="$0 $*"
while (($#)); do
	case $1 in
	--accounts) ACCOUNTS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--fetchmail) FM_N=$2; shift 2 ;;
	--no-poll) POLL=0; shift ;;
	--smoke) ACCOUNTS=50 SECS=10 RATE=5 FM_N=0 SMOKE=1; shift ;;
	--keep) KEEP=1; shift ;;
	--no-build) export BENCH_NO_BUILD=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,27s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "push.sh: unknown argument '$1'; see --help" >&2; exit 64 ;;
	esac
done
for v in ACCOUNTS SECS RATE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "--${v,,} must be a positive whole number"
done
[[ $FM_N =~ ^[0-9]+$ ]] || bench_die "--fetchmail must be a whole number"
((FM_N <= ACCOUNTS)) || bench_die "--fetchmail $FM_N is more than --accounts $ACCOUNTS"
[[ $EUID == 0 ]] || bench_die "run as root (the harness starts PostgreSQL and Dovecot)"
OUT=${OUT:-$IQ_SOURCE_DIR/bench/results/push-$(date -u +%Y%m%d-%H%M).md}
((FM_N == 0)) || command -v fetchmail >/dev/null || bench_install_tools

# Dovecot watches each idling session's folder with an inotify instance, all of them under the
# one mail uid: past the limit it looks only every 30 s, and that, not inboxq, is measured.
NOTES=()
need=$((ACCOUNTS + 10 + FM_N + 256))
inotify=$(cat /proc/sys/fs/inotify/max_user_instances)
if ((inotify < need)); then
	sysctl -qw fs.inotify.max_user_instances=$need ||
		bench_die "fs.inotify.max_user_instances is $inotify and could not be raised to $need"
	NOTES+=("fs.inotify.max_user_instances raised from $inotify to $need for this run (root), so that Dovecot notifies every idling session at once")
	bench_log "${NOTES[-1]}"
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

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
for ((i = 0; i < ACCOUNTS; i++)); do
	bench_account "p-${users[$i]}" "${users[$i]}" imap --auto-check yes --check-interval 7d --push auto >/dev/null &
	(((i + 1) % 4)) || wait
done
wait
[[ $(bench_sql "SELECT count(*) FROM mail_accounts") -eq $ACCOUNTS ]] || bench_die "not every account was added"

dlog=$BENCH_DIR/log/dovecot-main.log
logins() { grep -c 'imap-login: Info: Login: user=<' "$dlog" 2>/dev/null || true; }
dovecot_cpu() { bench_server_cpu | cut -d' ' -f2; }
dlog0=$(wc -l <"$dlog" 2>/dev/null || echo 0) # this run's part of Dovecot's log starts here

LAT=$BENCH_WORK/latency.py
cat >"$LAT" <<'EOF'
# latency.py DELIVERIES RECEIVED [kafka|mda]: deliveries are "TAG TIME USER" lines; received are
# Kafka new-mail events ("TIME JSON", kafka) or fetchmail MDA records ("TIME TAG", mda). Prints
# "sent received p50 p99 max" (seconds; nan when none) of the first arrival of each delivery.
import json, sys
sent = {}
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) >= 2:
        sent[f[0]] = float(f[1])
got = {}
for line in open(sys.argv[2]):
    at, _, rest = line.strip().partition(" ")
    if sys.argv[3] == "kafka":
        try:
            tag = (json.loads(rest).get("message_id") or "").strip("<>").split("@")[0]
        except ValueError:
            continue
    else:
        tag = rest
    if tag in sent and tag not in got:
        got[tag] = float(at) - sent[tag]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
g = list(got.values())
print(len(sent), len(got), *(f"{x:.3f}" for x in (pct(g, .5), pct(g, .99), max(g, default=float("nan")))))
EOF

# deliver_for SECONDS RATE OUT USER...: deliveries at RATE per second (one process, due times
# from the start) to random users among those given; "TAG TIME USER" lines in OUT. DELIVERY_LATE:
# how far behind the schedule the last one was (s).
deliver_for() {
	local secs=$1 rate=$2 out=$3
	shift 3
	read -r _ DELIVERY_LATE < <("${BT[@]}" deliver "$BENCH_MAILROOT" "$INBOXQ_TEST_MAIL_UID" "$INBOXQ_TEST_MAIL_GID" \
		4096 "$rate" "$secs" "push-$$-$DTAG" "$out" "$@")
}
# wait_events FILE N SECONDS: until FILE holds N bench events or SECONDS pass
wait_events() {
	local deadline=$((SECONDS + $3))
	while (($(grep -c '@inboxq\.bench' "$1" || true) < $2)) && ((SECONDS < deadline)); do sleep 0.5; done
}
consume_start() {
	: >"$1"
	"${BT[@]}" consume "$INBOXQ_KAFKA_BROKERS" "$INBOXQ_TOPIC_NEW_MAIL" "$1" &
	CONSUMER=$!
	sleep 2 # the consumer is at the end of the topic
}
consume_stop() {
	kill "$CONSUMER" 2>/dev/null || true
	wait "$CONSUMER" 2>/dev/null || true
}

# --- 1. push ----------------------------------------------------------------------------------
export INBOXQ_MAX_PUSH_CONNECTIONS=$((ACCOUNTS + 10)) INBOXQ_PUSH_OPEN_RATE=100
t_start=$EPOCHREALTIME
bench_workers_start 1
worker=${BENCH_WORKERS[0]}
until [[ $(bench_sql "SELECT count(*) FROM push_sessions") -ge $ACCOUNTS ]]; do
	(($(bench_elapsed "$t_start" | cut -d. -f1) < 900)) || bench_die "the worker did not idle on every account within 900 s"
	sleep 0.5
done
ramp=$(bench_elapsed "$t_start")
# the checks queued as each IDLE began have run
until [[ $(bench_sql "SELECT count(*) FROM check_runs WHERE finished_at IS NULL") -eq 0 &&
	$(bench_sql "SELECT count(DISTINCT account_id) FROM check_runs") -ge $ACCOUNTS ]]; do sleep 0.5; done
ramp_logins=$(($(logins) - $(head -n "$dlog0" "$dlog" | grep -c 'imap-login: Info: Login: user=<' || true)))
rss_idle=$(awk '/VmRSS/ { print $2 }' "/proc/$worker/status")
bench_log "$ACCOUNTS accounts idling after ${ramp}s ($ramp_logins logins); worker RSS ${rss_idle} kB"

# the bare IDLE client on 10 of the same mailboxes: Dovecot's own delay
watched=("${users[@]:0:$((ACCOUNTS < 10 ? ACCOUNTS : 10))}")
exists=$BENCH_WORK/idle-exists
: >"$exists"
"${BT[@]}" idlewatch "$INBOXQ_TEST_IMAPS_PORT" "$INBOXQ_CA_FILE" "$BENCH_PASS" "$exists" "${watched[@]}" &
watcher=$!
until grep -q READY "$exists"; do
	kill -0 "$watcher" 2>/dev/null || bench_die "the bare IDLE client did not start"
	sleep 0.2
done

events=$BENCH_WORK/push-events deliveries=$BENCH_WORK/push-deliveries
consume_start "$events"
logins0=$(logins) cpu0=$(dovecot_cpu)
bench_log "push: delivering $((SECS * RATE)) messages over ${SECS}s"
DTAG=p deliver_for "$SECS" "$RATE" "$deliveries" "${users[@]}"
push_late=$DELIVERY_LATE
wait_events "$events" $((SECS * RATE)) 60
logins1=$(logins) cpu1=$(dovecot_cpu)
rss_end=$(awk '/VmRSS/ { print $2 }' "/proc/$worker/status")
consume_stop
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
read -r sent got p50 p99 pmax < <(/usr/bin/python3 "$LAT" "$deliveries" "$events" kafka)
# Dovecot's delay: from a delivery to a watched mailbox to the bare client's next EXISTS there
read -r bare_n bare50 bare99 baremax < <(/usr/bin/python3 - "$deliveries" "$exists" <<'EOF'
import sys
seen = {}
for l in open(sys.argv[2]):
    t, u = l.split()
    if u != "READY":
        seen.setdefault(u, []).append(float(t))
d = []
for l in open(sys.argv[1]):
    _tag, at, u = l.split()
    later = [t for t in seen.get(u, []) if t >= float(at)]
    if later:
        d.append(min(later) - float(at))
d.sort()
p = lambda q: d[min(len(d) - 1, int(q * len(d)))] if d else float("nan")
print(len(d), f"{p(.5):.3f}", f"{p(.99):.3f}", f"{max(d, default=float('nan')):.3f}")
EOF
)
stored=$(bench_sql "SELECT count(*) FROM messages")
dups=$(bench_sql "SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d")
push_cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
bench_workers_stop
limited=$(tail -n +$((dlog0 + 1)) "$dlog" | grep -c 'Inotify instance limit for user' || true)

# --- 2. polling at 5 s ------------------------------------------------------------------------
if ((POLL)); then
	bench_sql "UPDATE mail_accounts SET push = 'off', check_interval_s = 5,
		next_check_at = now() + random() * interval '5 seconds'" >/dev/null
	export INBOXQ_MAX_PUSH_CONNECTIONS=0 INBOXQ_CONCURRENCY=16
	bench_workers_start 1
	inboxq-scheduler >>"$BENCH_WORK/scheduler.log" 2>&1 </dev/null &
	scheduler=$!
	sleep 10 # two rounds of every account
	pevents=$BENCH_WORK/poll-events pdeliveries=$BENCH_WORK/poll-deliveries
	consume_start "$pevents"
	plogins0=$(logins) pcpu0=$(dovecot_cpu) pruns0=$(bench_sql "SELECT count(*) FROM check_runs")
	bench_log "polling every 5 s: delivering $((SECS * RATE)) messages over ${SECS}s"
	DTAG=q deliver_for "$SECS" "$RATE" "$pdeliveries" "${users[@]}"
	poll_late=$DELIVERY_LATE
	wait_events "$pevents" $((SECS * RATE)) 60
	plogins1=$(logins) pcpu1=$(dovecot_cpu) pruns1=$(bench_sql "SELECT count(*) FROM check_runs")
	consume_stop
	kill "$scheduler" 2>/dev/null || true
	wait "$scheduler" 2>/dev/null || true
	bench_workers_stop
	read -r psent pgot pp50 pp99 ppmax < <(/usr/bin/python3 "$LAT" "$pdeliveries" "$pevents" kafka)
	poll_cpu=$(awk -v a="$pcpu0" -v b="$pcpu1" 'BEGIN { printf "%.2f", b - a }')
	pdups=$(bench_sql "SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d")
fi

# --- 3. fetchmail --idle, one process per account ---------------------------------------------
if ((FM_N > 0)); then
	fmdir=$BENCH_WORK/fetchmail-idle
	rm -rf "$fmdir"
	mkdir -p "$fmdir"
	fm_users=("${users[@]:0:$FM_N}")
	fm_pids=()
	for u in "${fm_users[@]}"; do
		{
			echo "set no syslog"
			echo "set no bouncemail"
			# 'localhost': fetchmail checks the certificate's common name, which is localhost
			printf 'poll localhost service %s proto IMAP user "%s" password "%s" ssl sslcertck sslcertfile "%s" keep idle mda "/usr/bin/python3 %s mda %s"\n' \
				"$INBOXQ_TEST_IMAPS_PORT" "$u" "$BENCH_PASS" "$INBOXQ_CA_FILE" "$BENCH_HOME/benchtool.py" "$fmdir/received"
		} >"$fmdir/rc.$u"
		chmod 600 "$fmdir/rc.$u"
		fetchmail -N -d 300 -f "$fmdir/rc.$u" -i "$fmdir/ids.$u" --pidfile "$fmdir/pid.$u" \
			>>"$fmdir/log.$u" 2>&1 </dev/null &
		fm_pids+=("$!")
	done
	sleep 10 # each fetched what was unseen and idles
	: >"$fmdir/received"
	fm_secs=$((SECS < 30 ? SECS : 30)) fm_rate=$((RATE < 2 ? RATE : 2))
	fcpu0=$("${BT[@]}" cpu "${fm_pids[@]}")
	bench_log "fetchmail --idle on $FM_N accounts: delivering $((fm_secs * fm_rate)) messages over ${fm_secs}s"
	DTAG=f deliver_for "$fm_secs" "$fm_rate" "$fmdir/deliveries" "${fm_users[@]}"
	deadline=$((SECONDS + 60))
	while (($(wc -l <"$fmdir/received") < fm_secs * fm_rate)) && ((SECONDS < deadline)); do sleep 0.5; done
	fcpu1=$("${BT[@]}" cpu "${fm_pids[@]}")
	fm_rss=$(for p in "${fm_pids[@]}"; do awk '/VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null; done | awk '{ s += $1 } END { printf "%d", s / 1024 }')
	for p in "${fm_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${fm_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	read -r fsent fgot fp50 fp99 fpmax < <(/usr/bin/python3 "$LAT" "$fmdir/deliveries" "$fmdir/received" mda)
	fm_cpu=$(awk -v a="$fcpu0" -v b="$fcpu1" 'BEGIN { printf "%.2f", b - a }')
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$OUT")"
{
	echo "# Push benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "\`$ARGV\`; built from $BENCH_BUILT_FROM. Load average (1, 5, 15 min) at the start: $LOAD0; at the end: $LOAD1."
	echo
	bench_machine | awk -F'\t' '{ printf "- %s: %s\n", $1, $2 }'
	for n in "${NOTES[@]}"; do echo "- $n"; done
	echo
	echo "## 1. Push: $ACCOUNTS accounts on one worker"
	echo
	echo "| measure | value | target |"
	echo "|---|---|---|"
	echo "| ramp (worker start to every account idling, first checks done) | ${ramp} s, $ramp_logins logins | |"
	echo "| deliveries | $sent over ${SECS} s ($RATE/s; the last ${push_late} s behind schedule) to random accounts | |"
	echo "| new-mail events received | $got | all |"
	echo "| delivery to event, p50 | ${p50} s | <= 1.0 s |"
	echo "| delivery to event, p99 | ${p99} s | <= 2 s |"
	echo "| delivery to event, max | ${pmax} s | |"
	echo "| Dovecot's own delay (bare IDLE client on ${#watched[@]} of the accounts, $bare_n deliveries), p50 / p99 / max | ${bare50} / ${bare99} / ${baremax} s | |"
	echo "| worker RSS, $ACCOUNTS idle TLS connections | $((rss_idle / 1024)) MB (after the deliveries: $((rss_end / 1024)) MB) | <= 150 MB |"
	echo "| Dovecot logins during the ${SECS} s of deliveries (after the ramp) | $((logins1 - logins0)) | 0 for push accounts |"
	echo "| Dovecot CPU during the deliveries | ${push_cpu} s | |"
	echo "| messages stored / stored twice | $stored / $dups | $sent / 0 |"
	echo
	if ((limited > 0)); then
		echo "**Dovecot ran out of inotify instances** for $limited IDLE session(s)"
		echo "(\`fs.inotify.max_user_instances\` = $(cat /proc/sys/fs/inotify/max_user_instances)): for those accounts"
		echo "Dovecot looked for new mail only every \`mailbox_idle_check_interval\` (30 s)."
		echo
	fi
	echo "Each notification queues a check job on the account's partition; the job slot borrows the"
	echo "account's IDLE session and runs the check over it (DONE, SELECT, fetch, commit, IDLE): no"
	echo "login. The ramp's logins are the IDLE sessions' own. Dovecot's delay before it tells an"
	echo "idling client is inside inboxq's latency; the bare client measures it in the same minute."
	if ((POLL)); then
		echo
		echo "## 2. Polling every 5 s (the same accounts, push off; scheduler and one worker, 16 slots)"
		echo
		echo "| measure | value |"
		echo "|---|---|"
		echo "| deliveries | $psent over ${SECS} s ($RATE/s; the last ${poll_late} s behind schedule) to random accounts |"
		echo "| new-mail events received | $pgot |"
		echo "| delivery to event, p50 / p99 / max | ${pp50} / ${pp99} / ${ppmax} s |"
		echo "| checks run during the deliveries | $((pruns1 - pruns0)) |"
		echo "| Dovecot logins during the deliveries | $((plogins1 - plogins0)) |"
		echo "| Dovecot CPU during the deliveries | ${poll_cpu} s (push: ${push_cpu} s) |"
		echo "| stored twice (both parts) | $pdups |"
	fi
	if ((FM_N > 0)); then
		echo
		echo "## 3. fetchmail --idle, $FM_N accounts, one process each"
		echo
		echo "| measure | value |"
		echo "|---|---|"
		echo "| deliveries | $fsent over ${fm_secs} s ($fm_rate/s) to random ones of the $FM_N accounts |"
		echo "| messages handed to the MDA | $fgot |"
		echo "| delivery to MDA, p50 / p99 / max | ${fp50} / ${fp99} / ${fpmax} s |"
		echo "| RSS of the $FM_N processes | ${fm_rss} MB |"
		echo "| their CPU during the deliveries | ${fm_cpu} s |"
	fi
} >"$OUT"
bench_log "report: $OUT"
cat "$OUT"
if ((SMOKE)); then
	fails=()
	((got == sent)) || fails+=("push: $got of $sent events")
	((dups == 0)) || fails+=("push: $dups messages stored twice")
	((logins1 == logins0)) || fails+=("push: $((logins1 - logins0)) logins during the deliveries (0 expected)")
	((limited == 0)) || fails+=("Dovecot ran out of inotify instances")
	if ((POLL)); then
		((pgot == psent)) || fails+=("polling: $pgot of $psent events")
		((pdups == 0)) || fails+=("polling: $pdups messages stored twice")
	fi
	if ((${#fails[@]})); then
		printf 'bench: smoke FAILED: %s\n' "${fails[@]}" >&2
		exit 1
	fi
	bench_log "smoke passed"
fi
