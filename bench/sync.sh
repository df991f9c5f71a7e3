#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# inboxq against mbsync, fetchmail and getmail6 on the same Dovecot and the same data, side by
# side in one invocation (variants alternated A B C A B C ... within each part), plus the
# server's own ceiling, scale, latency and memory. Writes bench/results/sync-YYYYmmdd-HHMM.md.
#
# Usage: bench/sync.sh [--rounds N] [--accounts A] [--messages M] [--only 1,2,...]
#                      [--skip TOOL,...] [--concurrency C] [--scale "1000 10000"]
#                      [--deliveries D] [--big-size 50M] [--keep] [--out FILE]
#   --rounds N        rounds per variant (default 3); median and min–max are reported
#   --accounts A      accounts of parts 1-4 (default 20; more than 50 adds bench users)
#   --messages M      messages per account (default 500; 2-20 KB each, about 110 MB by default)
#   --only LIST       parts to run (default all):
#                       1 first sync over IMAPS   2 first sync over POP3S   3 steady state
#                       4 ceiling (openssl, PostgreSQL COPY)   5 scale (scheduler, 2 workers)
#                       6 latency (delivery -> new-mail event)   7 memory (one 50 MB message)
#   --skip LIST       tools to leave out: inboxq, mbsync, fetchmail, getmail6
#   --concurrency C   jobs per worker process (default 4, inboxq's default)
#   --scale LIST      account counts of part 5 (default "1000 10000")
#   --deliveries D    deliveries per round in part 6 (default 10)
#   --big-size S      the message of part 7 (default 50M)
#   --keep            leave the harness running at the end (default: stop it)
#   --no-build        measure build-bench/bin as it is (default: an incremental build first)
#   --getmail-stock   run getmail6 without the bench's fix of its SIGCHLD race (see getmail_fix)
#   --out FILE        the report (default bench/results/sync-YYYYmmdd-HHMM.md)
# Runs as root (the harness starts PostgreSQL and Dovecot); installs isync, fetchmail, getmail6,
# time and kcat when missing; brings build-bench up to date (incremental build). Settings of the
# harness (state dir, port base, partitions): see bench/lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=3 ACCOUNTS=20 MESSAGES=500 ONLY=1,2,3,4,5,6,7 SKIP="" CONC=4 SCALE="1000 10000"
DELIVERIES=10 BIG_SIZE=50M KEEP=0 OUT="" GETMAIL_STOCK=0
ARGV="$0 $*"
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--accounts) ACCOUNTS=$2; shift 2 ;;
	--messages) MESSAGES=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--skip) SKIP=$2; shift 2 ;;
	--concurrency) CONC=$2; shift 2 ;;
	--scale) SCALE=$2; shift 2 ;;
	--deliveries) DELIVERIES=$2; shift 2 ;;
	--big-size) BIG_SIZE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--no-build) export BENCH_NO_BUILD=1; shift ;;
	--getmail-stock) GETMAIL_STOCK=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,28s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "sync.sh: unknown argument '$1'; see --help" >&2; exit 64 ;;
	esac
done
for v in ROUNDS ACCOUNTS MESSAGES CONC DELIVERIES; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "--${v,,} must be a positive whole number"
done
[[ $ONLY =~ ^[1-7](,[1-7])*$ ]] || bench_die "--only takes part numbers 1-7, comma separated"
[[ $EUID == 0 ]] || bench_die "run as root (the harness starts PostgreSQL and Dovecot)"
case $BIG_SIZE in
*M) BIG_BYTES=$((${BIG_SIZE%M} * 1048576)) ;;
*K) BIG_BYTES=$((${BIG_SIZE%K} * 1024)) ;;
*) BIG_BYTES=$BIG_SIZE ;;
esac
want() { [[ ,$ONLY, == *",$1,"* ]]; }
tool() { [[ ,$SKIP, != *",$1,"* ]]; }

# Every tool compared here polls, and so do inboxq's workers: without this, the accounts of
# parts 5 and 6 (automatic check on) are pushed by default (IMAP IDLE, one connection each, up
# to 1,000 per worker), which measures push instead of polling and, at 10,000 accounts, runs
# Dovecot out of its auth and stats client_limit (1,000). Push has bench/push.sh.
export INBOXQ_MAX_PUSH_CONNECTIONS=${INBOXQ_MAX_PUSH_CONNECTIONS:-0}

STAMP=$(date +%Y%m%d-%H%M)
mkdir -p "$BENCH_HOME/results"
OUT=${OUT:-$BENCH_HOME/results/sync-$STAMP.md}
ROUND=0

PIDS=()  # daemons of ours (scheduler, kcat consumer) besides the workers
DBS=()
cleanup() {
	local p
	bench_workers_stop
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n ${BENCH_ADMIN_DSN:-} ]]; then
		for p in "${DBS[@]}"; do bench_drop_db "$p"; done
	fi
	if ((KEEP)); then
		bench_log "harness left running: tests/harness/stop --dir $BENCH_DIR"
	else
		bench_harness_stop --purge
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_install_tools
bench_build
bench_harness_start
bench_master_key
BENCH_RESULTS=$BENCH_WORK/results-$STAMP.jsonl
: >"$BENCH_RESULTS"
T_START=$(date -u '+%Y-%m-%d %H:%M UTC')
bench_machine >"$BENCH_WORK/machine.tsv"

USERS=()
for ((i = 1; i <= ACCOUNTS; i++)); do USERS+=("$(bench_user "$i")"); done
USERS_CSV=$(IFS=,; echo "${USERS[*]}")
SEED_COUNT=0 SEED_BYTES=0

# --- shared pieces ----------------------------------------------------------------------------

# record PART LABEL KEY=VALUE...: one result of the current round
record() {
	local part=$1 label=$2
	shift 2
	bench_record part="$part" label="$label" round="$ROUND" "$@"
}

# wait_all PID...: waits for each; fails when any failed
wait_all() {
	local p rc=0
	for p in "$@"; do wait "$p" || rc=1; done
	return $rc
}

# Counts message files in Maildirs (cur/ and new/) under the given directories.
count_maildir() { find "$@" -type f \( -path '*/cur/*' -o -path '*/new/*' \) 2>/dev/null | wc -l; }

