# SPDX-License-Identifier: MIT
# Shared functions of the test harness scripts (sourced, not run).
# shellcheck shell=bash

# shellcheck disable=SC2034 # constants used by the scripts that source this file
HARNESS_ALL_SERVICES=(certs pg redis dovecot socks socks-auth httpproxy kafka kafka-cluster oauth)
# what start runs when no service is named: the real Kafka cluster only when asked for
HARNESS_DEFAULT_SERVICES=(certs pg redis dovecot socks socks-auth httpproxy kafka oauth)
HARNESS_BAD_CERTS=(selfsigned expired wrongname unknownca)
HARNESS_MAIL_UID=20999
HARNESS_MAIL_GID=20999
HARNESS_PG_BIN=/usr/lib/postgresql/15/bin
HARNESS_PROG=${0##*/}

die() { printf '%s: error: %s\n' "$HARNESS_PROG" "$*" >&2; exit 1; }
warn() { printf '%s: warning: %s\n' "$HARNESS_PROG" "$*" >&2; }
note() { printf '%s: %s\n' "$HARNESS_PROG" "$*" >&2; }

# Port layout: one base, each service at a fixed offset; every port can be overridden by its
# own variable (the names are the ones written to the env file).
harness_ports() {
	local b=${INBOXQ_TEST_PORT_BASE:-27100}
	if ! [[ $b =~ ^[0-9]+$ ]] || ((b < 1024 || b > 65000)); then
		die "bad INBOXQ_TEST_PORT_BASE '$b'"
	fi
	: "${INBOXQ_TEST_PG_PORT:=$((b + 0))}" "${INBOXQ_TEST_REDIS_PORT:=$((b + 1))}"
	: "${INBOXQ_TEST_IMAP_PORT:=$((b + 10))}" "${INBOXQ_TEST_IMAPS_PORT:=$((b + 11))}"
	: "${INBOXQ_TEST_POP3_PORT:=$((b + 12))}" "${INBOXQ_TEST_POP3S_PORT:=$((b + 13))}"
	: "${INBOXQ_TEST_IMAPS_SELFSIGNED_PORT:=$((b + 20))}" "${INBOXQ_TEST_POP3S_SELFSIGNED_PORT:=$((b + 21))}"
	: "${INBOXQ_TEST_IMAPS_EXPIRED_PORT:=$((b + 22))}" "${INBOXQ_TEST_POP3S_EXPIRED_PORT:=$((b + 23))}"
	: "${INBOXQ_TEST_IMAPS_WRONGNAME_PORT:=$((b + 24))}" "${INBOXQ_TEST_POP3S_WRONGNAME_PORT:=$((b + 25))}"
	: "${INBOXQ_TEST_IMAPS_UNKNOWNCA_PORT:=$((b + 26))}" "${INBOXQ_TEST_POP3S_UNKNOWNCA_PORT:=$((b + 27))}"
	: "${INBOXQ_TEST_IMAP_SELFSIGNED_PORT:=$((b + 40))}" "${INBOXQ_TEST_POP3_SELFSIGNED_PORT:=$((b + 41))}"
	: "${INBOXQ_TEST_IMAP_EXPIRED_PORT:=$((b + 42))}" "${INBOXQ_TEST_POP3_EXPIRED_PORT:=$((b + 43))}"
	: "${INBOXQ_TEST_IMAP_WRONGNAME_PORT:=$((b + 44))}" "${INBOXQ_TEST_POP3_WRONGNAME_PORT:=$((b + 45))}"
	: "${INBOXQ_TEST_IMAP_UNKNOWNCA_PORT:=$((b + 46))}" "${INBOXQ_TEST_POP3_UNKNOWNCA_PORT:=$((b + 47))}"
	: "${INBOXQ_TEST_SOCKS_PORT:=$((b + 30))}" "${INBOXQ_TEST_SOCKS_AUTH_PORT:=$((b + 31))}"
	: "${INBOXQ_TEST_HTTP_PROXY_PORT:=$((b + 32))}"
	: "${INBOXQ_TEST_KAFKA_CLUSTER_PORT:=$((b + 60))}"
	# OAuth2: the test authorization server, and the Dovecot that signs in with its tokens
	: "${INBOXQ_TEST_OAUTH_PORT:=$((b + 70))}"
	: "${INBOXQ_TEST_IMAP_OAUTH_PORT:=$((b + 71))}" "${INBOXQ_TEST_IMAPS_OAUTH_PORT:=$((b + 72))}"
	: "${INBOXQ_TEST_POP3_OAUTH_PORT:=$((b + 73))}" "${INBOXQ_TEST_POP3S_OAUTH_PORT:=$((b + 74))}"
}

# Parses the options every script shares; sets DIR and ARGS (the remaining arguments).
# Extra options the caller handles itself are passed through in ARGS.
harness_args() {
	DIR=${INBOXQ_TEST_DIR:-/tmp/inboxq-harness}
	ARGS=()
	while (($#)); do
		case $1 in
		--dir) (($# >= 2)) || die "--dir needs a value"; DIR=$2; shift 2 ;;
		--dir=*) DIR=${1#--dir=}; shift ;;
		*) ARGS+=("$1"); shift ;;
		esac
	done
	[[ $DIR == /* ]] || DIR=$PWD/$DIR
	DIR=${DIR%/}
	# Paths end up unquoted in config files and DSNs, and in unix socket names (108 bytes max).
	[[ $DIR =~ ^[A-Za-z0-9._/-]+$ ]] || die "state dir '$DIR' may only use [A-Za-z0-9._/-]"
	((${#DIR} <= 60)) || die "state dir '$DIR' is too long for unix socket paths (max 60 chars)"
	RUN=$DIR/run LOG=$DIR/log
}

# True when the process is alive, not a zombie, and still the leader of its own session
# (everything we start runs under setsid, so this also guards against PID reuse).
pid_alive() {
	local pid=$1 stat rest state sess
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	{ read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	read -r state _ _ sess _ <<<"$rest"
	[[ $state != Z && $sess == "$pid" ]]
}

# Prints the PID of service NAME when it runs, else fails.
service_pid() {
	local pid
	pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
	pid_alive "$pid" && printf '%s\n' "$pid"
}

# Prints the live, non-zombie members of session SID.
session_members() {
	local f stat rest state sess
	for f in /proc/[0-9]*/stat; do
		{ read -r stat <"$f"; } 2>/dev/null || continue
		rest=${stat##*) }
		read -r state _ _ sess _ <<<"$rest"
		[[ $sess == "$1" && $state != Z ]] && { f=${f#/proc/}; printf '%s\n' "${f%/stat}"; }
	done
	return 0
}

# spawn NAME CMD...: runs CMD in a new session in /, stdin from /dev/null, output to
# DIR/log/NAME.log and no other inherited file descriptor (a pipe of the caller's, e.g. CI log
# capture, would otherwise stay open as long as the daemon runs). Records the PID in
# DIR/run/NAME.pid, written by the process itself just before exec, so it is right even if
# setsid has to fork.
spawn() {
	local name=$1 i
	shift
	rm -f "$RUN/$name.pid"
	# shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner shell
	setsid /bin/bash -c 'cd / || exit 1
		for fd in /proc/$$/fd/*; do fd=${fd##*/}; if ((fd > 2)); then eval "exec $fd>&-"; fi; done
		echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$RUN/$name.pid" "$@" \
		</dev/null >>"$LOG/$name.log" 2>&1 &
	for ((i = 0; i < 200; i++)); do
		[[ -s $RUN/$name.pid ]] && return 0
		sleep 0.01
	done
	die "$name: could not start '$1'"
}

# wait_until NAME CHECK...: polls CHECK until it succeeds; fails with the log tail when the
# service exits or the timeout (INBOXQ_TEST_START_TIMEOUT, default 30 s) passes.
wait_until() {
	local name=$1 limit=$((SECONDS + ${INBOXQ_TEST_START_TIMEOUT:-30}))
	shift
	until "$@" >/dev/null 2>&1; do
		if ! service_pid "$name" >/dev/null; then
			fail_with_log "$name" "exited during start-up"
		elif ((SECONDS >= limit)); then
			fail_with_log "$name" "did not answer within ${INBOXQ_TEST_START_TIMEOUT:-30} s ($*)"
		fi
		sleep 0.05
	done
}

fail_with_log() {
	printf '%s: error: %s %s; last lines of %s:\n' "$HARNESS_PROG" "$1" "$2" "$LOG/$1.log" >&2
	tail -n 25 "$LOG/$1.log" >&2 2>/dev/null || true
	exit 1
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_session_gone NAME PID: waits (bounded) until every process of the session that PID leads
# has exited (daemon children included), then SIGKILLs any leftovers.
wait_session_gone() {
	local name=$1 pid=$2 left i
	for ((i = 0; i < 300; i++)); do
		left=$(session_members "$pid")
		[[ -z $left ]] && return 0
		sleep 0.05
	done
	warn "$name: still running after 15 s, sending SIGKILL to $(echo "$left" | tr '\n' ' ')"
	# shellcheck disable=SC2086 # one PID per word
	kill -KILL $left 2>/dev/null || true
	sleep 0.2
}

# kv NAME VALUE: one line of the env file (values never hold a single quote).
kv() { printf "export %s='%s'\n" "$1" "$2"; }
# kv_vars VAR...: env lines for variables of this shell (the port settings).
kv_vars() { local v; for v; do kv "$v" "${!v}"; done; }

# Fails when PORT is taken by something that is not ours.
need_port() {
	if tcp_open "$2"; then
		die "$1: port $2 is already in use; set INBOXQ_TEST_PORT_BASE (or its own port variable)"
	fi
}

# Secrets are generated once per state dir and kept until --purge.
secret() {
	local f=$DIR/secrets/$1
	[[ -s $f ]] || (umask 077 && openssl rand -hex 12 >"$f")
	cat "$f"
}

# env_part SERVICE LINES: records the env lines of a service that runs; env_drop removes them.
env_part() { printf '%s\n' "$2" >"$DIR/env.d/$1"; }
env_drop() { rm -f "$DIR/env.d/$1"; }

# Prints the PID file names of SERVICE (dovecot runs one instance per certificate).
service_names() {
	local c
	case $1 in
	certs) ;;
	dovecot) echo dovecot-main; for c in "${HARNESS_BAD_CERTS[@]}"; do echo "dovecot-$c"; done ;;
	kafka-cluster) printf '%s\n' kafka-cluster-1 kafka-cluster-2 kafka-cluster-3 ;;
	oauth) printf '%s\n' oauth-server dovecot-oauth ;;
	*) echo "$1" ;;
	esac
}

# True when every process of SERVICE runs (certs: when they exist).
service_up() {
	local n
	[[ $1 != certs || -f $DIR/certs/.complete ]] || return 1
	for n in $(service_names "$1"); do service_pid "$n" >/dev/null || return 1; done
}

# Rewrites DIR/env from the parts of the services that run now (stale parts are dropped).
write_env() {
	local tmp=$DIR/env.tmp part
	{
		echo "# Written by tests/harness/start and stop; source it. Reflects the services running now."
		echo "export INBOXQ_TEST_DIR='$DIR'"
		for part in "${HARNESS_ALL_SERVICES[@]}"; do
			[[ -f $DIR/env.d/$part ]] || continue
			if service_up "$part"; then cat "$DIR/env.d/$part"; else env_drop "$part"; fi
		done
	} >"$tmp"
	chmod 600 "$tmp"
	mv "$tmp" "$DIR/env"
}
