# SPDX-License-Identifier: MIT
# Shared functions of the inboxq benchmarks (sourced by bench/*.sh). Reuses the test harness
# (tests/harness/start|stop|deliver) in a state dir and port base of its own, so a bench can run
# next to the test suite. Everything listens on and talks to 127.0.0.1 only.
#
# Settings (environment):
#   BENCH_DIR         harness state dir (default /tmp/inboxq-bench; at most 60 characters)
#   BENCH_PORT_BASE   harness port base (default 30100; see tests/harness/README.md)
#   BENCH_PARTITIONS  dev broker partitions per topic (default 8)
#   IQ_BIN_DIR        inboxq binaries (default ./build-bench/bin, built when missing)
# shellcheck shell=bash

BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IQ_SOURCE_DIR=$(cd "$BENCH_HOME/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/inboxq-bench}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-30100}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-8}
IQ_BIN_DIR=${IQ_BIN_DIR:-$IQ_SOURCE_DIR/build-bench/bin}
BENCH_WORK=$BENCH_DIR/bench
BT=("/usr/bin/python3" "$BENCH_HOME/benchtool.py")
BENCH_TIME_FMT='%e %U %S %M'
# The tools' Debian packages, by command.
declare -A BENCH_PKG=([mbsync]=isync [fetchmail]=fetchmail [getmail]=getmail6 [/usr/bin/time]=time
	[kcat]=kcat [openssl]=openssl [psql]=postgresql-client [setpriv]=util-linux)

bench_log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
bench_now() { printf '%s\n' "$EPOCHREALTIME"; }
# bench_elapsed T0 [T1]: seconds between two bench_now values, 3 decimals
bench_elapsed() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f\n", b - a }'; }

# bench_commit: the commit of the work tree, with "+uncommitted changes" when it differs from it.
bench_commit() {
	printf '%s%s\n' "$(git -C "$IQ_SOURCE_DIR" rev-parse --short HEAD 2>/dev/null)" \
		"$(git -C "$IQ_SOURCE_DIR" diff --quiet HEAD 2>/dev/null || echo '+uncommitted changes')"
}
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

# bench_results NAME [FILE]: from here on, stdout also goes to FILE (default
# bench/results/NAME-YYYYmmdd-HHMM.md); sets BENCH_OUT.
bench_results() {
	BENCH_OUT=${2:-$IQ_SOURCE_DIR/bench/results/$1-$(date -u +%Y%m%d-%H%M).md}
	exec > >(tee "$BENCH_OUT")
	bench_log "results -> $BENCH_OUT"
}

# --- tools and binaries -----------------------------------------------------------------------

# Installs the reference pollers and measuring tools that are missing (Debian packages).
bench_install_tools() {
	local c missing=()
	for c in "${!BENCH_PKG[@]}"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("${BENCH_PKG[$c]}")
	done
	((${#missing[@]})) || return 0
	[[ $EUID == 0 ]] || bench_die "missing ${missing[*]}: run apt-get install -y ${missing[*]} as root"
	bench_log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$BENCH_DIR.apt.log" 2>&1 || {
		apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$BENCH_DIR.apt.log" 2>&1
	} || bench_die "apt-get install ${missing[*]} failed; see $BENCH_DIR.apt.log"
	rm -f "$BENCH_DIR.apt.log"
}

# Brings build-bench (RelWithDebInfo) up to date with the work tree (an incremental build), so
# the binaries measured are the source that is checked out; sets BENCH_BUILT_FROM. With another
# IQ_BIN_DIR (or BENCH_NO_BUILD=1) the binaries are used as they are.
bench_build() {
	local b
	BENCH_BUILT_FROM=$(bench_commit)
	if [[ $IQ_BIN_DIR == "$IQ_SOURCE_DIR/build-bench/bin" && -z ${BENCH_NO_BUILD:-} ]]; then
		bench_log "building inboxq into build-bench (RelWithDebInfo, incremental)"
		if [[ ! -f $IQ_SOURCE_DIR/build-bench/CMakeCache.txt ]]; then
			cmake -S "$IQ_SOURCE_DIR" -B "$IQ_SOURCE_DIR/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
				bench_die "cmake configure failed"
		fi
		cmake --build "$IQ_SOURCE_DIR/build-bench" -j"$(nproc)" >"$IQ_SOURCE_DIR/build-bench/bench-build.log" 2>&1 ||
			bench_die "build failed; see build-bench/bench-build.log"
	else
		BENCH_BUILT_FROM="binaries in $IQ_BIN_DIR, not rebuilt by the bench (work tree at $BENCH_BUILT_FROM)"
	fi
	for b in inboxq inboxq-worker inboxq-scheduler inboxq-devbroker; do
		[[ -x $IQ_BIN_DIR/$b ]] || bench_die "no $b in $IQ_BIN_DIR"
	done
}

# --- the harness ------------------------------------------------------------------------------

bench_env() {
	# shellcheck disable=SC1091
	source "$BENCH_DIR/env"
	export PATH="$IQ_BIN_DIR:$PATH"
	BENCH_ADMIN_DSN=$INBOXQ_PG_ADMIN_DSN
	BENCH_BASE_DSN=$INBOXQ_PG_DSN
	BENCH_PASS=$INBOXQ_TEST_MAIL_PASS_BULK
	BENCH_MAILROOT=$INBOXQ_TEST_MAILDIR_ROOT
}

# Starts PostgreSQL, Redis, Dovecot and the dev broker (BENCH_PARTITIONS partitions per topic)
# in BENCH_DIR, and the bench users.
bench_harness_start() {
	INBOXQ_TEST_PORT_BASE=$BENCH_PORT_BASE INBOXQ_TEST_KAFKA_PARTITIONS=$BENCH_PARTITIONS \
		"$IQ_SOURCE_DIR/tests/harness/start" --dir "$BENCH_DIR" --devbroker "$IQ_BIN_DIR/inboxq-devbroker" \
		certs pg redis dovecot kafka 2>>"$BENCH_DIR.start.log" || {
		cat "$BENCH_DIR.start.log" >&2
		bench_die "the harness did not start"
	}
	rm -f "$BENCH_DIR.start.log"
	mkdir -p "$BENCH_WORK"
	chmod 755 "$BENCH_WORK"
	bench_env
}

bench_harness_stop() {
	"$IQ_SOURCE_DIR/tests/harness/stop" --dir "$BENCH_DIR" "$@" 2>/dev/null || true
}

# Restarts the dev broker with private topics and a private consumer group named after TAG
# (fresh, empty topics of BENCH_PARTITIONS partitions: no job of an earlier run is consumed).
bench_kafka_fresh() {
	local tag="bench.$1"
	export INBOXQ_TOPIC_CHECK="$tag.check" INBOXQ_TOPIC_REPORT="$tag.report"
	export INBOXQ_TOPIC_NEW_MAIL="$tag.new-mail" INBOXQ_TOPIC_DEAD="$tag.dead"
	export INBOXQ_CONSUMER_GROUP="bench-${1//./-}"
	export INBOXQ_KAFKA_SESSION_TIMEOUT=6s INBOXQ_KAFKA_FETCH_WAIT=10ms
	"$IQ_SOURCE_DIR/tests/harness/stop" --dir "$BENCH_DIR" kafka 2>/dev/null
	INBOXQ_TEST_PORT_BASE=$BENCH_PORT_BASE INBOXQ_TEST_KAFKA_PARTITIONS=$BENCH_PARTITIONS \
		"$IQ_SOURCE_DIR/tests/harness/start" --dir "$BENCH_DIR" --devbroker "$IQ_BIN_DIR/inboxq-devbroker" \
		kafka 2>/dev/null || bench_die "the dev broker did not restart"
	# only the broker's address changed (sourcing the whole env file would reset the DSN)
	INBOXQ_KAFKA_BROKERS=$(sed -n "s/^export INBOXQ_KAFKA_BROKERS='\(.*\)'$/\1/p" "$BENCH_DIR/env")
	[[ -n $INBOXQ_KAFKA_BROKERS ]] || bench_die "no broker address in $BENCH_DIR/env"
	export INBOXQ_KAFKA_BROKERS
}

# The servers (Dovecot main instance, PostgreSQL, Redis, dev broker) as process trees: their
# CPU, children included, is the "server CPU" of a measurement.
# Prints "total dovecot pg redis kafka" (seconds).
bench_server_cpu() {
	local n args=()
	for n in dovecot-main pg redis kafka; do
		args+=("${n%-main}=$(cat "$BENCH_DIR/run/$n.pid" 2>/dev/null || echo 0)")
	done
	"${BT[@]}" sessions "${args[@]}"
}
# bench_server_delta "BEFORE" "AFTER": record fields of the server CPU between two samples
bench_server_delta() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "server_cpu=%.2f srv_dovecot=%.2f srv_pg=%.2f srv_redis=%.2f srv_kafka=%.2f\n",
			y[1] - x[1], y[2] - x[2], y[3] - x[3], y[4] - x[4], y[5] - x[5] }'
}

# --- users and mail ---------------------------------------------------------------------------

# bench_user I: the mail user of account I (1-based): user001..user050 from the harness, then
# bNNNNN users the bench adds (bench_add_users).
bench_user() {
	if (($1 <= 50)); then printf 'user%03d\n' "$1"; else printf 'b%05d\n' "$1"; fi
}

# Adds users (password INBOXQ_TEST_MAIL_PASS_BULK) to this state dir's Dovecot passwd file
# (re-read by Dovecot when it changes) and gives each an empty Maildir. Idempotent; the harness
# rewrites the file when it starts Dovecot, so call it after every start.
bench_add_users() {
	local f=$BENCH_DIR/dovecot/users u add=() dirs=()
	for u in "$@"; do
		[[ $u =~ ^user0[0-4][0-9]$|^user050$ ]] && continue
		grep -q "^$u:" "$f" || add+=("$u:{PLAIN}$BENCH_PASS::::::")
		[[ -d $BENCH_MAILROOT/$u/Maildir/cur ]] || dirs+=("$BENCH_MAILROOT/$u")
	done
	if ((${#add[@]})); then
		cp -p "$f" "$f.tmp"
		printf '%s\n' "${add[@]}" >>"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	if ((${#dirs[@]})); then
		mkdir -p "${dirs[@]/%//Maildir/cur}" "${dirs[@]/%//Maildir/new}" "${dirs[@]/%//Maildir/tmp}"
		chown -R "$INBOXQ_TEST_MAIL_UID:$INBOXQ_TEST_MAIL_GID" "${dirs[@]}"
		chmod -R u=rwX,go= "${dirs[@]}"
	fi
}

# bench_seed USERS(comma list) M [MIN MAX]: empties each user's Maildir (and Dovecot's index)
# and writes M messages of MIN..MAX bytes (default 2048..20480); prints "COUNT BYTES".
bench_seed() {
	local IFS=,
	# shellcheck disable=SC2086
	bench_add_users $1
	unset IFS
	"${BT[@]}" seed "$BENCH_MAILROOT" "$INBOXQ_TEST_MAIL_UID" "$INBOXQ_TEST_MAIL_GID" "$1" "$2" \
		--min "${3:-2048}" --max "${4:-20480}" --seed "${BENCH_SEED:-42}" --tag "${BENCH_TAG:-seed}" --clear
}

# bench_deliver_one USER SIZE TAG: one message with Message-ID <TAG@inboxq.bench>; prints its path
bench_deliver_one() {
	"${BT[@]}" one "$BENCH_MAILROOT" "$INBOXQ_TEST_MAIL_UID" "$INBOXQ_TEST_MAIL_GID" "$1" "$2" "$3"
}

# bench_imap_fetch_all USER OUT: one IMAPS session (openssl s_client) that logs in, selects
# INBOX and fetches every message (BODY.PEEK[]); the bytes received go to OUT.
bench_imap_fetch_all() {
	printf 'a LOGIN %s %s\r\nb SELECT INBOX\r\nc UID FETCH 1:* (BODY.PEEK[])\r\nd LOGOUT\r\n' "$1" "$BENCH_PASS" |
		openssl s_client -quiet -connect "127.0.0.1:$INBOXQ_TEST_IMAPS_PORT" -CAfile "$INBOXQ_CA_FILE" \
			-verify_ip 127.0.0.1 2>/dev/null >"$2"
}

# bench_pop3_retr_all USER N OUT: one POP3S session retrieving messages 1..N, pipelined.
bench_pop3_retr_all() {
	{
		printf 'USER %s\r\nPASS %s\r\n' "$1" "$BENCH_PASS"
		seq -f 'RETR %g' 1 "$2" | sed 's/$/\r/'
		printf 'QUIT\r\n'
	} | openssl s_client -quiet -connect "127.0.0.1:$INBOXQ_TEST_POP3S_PORT" -CAfile "$INBOXQ_CA_FILE" \
		-verify_ip 127.0.0.1 2>/dev/null >"$3"
}

# Makes Dovecot index the freshly written Maildirs (new/ -> cur/, index files) and pulls them
# into the page cache, so no tool pays the first access. Users as arguments.
bench_warm() {
	local u
	for u in "$@"; do
		bench_imap_fetch_all "$u" /dev/null &
	done
	wait
}

# --- PostgreSQL and inboxq --------------------------------------------------------------------

bench_sql() { PGOPTIONS='-c client_min_messages=warning' psql -qtAX -v ON_ERROR_STOP=1 "$INBOXQ_PG_DSN" -c "$1"; }
bench_admin_sql() { PGOPTIONS='-c client_min_messages=warning' psql -qtAX -v ON_ERROR_STOP=1 "$BENCH_ADMIN_DSN" -c "$1"; }

# bench_fresh_db NAME: drops and creates database NAME (owner inboxq), points INBOXQ_PG_DSN at
# it and migrates it.
bench_fresh_db() {
	bench_admin_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
	bench_admin_sql "CREATE DATABASE $1 OWNER inboxq" >/dev/null
	export INBOXQ_PG_DSN="${BENCH_BASE_DSN%/*}/$1"
	inboxq migrate >/dev/null || bench_die "inboxq migrate failed on $1"
}
bench_drop_db() { bench_admin_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null || true; }

bench_master_key() {
	export INBOXQ_MASTER_KEY_FILE=$BENCH_WORK/master.key
	[[ -s $INBOXQ_MASTER_KEY_FILE ]] || inboxq keygen --output "$INBOXQ_MASTER_KEY_FILE" >/dev/null
}

# bench_account NAME USER PROTO [extra account add options...]: a credential and an account on
# the harness's implicit-TLS port of PROTO (imap|pop3); prints the account id.
bench_account() {
	local name=$1 user=$2 proto=$3 port cred
	shift 3
	if [[ $proto == imap ]]; then port=$INBOXQ_TEST_IMAPS_PORT; else port=$INBOXQ_TEST_POP3S_PORT; fi
	cred=$(printf '%s' "$BENCH_PASS" | inboxq credential add --name "c-$name" --username "$user" --password-stdin) ||
		bench_die "credential add failed"
	[[ " $* " == *" --auto-check "* ]] || set -- --auto-check no "$@"
	inboxq account add --name "$name" --host 127.0.0.1 --port "$port" --protocol "$proto" --credential "$cred" \
		--secure yes --secure-type ssl --keep-copy yes "$@" || bench_die "account add failed"
}

BENCH_WORKERS=()
# bench_workers_start N: starts N inboxq-worker processes (logs in $BENCH_WORK/worker-K.log)
# and waits until the group is stable: every worker holds partitions and together they hold all
# of the check and report topics' partitions.
bench_workers_start() {
	local n=$1 k logs=()
	BENCH_WORKERS=()
	for ((k = 1; k <= n; k++)); do
		: >"$BENCH_WORK/worker-$k.log"
		inboxq-worker >>"$BENCH_WORK/worker-$k.log" 2>&1 </dev/null &
		BENCH_WORKERS+=("$!")
		logs+=("$BENCH_WORK/worker-$k.log")
	done
	bench_wait_joined 60 "${logs[@]}"
}

# bench_wait_joined SECONDS LOG...: the consumer group of these workers is stable.
bench_wait_joined() {
	local secs=$1 until want=$((2 * BENCH_PARTITIONS)) f sum last held
	shift
	until=$((SECONDS + secs))
	while ((SECONDS < until)); do
		sum=0 held=1
		for f in "$@"; do
			[[ -f $f ]] || return 1
			last=$(grep -E 'partition\(s\) (assigned|revoked)' "$f" | tail -n1 || true)
			if [[ $last =~ ([0-9]+)\ partition\(s\)\ assigned ]] && ((BASH_REMATCH[1] > 0)); then
				sum=$((sum + BASH_REMATCH[1]))
			else
				held=0
			fi
		done
		if ((held && sum == want)); then
			sleep 0.3 # the assignment is served; let the first (empty) fetches go out
			return 0
		fi
		sleep 0.1
	done
	bench_log "workers did not join within ${secs}s: $(tail -n3 "$@" | tr '\n' ' ')"
	return 1
}

bench_workers_stop() {
	local p
	for p in "${BENCH_WORKERS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${BENCH_WORKERS[@]}"; do wait "$p" 2>/dev/null || true; done
	BENCH_WORKERS=()
}

# --- measuring --------------------------------------------------------------------------------

# bench_time OUT CMD...: runs CMD under /usr/bin/time; OUT gets "wall user sys maxrss_kb".
bench_time() {
	local out=$1
	shift
	/usr/bin/time -f "$BENCH_TIME_FMT" -o "$out" "$@"
}

# bench_time_sum FILE...: sums /usr/bin/time outputs: prints "cpu_s rss_kb_sum rss_kb_max".
bench_time_sum() {
	awk 'NF >= 4 && $1 ~ /^[0-9.]+$/ { cpu += $2 + $3; rss += $4; if ($4 > mx) mx = $4 }
		END { printf "%.2f %d %d\n", cpu, rss, mx }' "$@"
}

# bench_record KEY=VALUE...: appends one JSON result line to $BENCH_RESULTS. Values that look
# like numbers are numbers; ok=true|false is a boolean.
bench_record() {
	/usr/bin/python3 - "$@" >>"$BENCH_RESULTS" <<'EOF'
import json, re, sys
o = {}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if v in ("true", "false"):
        o[k] = v == "true"
    elif k in ("part", "label", "note", "error", "samples"):
        o[k] = v or None
    elif re.fullmatch(r"-?\d+", v):
        o[k] = int(v)
    elif re.fullmatch(r"-?\d*\.\d+(e-?\d+)?", v):
        o[k] = float(v)
    elif v == "":
        o[k] = None
    else:
        o[k] = v
print(json.dumps(o))
EOF
}

# The machine, for the report: "key<TAB>value" lines.
bench_machine() {
	local v p
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'CPU\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	printf 'memory\t%s\n' "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -sr)"
	printf 'OS\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
	v=""
	for p in dovecot-core postgresql-15 isync fetchmail getmail6 openssl librdkafka1 libetpan20 kcat; do
		v+="$p $(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo '?'), "
	done
	printf 'packages\t%s\n' "${v%, }"
	printf 'inboxq\t%s\n' "$(inboxq --version 2>/dev/null | head -n1)"
	printf 'load average at start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}