# measure_procs PART LABEL EXPECT COUNT_CMD -- CMD...: runs CMD (a function that starts timed
# processes writing /usr/bin/time files into $TDIR) and records wall, CPU, RSS, and the count.
TDIR=$BENCH_WORK/time
run_measured() {
	local part=$1 label=$2 expect=$3 count_fn=$4 bytes=$5
	shift 5
	rm -rf "$TDIR"
	mkdir -p "$TDIR"
	local s0 s1 t0 wall rc=0 got cpu rss sums
	s0=$(bench_server_cpu)
	RSS_MODE=sum
	t0=$(bench_now)
	"$@" >"$BENCH_WORK/last.out" 2>"$BENCH_WORK/last.err" || rc=$?
	wall=$(bench_elapsed "$t0")
	s1=$(bench_server_cpu)
	sums=$(bench_time_sum "$TDIR"/* 2>/dev/null || echo "0 0 0")
	local rss_max
	read -r cpu rss rss_max <<<"$sums"
	# processes run one after the other: the peak is the largest one's
	[[ $RSS_MODE == max ]] && rss=$rss_max
	got=$($count_fn)
	local ok=true err=""
	if ((rc != 0)) || [[ $got != "$expect" ]]; then
		ok=false
		err="exit $rc, $got of $expect messages; $(tail -n 2 "$BENCH_WORK/last.err" | tr '\n"' ' ' | cut -c1-200)"
		bench_log "$label: FAILED: $err"
	fi
	bench_log "part $part round $ROUND: $label: ${wall}s cpu ${cpu}s rss ${rss}kB ($got msgs)"
	# shellcheck disable=SC2046 # key=value words
	record "$part" "$label" wall="$wall" cpu="$cpu" $(bench_server_delta "$s0" "$s1") \
		rss_kb="$rss" messages="$got" bytes="$bytes" ok="$ok" error="$err"
}

# --- mbsync -----------------------------------------------------------------------------------

MB=$BENCH_WORK/mbsync
mbsync_conf() {
	mkdir -p "$MB"
	local u
	for u in "${USERS[@]}"; do
		# 'localhost' (127.0.0.1 in /etc/hosts): mbsync 1.4 does not match IP addresses in
		# the certificate's subjectAltName.
		printf 'IMAPAccount %s\nHost localhost\nPort %s\nUser %s\nPass %s\nSSLType IMAPS\nCertificateFile %s\n\n' \
			"$u" "$INBOXQ_TEST_IMAPS_PORT" "$u" "$BENCH_PASS" "$INBOXQ_CA_FILE"
		printf 'IMAPStore %s-far\nAccount %s\n\nMaildirStore %s-near\nPath %s/md/%s/\nInbox %s/md/%s/INBOX\n\n' \
			"$u" "$u" "$u" "$MB" "$u" "$MB" "$u"
		printf 'Channel %s\nFar :%s-far:\nNear :%s-near:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\nExpunge None\n\n' \
			"$u" "$u" "$u"
	done >"$MB/rc"
	chmod 600 "$MB/rc"
}
mbsync_reset() { rm -rf "$MB/md"; mkdir -p "${USERS[@]/#/$MB/md/}"; }
mbsync_count() { count_maildir "$MB/md"; }
mbsync_one() { bench_time "$TDIR/t" mbsync -c "$MB/rc" -q -a; }
mbsync_par() {
	local u pids=()
	for u in "${USERS[@]}"; do
		bench_time "$TDIR/t.$u" mbsync -c "$MB/rc" -q "$u" &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
}

# --- fetchmail --------------------------------------------------------------------------------

FM=$BENCH_WORK/fetchmail
# fetchmail_conf PROTO(IMAP|POP3) MODE(first|steady): one rc for all accounts and one per account
fetchmail_conf() {
	local proto=$1 mode=$2 port u opts="keep" sopts=""
	mkdir -p "$FM"
	if [[ $proto == IMAP ]]; then port=$INBOXQ_TEST_IMAPS_PORT; else port=$INBOXQ_TEST_POP3S_PORT; fi
	if [[ $mode == first ]]; then opts+=" fetchall"; fi
	# steady state over POP3: remember the UIDLs seen (in the idfile)
	if [[ $mode == steady && $proto == POP3 ]]; then sopts=" uidl"; fi
	# 'localhost': fetchmail checks the certificate's common name, which is localhost.
	line() {
		printf 'poll localhost service %s proto %s%s user "%s" password "%s" ssl sslcertck sslcertfile "%s" %s\n' \
			"$port" "$proto" "$sopts" "$1" "$BENCH_PASS" "$INBOXQ_CA_FILE" "$opts"
	}
	{
		echo "set no syslog"
		echo "set no bouncemail"
		for u in "${USERS[@]}"; do line "$u"; done
	} >"$FM/rc.$proto.$mode"
	for u in "${USERS[@]}"; do
		{ echo "set no syslog"; echo "set no bouncemail"; line "$u"; } >"$FM/rc.$proto.$mode.$u"
	done
	chmod 600 "$FM"/rc.*
}
fetchmail_reset() { rm -f "$FM"/out* "$FM"/ids* "$FM"/pid*; }
fetchmail_count() { cat "$FM"/out* 2>/dev/null | grep -c '^MAIL FROM:' || true; }
# fetchmail exits 1 when there was no mail: that is success here.
fm() { "$@" || { local rc=$?; ((rc == 1)) || return $rc; }; }
fetchmail_one() { # PROTO MODE [extra options]
	local proto=$1 mode=$2
	shift 2
	fm bench_time "$TDIR/t" fetchmail -s -f "$FM/rc.$proto.$mode" -i "${FM_IDS:-$FM/ids}" --pidfile "$FM/pid" \
		--bsmtp "$FM/out" "$@"
}
fetchmail_par() {
	local proto=$1 mode=$2 u pids=()
	for u in "${USERS[@]}"; do
		fm bench_time "$TDIR/t.$u" fetchmail -s -f "$FM/rc.$proto.$mode.$u" -i "$FM/ids.$u" \
			--pidfile "$FM/pid.$u" --bsmtp "$FM/out.$u" &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
}

# --- getmail6 (runs as nobody: it refuses Maildir delivery as root) ---------------------------

GM=$BENCH_WORK/getmail
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups env "HOME=$GM")
((GETMAIL_STOCK)) || AS_NOBODY+=("PYTHONPATH=$GM/pyfix")
# getmail6 6.18 forks a child per delivered message and installs its SIGCHLD handler only after
# fork() returned: a child that exits first is missed, and getmail waits for its socket timeout
# (180 s) and drops the message ("waiting child pid N timed out"; getmail6 issues #52, #226,
# #245). On a busy machine with parallel processes that hits a few percent of all messages. The
# fix below (loaded through sitecustomize) waits for the child with waitpid() instead: the same
# fork per message, without the race. --getmail-stock runs getmail6 unchanged.
getmail_fix() {
	mkdir -p "$GM/pyfix"
	cat >"$GM/pyfix/sitecustomize.py" <<'PYEOF'
import os
try:
    from getmailcore import baseclasses as _b
    from getmailcore.exceptions import getmailOperationError as _err

    def _forkchild(self, childfun, with_out=True):
        self.child = child = _b.Namespace()
        child.stdout = _b.TemporaryFile23()
        child.stderr = _b.TemporaryFile23()
        child.childpid = os.fork()
        if child.childpid == 0:
            childfun(child.stdout, child.stderr)
            os._exit(127)
        _pid, status = os.waitpid(child.childpid, 0)
        if os.WIFSIGNALED(status):
            raise _err("child pid %d killed by signal %d" % (child.childpid, os.WTERMSIG(status)))
        if not os.WIFEXITED(status):
            raise _err("child pid %d failed to exit" % child.childpid)
        child.exitcode = os.WEXITSTATUS(status)
        child.stderr.seek(0)
        child.err = child.stderr.read().strip().decode()
        child.stdout.seek(0)
        if with_out:
            child.out = child.stdout.read().strip()
        return child

    _b.ForkingBase.forkchild = _forkchild
except ImportError:
    pass
PYEOF
}
getmail_conf() {
	local proto u port type
	mkdir -p "$GM/state"
	getmail_fix
	rm -f "$GM"/rc.*
	for proto in IMAP POP3; do
		if [[ $proto == IMAP ]]; then port=$INBOXQ_TEST_IMAPS_PORT type=SimpleIMAPSSLRetriever; else
			port=$INBOXQ_TEST_POP3S_PORT type=SimplePOP3SSLRetriever; fi
		for u in "${USERS[@]}"; do
			{
				printf '[retriever]\ntype = %s\nserver = 127.0.0.1\nport = %s\nusername = %s\npassword = %s\nca_certs = %s\n' \
					"$type" "$port" "$u" "$BENCH_PASS" "$INBOXQ_CA_FILE"
				if [[ $proto == IMAP ]]; then printf 'mailboxes = ("INBOX",)\n'; fi
				printf '\n[destination]\ntype = Maildir\npath = %s/md/%s/\n\n' "$GM" "$u"
				printf '[options]\nverbose = 0\nread_all = true\ndelete = false\nreceived = false\n'
				printf 'delivered_to = false\nmessage_log_syslog = false\n'
			} >"$GM/rc.$proto.$u"
		done
	done
	chmod 600 "$GM"/rc.*
	chown -R nobody:nogroup "$GM"
}
getmail_reset() {
	local u
	rm -rf "$GM/md" "$GM/state"
	mkdir -p "$GM/state"
	for u in "${USERS[@]}"; do mkdir -p "$GM/md/$u/cur" "$GM/md/$u/new" "$GM/md/$u/tmp"; done
	chown -R nobody:nogroup "$GM/md" "$GM/state"
}
getmail_count() { count_maildir "$GM/md"; }
# getmail_seq PROTO MODE(--all|--new): one process per account, one after the other
getmail_seq() {
	local u rc=0
	RSS_MODE=max
	for u in "${USERS[@]}"; do
		bench_time "$TDIR/t.$u" "${AS_NOBODY[@]}" getmail -q "$2" -l --getmaildir "$GM/state" \
			--rcfile "$GM/rc.$1.$u" || rc=1
	done
	return $rc
}
getmail_par() {
	local u pids=()
	for u in "${USERS[@]}"; do
		bench_time "$TDIR/t.$u" "${AS_NOBODY[@]}" getmail -q "$2" -l --getmaildir "$GM/state" \
			--rcfile "$GM/rc.$1.$u" &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
}
# getmail_one PROTO MODE: one process for every account (one --rcfile each)
getmail_one() {
	local u args=()
	for u in "${USERS[@]}"; do args+=(--rcfile "$GM/rc.$1.$u"); done
	bench_time "$TDIR/t" "${AS_NOBODY[@]}" getmail -q "$2" -l --getmaildir "$GM/state" "${args[@]}"
}

# --- inboxq -----------------------------------------------------------------------------------

# inboxq_accounts PROTO PREFIX: one credential and account per user; sets IDS
inboxq_accounts() {
	local u
	IDS=()
	for u in "${USERS[@]}"; do IDS+=("$(bench_account "$2-$u" "$u" "$1")"); done
}

reset_hwm() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
sum_words() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%d\n", s }' <<<"$*"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

# inboxq_measure PART LABEL EXPECT CHECK_ARGS...: with the workers running, times
# `inboxq check CHECK_ARGS --wait` from the trigger to the last run finished (finished_at of the
# runs); also how long until the outbox was relayed to Kafka. Client CPU = workers + CLI.
inboxq_measure() {
	local part=$1 label=$2 expect=$3
	shift 3
	local s0 s1 c0 c1 t0 wall cli rc=0 drain="" i hwm res n_ok n_runs msgs bytes last
	reset_hwm "${BENCH_WORKERS[@]}"
	c0=$("${BT[@]}" cpu "${BENCH_WORKERS[@]}")
	s0=$(bench_server_cpu)
	t0=$(bench_now)
	bench_time "$BENCH_WORK/iq.time" inboxq check "$@" --wait --timeout 1800 --format json \
		>"$BENCH_WORK/iq.out" 2>"$BENCH_WORK/iq.err" || rc=$?
	cli=$(bench_elapsed "$t0")
	for ((i = 0; i < 2400; i++)); do
		local pending
		pending=$(bench_sql "SELECT count(*) FROM outbox WHERE sent_at IS NULL") || break
		if [[ $pending == 0 ]]; then
			drain=$(bench_elapsed "$t0")
			break
		fi
		sleep 0.05
	done
	c1=$("${BT[@]}" cpu "${BENCH_WORKERS[@]}")
	s1=$(bench_server_cpu)
	hwm=$(sum_words "$("${BT[@]}" hwm "${BENCH_WORKERS[@]}")")
	res=$(/usr/bin/python3 -c '
import json, sys
n = ok = msgs = b = 0
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if "outcome" in o:
        n += 1
        ok += o["outcome"] == "ok"
        msgs += o.get("messages_new") or 0
        b += o.get("bytes") or 0
print(n, ok, msgs, b)' "$BENCH_WORK/iq.out")
	read -r n_runs n_ok msgs bytes <<<"$res"
	last=$(bench_sql "SELECT extract(epoch FROM max(finished_at)) FROM check_runs")
	wall=$(awk -v a="$t0" -v b="$last" -v c="$cli" 'BEGIN { w = b - a; if (w <= 0 || w > c) w = c; printf "%.3f\n", w }')
	local cpu ok=true err=""
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$(awk '{ print $2 + $3 }' "$BENCH_WORK/iq.time" 2>/dev/null || echo 0)" \
		'BEGIN { printf "%.2f\n", b - a + t }')
	if ((rc != 0)) || [[ $msgs != "$expect" || $n_ok != "$n_runs" || $n_runs == 0 ]]; then
		ok=false
		err="exit $rc, $n_ok of $n_runs runs ok, $msgs of $expect messages; $(tail -n 2 "$BENCH_WORK/iq.err" | tr '\n"' ' ' | cut -c1-200)"
		bench_log "$label: FAILED: $err"
	fi
	bench_log "part $part round $ROUND: $label: ${wall}s (cli ${cli}s, events ${drain:-?}s) cpu ${cpu}s rss ${hwm}kB ($msgs msgs)"
	# shellcheck disable=SC2046 # key=value words
	record "$part" "$label" wall="$wall" cli_wall="$cli" events_s="$drain" cpu="$cpu" $(bench_server_delta "$s0" "$s1") \
		rss_kb="$hwm" messages="$msgs" bytes="$bytes" runs="$n_runs" ok="$ok" error="$err"
}

# inboxq_first_sync PART PROTO NWORKERS: a fresh database with an account per user, a fresh
# broker, NWORKERS workers joined, then every account checked once (all messages new).
inboxq_first_sync() {
	local part=$1 proto=$2 n=$3 label="inboxq $3 worker"
	((n > 1)) && label+="s"
	bench_fresh_db bench_sync
	inboxq_accounts "$proto" a
	bench_kafka_fresh "p$part.r$ROUND.w$n.$$"
	if bench_workers_start "$n"; then
		inboxq_measure "$part" "$label" "$SEED_COUNT" --all
	else
		record "$part" "$label" ok=false error="workers did not join"
	fi
	bench_workers_stop
	bench_drop_db bench_sync
}

# --- data -------------------------------------------------------------------------------------

SEEDED=0
seed_main() {
	((SEEDED)) && return 0
	bench_log "seeding $ACCOUNTS accounts x $MESSAGES messages"
	read -r SEED_COUNT SEED_BYTES < <(bench_seed "$USERS_CSV" "$MESSAGES")
	bench_log "seeded $SEED_COUNT messages, $SEED_BYTES bytes; Dovecot indexes them"
	bench_warm "${USERS[@]}"
	SEEDED=1
}
# Bytes the server holds now for USERS (the files in their Maildirs).
server_bytes() {
	local u total=0
	for u in "${USERS[@]}"; do
		total=$((total + $(find "$BENCH_MAILROOT/$u/Maildir/cur" "$BENCH_MAILROOT/$u/Maildir/new" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')))
	done
	echo "$total"
}

# --- part 1 and 2: first sync -----------------------------------------------------------------

part_first_sync() {
	local part=$1 proto=$2 P=${2^^} r
	seed_main
	tool mbsync && [[ $proto == imap ]] && mbsync_conf
	tool fetchmail && fetchmail_conf "$P" first
	tool getmail6 && getmail_conf
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		if tool inboxq; then
			inboxq_first_sync "$part" "$proto" 1
			inboxq_first_sync "$part" "$proto" 2
		fi
		if tool mbsync && [[ $proto == imap ]]; then
			mbsync_reset
			run_measured "$part" "mbsync -a (1 process)" "$SEED_COUNT" mbsync_count "$SEED_BYTES" mbsync_one
			mbsync_reset
			run_measured "$part" "mbsync ($ACCOUNTS processes)" "$SEED_COUNT" mbsync_count "$SEED_BYTES" mbsync_par
		fi
		if tool fetchmail; then
			fetchmail_reset
			run_measured "$part" "fetchmail (1 process)" "$SEED_COUNT" fetchmail_count "$SEED_BYTES" fetchmail_one "$P" first
			fetchmail_reset
			run_measured "$part" "fetchmail ($ACCOUNTS processes)" "$SEED_COUNT" fetchmail_count "$SEED_BYTES" fetchmail_par "$P" first
		fi
		if tool getmail6; then
			getmail_reset
			run_measured "$part" "getmail6 (sequential)" "$SEED_COUNT" getmail_count "$SEED_BYTES" getmail_seq "$P" --all
			getmail_reset
			run_measured "$part" "getmail6 ($ACCOUNTS processes)" "$SEED_COUNT" getmail_count "$SEED_BYTES" getmail_par "$P" --all
		fi
	done
	rm -rf "$MB/md" "$GM/md" "$FM"/out*
}

# --- part 4: ceiling --------------------------------------------------------------------------

CEIL=$BENCH_WORK/ceiling
ceil_imap() {
	local u pids=()
	for u in "${USERS[@]}"; do
		bench_time "$TDIR/t.$u" openssl s_client -quiet -connect "127.0.0.1:$INBOXQ_TEST_IMAPS_PORT" \
			-CAfile "$INBOXQ_CA_FILE" -verify_ip 127.0.0.1 <"$CEIL/imap.$u" >/dev/null 2>/dev/null &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
}
ceil_pop3() {
	local u pids=()
	for u in "${USERS[@]}"; do
		bench_time "$TDIR/t.$u" openssl s_client -quiet -connect "127.0.0.1:$INBOXQ_TEST_POP3S_PORT" \
			-CAfile "$INBOXQ_CA_FILE" -verify_ip 127.0.0.1 <"$CEIL/pop3.$u" >/dev/null 2>/dev/null &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
}
ceil_count() { echo "$IMAP_N"; }
copy_run() {
	bench_sql "TRUNCATE copy_t" >/dev/null
	bench_time "$TDIR/t" psql -qX -v ON_ERROR_STOP=1 "$INBOXQ_PG_DSN" \
		-c "\\copy copy_t FROM '$CEIL/copy.bin' WITH (FORMAT binary)"
}
copy_count() { bench_sql "SELECT count(*) FROM copy_t"; }

part_ceiling() {
	local u r n b got
	seed_main
	mkdir -p "$CEIL"
	for u in "${USERS[@]}"; do
		printf 'a LOGIN %s %s\r\nb SELECT INBOX\r\nc UID FETCH 1:* (BODY.PEEK[])\r\nd LOGOUT\r\n' "$u" "$BENCH_PASS" >"$CEIL/imap.$u"
		n=$(count_maildir "$BENCH_MAILROOT/$u/Maildir")
		{
			printf 'USER %s\r\nPASS %s\r\n' "$u" "$BENCH_PASS"
			seq -f 'RETR %g' 1 "$n" | sed 's/$/\r/'
			printf 'QUIT\r\n'
		} >"$CEIL/pop3.$u"
	done
	b=$(server_bytes)
	n=$(count_maildir "${USERS[@]/#/$BENCH_MAILROOT/}")
	# Once unmeasured, into a file: a session really receives every byte of its mailbox.
	u=${USERS[0]}
	openssl s_client -quiet -connect "127.0.0.1:$INBOXQ_TEST_IMAPS_PORT" -CAfile "$INBOXQ_CA_FILE" \
		-verify_ip 127.0.0.1 <"$CEIL/imap.$u" >"$CEIL/check.out" 2>/dev/null || true
	got=$(stat -c %s "$CEIL/check.out")
	local want
	want=$(find "$BENCH_MAILROOT/$u/Maildir/cur" "$BENCH_MAILROOT/$u/Maildir/new" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	((got >= want)) || bench_die "the IMAP ceiling session received $got bytes, less than the $want of the mailbox"
	rm -f "$CEIL/check.out"
	# The COPY input: the same messages as PGCOPY binary rows (id bigint, raw bytea), into a
	# column stored as inboxq stores messages.raw (lz4, schemas/sql/0005), so the anchor
	# measures PostgreSQL's floor for our storage rather than pglz's cost.
	bench_fresh_db bench_copy
	DBS+=(bench_copy)
	bench_sql "CREATE TABLE copy_t (id bigint, raw bytea COMPRESSION lz4)" >/dev/null
	local mds=()
	for u in "${USERS[@]}"; do mds+=("$BENCH_MAILROOT/$u/Maildir"); done
	read -r _ _ < <("${BT[@]}" copyfile "$CEIL/copy.bin" "${mds[@]}")
	local IMAP_N=$n IMAP_B=$b
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		run_measured 4 "openssl IMAP UID FETCH (all accounts parallel)" "$IMAP_N" ceil_count "$IMAP_B" ceil_imap
		run_measured 4 "openssl POP3 RETR (all accounts parallel)" "$IMAP_N" ceil_count "$IMAP_B" ceil_pop3
		run_measured 4 "PostgreSQL COPY FROM (binary, bytea lz4)" "$IMAP_N" copy_count "$IMAP_B" copy_run
	done
	bench_drop_db bench_copy
	rm -f "$CEIL/copy.bin"
}

# --- part 3: steady state ---------------------------------------------------------------------

BASE=0
mbsync_delta() { echo $(($(mbsync_count) - BASE)); }
getmail_delta() { echo $(($(getmail_count) - BASE)); }
DIRECT_OUT=$BENCH_WORK/direct.out
direct_seq() {
	local id
	RSS_MODE=max
	: >"$DIRECT_OUT"
	for id in "${IDS_I[@]}"; do
		bench_time "$TDIR/t.$id" inboxq check "$id" --direct --format json >>"$DIRECT_OUT" || return 1
	done
}
direct_count() {
	/usr/bin/python3 -c '
import json, sys
txt = open(sys.argv[1]).read()
dec = json.JSONDecoder()
i = n = 0
while i < len(txt):
    while i < len(txt) and txt[i].isspace():
        i += 1
    if i >= len(txt):
        break
    o, i = dec.raw_decode(txt, i)
    n += o.get("messages_new") or 0
print(n)' "$DIRECT_OUT"
}

steady_inboxq() {
	tool inboxq || return 0
	local P=$1 ids
	if [[ $P == IMAP ]]; then ids=("${IDS_I[@]}"); else ids=("${IDS_P[@]}"); fi
	INBOXQ_CONCURRENCY=$CONC bench_workers_start 2 || bench_die "workers did not join"
	inboxq_measure 3 "inboxq 2 workers ${P}S, one new each" "$ACCOUNTS" "${ids[@]}"
	inboxq_measure 3 "inboxq 2 workers ${P}S, no new mail" 0 "${ids[@]}"
	bench_workers_stop
}
steady_fetchmail() {
	tool fetchmail || return 0
	local P=$1
	rm -f "$FM"/out*
	FM_IDS=$FM/ids.$P run_measured 3 "fetchmail ${P}S, one new each (1 process)" "$ACCOUNTS" \
		fetchmail_count "" fetchmail_one "$P" steady
	rm -f "$FM"/out*
	FM_IDS=$FM/ids.$P run_measured 3 "fetchmail ${P}S, no new mail (1 process)" 0 \
		fetchmail_count "" fetchmail_one "$P" steady
}
steady_getmail() {
	tool getmail6 || return 0
	local P=$1
	BASE=$(getmail_count)
	run_measured 3 "getmail6 ${P}S, one new each (1 process)" "$ACCOUNTS" getmail_delta "" getmail_one "$P" --new
	BASE=$(getmail_count)
	run_measured 3 "getmail6 ${P}S, no new mail (1 process)" 0 getmail_delta "" getmail_one "$P" --new
}

part_steady() {
	local r u
	seed_main
	bench_log "steady state: first sync of every tool (not measured)"
	if tool inboxq; then
		bench_fresh_db bench_steady
		DBS+=(bench_steady)
		inboxq_accounts imap si
		IDS_I=("${IDS[@]}")
		inboxq_accounts pop3 sp
		IDS_P=("${IDS[@]}")
		bench_kafka_fresh "p3.$$"
		INBOXQ_CONCURRENCY=$CONC bench_workers_start 2 || bench_die "workers did not join"
		inboxq check --all --wait --timeout 1800 >/dev/null || bench_log "warning: the inboxq first sync failed"
		bench_workers_stop
	fi
	if tool mbsync; then mbsync_conf; mbsync_reset; mkdir -p "$TDIR"; mbsync_one || true; fi
	if tool fetchmail; then
		fetchmail_conf IMAP steady
		fetchmail_conf POP3 steady
		fetchmail_reset
		mkdir -p "$TDIR"
		fm fetchmail -s -a -f "$FM/rc.IMAP.steady" -i "$FM/ids.IMAP" --pidfile "$FM/pid" --bsmtp "$FM/out" || true
		fm fetchmail -s -a -f "$FM/rc.POP3.steady" -i "$FM/ids.POP3" --pidfile "$FM/pid" --bsmtp "$FM/out" || true
	fi
	if tool getmail6; then
		getmail_conf
		getmail_reset
		mkdir -p "$TDIR"
		getmail_par IMAP --all || true
		getmail_par POP3 --all || true
	fi
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		"${BT[@]}" seed "$BENCH_MAILROOT" "$INBOXQ_TEST_MAIL_UID" "$INBOXQ_TEST_MAIL_GID" "$USERS_CSV" 1 \
			--seed "$((1000 + r))" --tag "steady$r" >/dev/null
		# IMAP first: Dovecot's POP3 sets \Seen on RETR, and fetchmail's IMAP state is \Seen.
		# fetchmail leads the IMAP group for the same reason (the others keep their own state).
		steady_fetchmail IMAP
		steady_inboxq IMAP
		if tool inboxq; then
			run_measured 3 "inboxq check --direct, sequential, IMAPS, no new mail" 0 direct_count "" direct_seq
		fi
		if tool mbsync; then
			BASE=$(mbsync_count)
			run_measured 3 "mbsync -a IMAPS, one new each" "$ACCOUNTS" mbsync_delta "" mbsync_one
			BASE=$(mbsync_count)
			run_measured 3 "mbsync -a IMAPS, no new mail" 0 mbsync_delta "" mbsync_one
		fi
		steady_getmail IMAP
		steady_fetchmail POP3
		steady_inboxq POP3
		steady_getmail POP3
	done
	bench_drop_db bench_steady
	rm -rf "$MB/md" "$GM/md" "$FM"/out*
	SEEDED=0 # the mailboxes hold more than the seed now
}

# --- part 5: scale ----------------------------------------------------------------------------

SCALE_MAILBOXES=50
SCHED_PID=""
start_scheduler() {
	SCHED_LOG=$BENCH_WORK/scheduler.log
	: >"$SCHED_LOG"
	inboxq-scheduler >>"$SCHED_LOG" 2>&1 </dev/null &
	SCHED_PID=$!
	PIDS+=("$SCHED_PID")
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q 'started' "$SCHED_LOG" && return 0
		sleep 0.05
	done
	bench_die "the scheduler did not start: $(tail -n 3 "$SCHED_LOG")"
}
stop_scheduler() {
	[[ -n $SCHED_PID ]] || return 0
	kill "$SCHED_PID" 2>/dev/null || true
	wait "$SCHED_PID" 2>/dev/null || true
	SCHED_PID=""
}

# scale_phase N PHASE LABEL: every account due 2 s from now; waits until each has one more run.
scale_phase() {
	local n=$1 phase=$2 label=$3 before lines0 c0 c1 s0 s1 t_due cnt hwm stats disp
	before=$(bench_sql "SELECT count(*) FROM check_runs WHERE finished_at IS NOT NULL")
	lines0=$(wc -l <"$SCHED_LOG")
	reset_hwm "${BENCH_WORKERS[@]}"
	c0=$("${BT[@]}" cpu "${BENCH_WORKERS[@]}" "$SCHED_PID")
	s0=$(bench_server_cpu)
	t_due=$(bench_sql "WITH u AS (UPDATE mail_accounts SET next_check_at = now() + interval '2 s' RETURNING next_check_at)
		SELECT extract(epoch FROM min(next_check_at)) FROM u")
	local until=$((SECONDS + 1800))
	while :; do
		cnt=$(bench_sql "SELECT count(*) FROM check_runs WHERE finished_at IS NOT NULL")
		((cnt >= before + n)) && break
		if ((SECONDS > until)); then
			bench_log "$label: only $((cnt - before)) of $n runs finished in 30 min"
			break
		fi
		sleep 0.2
	done
	c1=$("${BT[@]}" cpu "${BENCH_WORKERS[@]}" "$SCHED_PID")
	s1=$(bench_server_cpu)
	hwm=$(sum_words "$("${BT[@]}" hwm "${BENCH_WORKERS[@]}")")
	stats=$(bench_sql "SELECT count(*), count(*) FILTER (WHERE outcome IS DISTINCT FROM 'ok'),
		round((extract(epoch FROM max(finished_at)) - $t_due)::numeric, 3),
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at) - $t_due)::numeric, 3),
		round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at) - $t_due)::numeric, 3),
		round((extract(epoch FROM min(started_at)) - $t_due)::numeric, 3),
		coalesce(sum(messages_new), 0), coalesce(sum(bytes), 0)
		FROM check_runs WHERE started_at >= to_timestamp($t_due) - interval '1 s'" | tr '|' ' ')
	local runs failed span p50 p95 first msgs bytes
	read -r runs failed span p50 p95 first msgs bytes <<<"$stats"
	# the scheduler's own account of each tick: "dispatched N check(s) and M report(s) in X ms"
	disp=$(tail -n +"$((lines0 + 1))" "$SCHED_LOG" | grep -o 'dispatched [0-9]* check(s) and [0-9]* report(s) in [0-9]* ms' |
		awk '{ c += $2; ms += $8 } END { printf "%d %.3f\n", c, ms / 1000 }')
	local dn ds
	read -r dn ds <<<"$disp"
	local ok=true err=""
	if ((runs != n || failed > 0)); then ok=false; err="$runs of $n runs, $failed failed"; fi
	bench_log "part 5 round $ROUND: $label: due->last ${span}s, p50 ${p50}s, dispatch ${dn} in ${ds}s, failed $failed"
	# shellcheck disable=SC2046 # key=value words
	record 5 "$label" accounts="$n" phase="$phase" wall="$span" span_s="$span" lag_p50="$p50" lag_p95="$p95" \
		lag_max="$span" first_start_s="$first" dispatched="$dn" dispatch_s="$ds" \
		dispatch_rate="$(awk -v n="$dn" -v s="$ds" 'BEGIN { if (s > 0) printf "%.0f", n / s }')" \
		checks_per_s="$(awk -v n="$runs" -v s="$span" 'BEGIN { if (s > 0) printf "%.1f", n / s }')" \
		failed="$failed" cpu="$(fsub "$c0" "$c1")" $(bench_server_delta "$s0" "$s1") rss_kb="$hwm" \
		messages="$msgs" bytes="$bytes" ok="$ok" error="$err"
}

part_scale() {
	local r n u mbs=()
	for ((u = 1; u <= SCALE_MAILBOXES; u++)); do mbs+=("$(printf 'sc%03d' "$u")"); done
	read -r _ _ < <(BENCH_TAG=scale bench_seed "$(IFS=,; echo "${mbs[*]}")" 1)
	bench_warm "${mbs[@]}"
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		for n in $SCALE; do
			bench_log "part 5 round $r: $n accounts"
			bench_fresh_db bench_scale
			DBS+=(bench_scale)
			for u in "${mbs[@]}"; do
				printf '%s' "$BENCH_PASS" | inboxq credential add --name "$u" --username "$u" --password-stdin >/dev/null
			done
			bench_sql "INSERT INTO mail_accounts (name, host, port, port_is_default, protocol, credential_id, secure,
				secure_type, keep_copy, auto_check, check_interval_s, next_check_at)
				SELECT 'scale-' || g, '127.0.0.1', $INBOXQ_TEST_IMAPS_PORT, false, 'imap',
					(SELECT min(id) FROM credentials) + g % $SCALE_MAILBOXES, true, 'ssl', true, true, 86400,
					now() + interval '1 day'
				FROM generate_series(1, $n) g" >/dev/null
			bench_kafka_fresh "p5.r$r.n$n.$$"
			INBOXQ_CONCURRENCY=$CONC bench_workers_start 2 || bench_die "workers did not join"
			start_scheduler
			scale_phase "$n" first "$n accounts, first check (1 new message each)"
			scale_phase "$n" idle "$n accounts, idle (no new mail)"
			stop_scheduler
			bench_workers_stop
			bench_drop_db bench_scale
		done
	done
}

# --- part 6: latency --------------------------------------------------------------------------

part_latency() {
	local r i id kpid lat_file tag line t_del t_ev sleep_s samples
	bench_add_users lat01
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		bench_fresh_db bench_latency
		DBS+=(bench_latency)
		read -r _ _ < <(BENCH_TAG=lat bench_seed lat01 1)
		id=$(bench_account lat lat01 imap --auto-check yes --check-interval 5s)
		bench_kafka_fresh "p6.r$r.$$"
		lat_file=$BENCH_WORK/latency-events.$r
		: >"$lat_file"
		"${BT[@]}" consume "$INBOXQ_KAFKA_BROKERS" "$INBOXQ_TOPIC_NEW_MAIL" "$lat_file" &
		kpid=$!
		PIDS+=("$kpid")
		sleep 1 # kcat has its partitions before the first event
		INBOXQ_CONCURRENCY=$CONC bench_workers_start 2 || bench_die "workers did not join"
		start_scheduler
		# the first check stores the seeded message; then the account is idle, checked every 5 s
		i=0
		while ((i++ < 300)) && [[ ! -s $lat_file ]]; do sleep 0.1; done
		samples=()
		for ((i = 1; i <= DELIVERIES; i++)); do
			# a random phase within the 5 s interval
			sleep_s=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", 1 + rand() * 5 }')
			sleep "$sleep_s"
			tag="lat-$STAMP-r$r-$i-$$"
			read -r _ t_del < <(bench_deliver_one lat01 4096 "$tag")
			t_ev=""
			local until=$((SECONDS + 30))
			while ((SECONDS < until)); do
				line=$(grep -F "$tag@inboxq.bench" "$lat_file" | head -n1 || true)
				if [[ -n $line ]]; then t_ev=${line%% *}; break; fi
				sleep 0.02
			done
			if [[ -n $t_ev ]]; then
				samples+=("$(awk -v a="$t_del" -v b="$t_ev" 'BEGIN { printf "%.3f", b - a }')")
				bench_log "part 6 round $r: delivery $i -> event in ${samples[-1]}s"
			else
				bench_log "part 6 round $r: delivery $i: no event within 30 s"
			fi
		done
		stop_scheduler
		bench_workers_stop
		kill "$kpid" 2>/dev/null || true
		wait "$kpid" 2>/dev/null || true
		local stats
		stats=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1; s += $1 }
			END { if (NR == 0) { print "0 - - - - -"; exit }
				p50 = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				i90 = int(0.9 * NR + 0.999); if (i90 < 1) i90 = 1
				printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, v[1], p50, v[i90], v[NR], s / NR }')
		local seen mn p50 p90 mx mean
		read -r seen mn p50 p90 mx mean <<<"$stats"
		record 6 "IMAPS account, check interval 5 s, scheduler + 2 workers" n="$DELIVERIES" seen="$seen" \
			min="$mn" p50="$p50" p90="$p90" max="$mx" mean="$mean" samples="$(IFS=' '; echo "${samples[*]:-}")" \
			ok="$([[ $seen == "$DELIVERIES" ]] && echo true || echo false)"
		bench_drop_db bench_latency
	done
}

# --- part 7: memory ---------------------------------------------------------------------------

part_memory() {
	local r saved=("${USERS[@]}") ids
	bench_log "part 7: one message of $BIG_BYTES bytes"
	read -r _ _ < <(BENCH_TAG=big bench_seed big01 1 "$BIG_BYTES" "$BIG_BYTES")
	bench_warm big01
	USERS=(big01)
	tool mbsync && mbsync_conf
	tool fetchmail && fetchmail_conf IMAP first && fetchmail_conf POP3 first
	tool getmail6 && getmail_conf
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		if tool inboxq; then
			bench_fresh_db bench_memory
			DBS+=(bench_memory)
			IMAP_ID=$(bench_account mi big01 imap)
			POP3_ID=$(bench_account mp big01 pop3)
			IDS_I=("$IMAP_ID")
			run_measured 7 "inboxq check --direct, IMAP" 1 direct_count "$BIG_BYTES" direct_seq
			IDS_I=("$POP3_ID")
			run_measured 7 "inboxq check --direct, POP3" 1 direct_count "$BIG_BYTES" direct_seq
			bench_fresh_db bench_memory
			IMAP_ID=$(bench_account mi big01 imap)
			POP3_ID=$(bench_account mp big01 pop3)
			bench_kafka_fresh "p7.r$r.$$"
			INBOXQ_CONCURRENCY=$CONC bench_workers_start 1 || bench_die "workers did not join"
			bench_log "worker idle RSS: $("${BT[@]}" hwm "${BENCH_WORKERS[@]}") kB (peak since start)"
			inboxq_measure 7 "inboxq worker, IMAP" 1 "$IMAP_ID"
			inboxq_measure 7 "inboxq worker, POP3" 1 "$POP3_ID"
			bench_workers_stop
			bench_drop_db bench_memory
		fi
		if tool mbsync; then
			mbsync_reset
			run_measured 7 "mbsync, IMAP" 1 mbsync_count "$BIG_BYTES" mbsync_one
		fi
		if tool fetchmail; then
			fetchmail_reset
			run_measured 7 "fetchmail --bsmtp, IMAP" 1 fetchmail_count "$BIG_BYTES" fetchmail_one IMAP first
			fetchmail_reset
			run_measured 7 "fetchmail --bsmtp, POP3" 1 fetchmail_count "$BIG_BYTES" fetchmail_one POP3 first
		fi
		if tool getmail6; then
			getmail_reset
			run_measured 7 "getmail6, IMAP" 1 getmail_count "$BIG_BYTES" getmail_seq IMAP --all
			getmail_reset
			run_measured 7 "getmail6, POP3" 1 getmail_count "$BIG_BYTES" getmail_seq POP3 --all
		fi
	done
	USERS=("${saved[@]}")
	rm -rf "$MB/md" "$GM/md" "$FM"/out*
}

# --- main -------------------------------------------------------------------------------------

bench_log "harness in $BENCH_DIR (ports from $BENCH_PORT_BASE); parts $ONLY; $ROUNDS round(s); results -> $OUT"
# Part 4 runs before part 3, which adds mail to the seeded mailboxes.
for part in 1 2 4 3 5 6 7; do
	want "$part" || continue
	T_PART=$(bench_now)
	case $part in
	1) part_first_sync 1 imap ;;
	2) part_first_sync 2 pop3 ;;
	3) part_steady ;;
	4) part_ceiling ;;
	5) part_scale ;;
	6) part_latency ;;
	7) part_memory ;;
	esac
	bench_log "part $part done in $(bench_elapsed "$T_PART")s"
done

printf 'load average at end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$BENCH_WORK/machine.tsv"
/usr/bin/python3 - "$BENCH_WORK/meta.json" "$BENCH_WORK/machine.tsv" <<PYEOF
import json, sys
machine = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]) if "\t" in l]
meta = {
    "started": "$T_START", "command": """$ARGV""", "accounts": $ACCOUNTS, "messages": $MESSAGES,
    "rounds": $ROUNDS, "concurrency": $CONC, "big_mb": round($BIG_BYTES / 1048576, 1), "seed_bytes_mb": round($SEED_BYTES / 1e6, 1),
    "git": "$BENCH_BUILT_FROM",
    "machine": machine,
    "notes": [
        "Notes on method:",
        "",
        "- inboxq: PostgreSQL 15 (harness: fsync off), the dev broker (librdkafka mock, $BENCH_PARTITIONS partitions), Redis; "
        "workers joined before timing; wall = from the trigger (\`inboxq check --all --wait\`) to the last run's finished_at; "
        "a fresh database and fresh topics every round.",
        "- mbsync and fetchmail connect to \`localhost\` (127.0.0.1 in /etc/hosts): they match the certificate's "
        "DNS name only, not its IP address. fetchmail: \`keep fetchall ssl sslcertck\`, \`--bsmtp FILE\`. getmail6 runs as "
        "\`nobody\` (it refuses Maildir delivery as root); steady-state getmail6 is one process with every account's rc file.",
        "- Server CPU counts Dovecot, PostgreSQL, Redis and the broker (processes and reaped children) over the run.",
        "- inboxq's workers poll, as the other tools do: \`max_push_connections\` is 0 (push is bench/push.sh's).",
        "- Raw results: $BENCH_RESULTS (removed with the harness state unless --keep).",
    ],
}
json.dump(meta, open(sys.argv[1], "w"))
PYEOF
"${BT[@]}" report "$BENCH_RESULTS" "$OUT" "$BENCH_WORK/meta.json"
{
	echo
	echo "<details><summary>raw results (JSON lines)</summary>"
	echo
	echo '```'
	cat "$BENCH_RESULTS"
	echo '```'
	echo "</details>"
} >>"$OUT"
bench_log "report: $OUT"
