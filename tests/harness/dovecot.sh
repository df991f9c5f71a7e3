# SPDX-License-Identifier: MIT
# Dovecot part of tests/harness/start (sourced): users, Maildirs, configs from the
# dovecot-common.conf and dovecot-instance.conf templates, one master per instance.
# shellcheck shell=bash

# Dovecot: the main instance (IMAP+STARTTLS, IMAPS, POP3+STLS, POP3S with the test CA's
# certificate) and one small instance per bad certificate (IMAP+STARTTLS, IMAPS, POP3+STLS and
# POP3S, all serving that certificate). All share users and Maildirs; each has its own base_dir,
# state_dir and log.
# Prints "INSTANCE CERT IMAP IMAPS POP3 POP3S" lines (port 0: no such listener).
dovecot_instances() {
	local c i is p ps
	echo "main server $INBOXQ_TEST_IMAP_PORT $INBOXQ_TEST_IMAPS_PORT $INBOXQ_TEST_POP3_PORT $INBOXQ_TEST_POP3S_PORT"
	for c in "${HARNESS_BAD_CERTS[@]}"; do
		i=INBOXQ_TEST_IMAP_${c^^}_PORT is=INBOXQ_TEST_IMAPS_${c^^}_PORT
		p=INBOXQ_TEST_POP3_${c^^}_PORT ps=INBOXQ_TEST_POP3S_${c^^}_PORT
		echo "$c $c ${!i} ${!is} ${!p} ${!ps}"
	done
}

# Users: alice, bob, carol (own passwords) and user001..user050 (one shared password), each with
# an empty Maildir in DIR/mail/USER/Maildir owned by the mail uid/gid.
dovecot_users() {
	local u bulk homes=()
	bulk=$(secret mail_pass_bulk)
	{
		for u in alice bob carol; do echo "$u:{PLAIN}$(secret "mail_pass_$u")::::::"; done
		for u in $(seq -f 'user%03g' 1 50); do echo "$u:{PLAIN}$bulk::::::"; done
	} >"$1.tmp"
	chgrp dovecot "$1.tmp"
	chmod 640 "$1.tmp"
	mv "$1.tmp" "$1"
	for u in alice bob carol $(seq -f 'user%03g' 1 50); do
		[[ -d $DIR/mail/$u/Maildir/cur ]] || homes+=("$DIR/mail/$u")
	done
	if ((${#homes[@]})); then
		mkdir -p "${homes[@]/%//Maildir/cur}" "${homes[@]/%//Maildir/new}" "${homes[@]/%//Maildir/tmp}"
		chown -R "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "${homes[@]}"
		chmod -R u=rwX,go= "${homes[@]}"
	fi
	chmod 755 "$DIR/mail"
}

start_dovecot() {
	local d=$DIR/dovecot inst cert imap imaps pop3 pop3s port u env
	start_certs
	mkdir -p "$d"
	dovecot_users "$d/users"
	sed -e "s|@DIR@|$DIR|g" -e "s|@UID@|$HARNESS_MAIL_UID|g" -e "s|@GID@|$HARNESS_MAIL_GID|g" \
		"$HERE/dovecot-common.conf" >"$d/common.conf"
	while read -r inst cert imap imaps pop3 pop3s; do
		service_pid "dovecot-$inst" >/dev/null && continue
		# A fresh base_dir: a stale anvil-auth-penalty socket makes the first login wait 5 s.
		rm -rf "${d:?}/$inst"
		mkdir -p "$d/state/$inst"
		sed -e "s|@DIR@|$DIR|g" -e "s|@INSTANCE@|$inst|g" -e "s|@CERT@|$cert|g" \
			-e "s|@IMAP@|$imap|g" -e "s|@IMAPS@|$imaps|g" -e "s|@POP3@|$pop3|g" \
			-e "s|@POP3S@|$pop3s|g" "$HERE/dovecot-instance.conf" >"$d/$inst.conf"
		for port in $imap $imaps $pop3 $pop3s; do ((port == 0)) || need_port "dovecot-$inst" "$port"; done
		spawn "dovecot-$inst" dovecot -F -c "$d/$inst.conf"
	done < <(dovecot_instances)
	# Wait for every listener of every instance (they start in parallel).
	while read -r inst cert imap imaps pop3 pop3s; do
		for port in $imap $imaps $pop3 $pop3s; do
			((port == 0)) || wait_until "dovecot-$inst" tcp_open "$port"
		done
	done < <(dovecot_instances)
	env="$(kv INBOXQ_TEST_MAIL_USERS "alice bob carol")"
	for u in alice bob carol; do env+=$'\n'$(kv "INBOXQ_TEST_MAIL_PASS_$u" "$(secret "mail_pass_$u")"); done
	for u in "${HARNESS_BAD_CERTS[@]}"; do
		env+=$'\n'$(kv_vars "INBOXQ_TEST_IMAP_${u^^}_PORT" "INBOXQ_TEST_IMAPS_${u^^}_PORT" \
			"INBOXQ_TEST_POP3_${u^^}_PORT" "INBOXQ_TEST_POP3S_${u^^}_PORT")
	done
	env_part dovecot "$env
$(kv INBOXQ_TEST_MAIL_PASS_BULK "$(secret mail_pass_bulk)")
$(kv_vars INBOXQ_TEST_IMAP_PORT INBOXQ_TEST_IMAPS_PORT INBOXQ_TEST_POP3_PORT INBOXQ_TEST_POP3S_PORT)
$(kv INBOXQ_TEST_MAILDIR_ROOT "$DIR/mail")
$(kv INBOXQ_TEST_MAIL_UID "$HARNESS_MAIL_UID")
$(kv INBOXQ_TEST_MAIL_GID "$HARNESS_MAIL_GID")
$(kv INBOXQ_TEST_DOVECOT_CONF "$d/main.conf")"
}
