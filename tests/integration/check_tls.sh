#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-signed, expired, wrong-name and unknown-CA certificates, over implicit TLS and over
# STARTTLS/STLS, end as tls_verify and the server never receives a login; with "ignore
# certificate" the same accounts succeed (TLS used, not verified). Also the connection test
# (account test) walks the steps and stores nothing.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
user=user004
[ "$(it_server_count $user)" -ge 1 ] || it_seed $user 2
cred=$(it_credential c $user "$INBOXQ_TEST_MAIL_PASS_BULK")
logins_before=$(cat "$INBOXQ_TEST_DIR"/dovecot-*/log 2>/dev/null "$INBOXQ_TEST_DIR"/log/dovecot-* 2>/dev/null | grep -c "Login: user=<$user>" || true)
for kind in SELFSIGNED EXPIRED WRONGNAME UNKNOWNCA; do
  for proto in imap pop3; do
    var="INBOXQ_TEST_$([ $proto = imap ] && echo IMAPS || echo POP3S)_${kind}_PORT"
    port=${!var}
    id=$(inboxq account add --name "bad-$kind-$proto" --host 127.0.0.1 --port "$port" \
      --protocol $proto --credential "$cred" --secure yes --secure-type ssl)
    out=$(it_check "$id")
    check "$kind $proto: tls_verify" test "$(jget error_class <<<"$out")" = tls_verify
    check "$kind $proto: nothing stored" test "$(it_stored_count "$id")" -eq 0
    inboxq account edit "$id" --ignore-certificate yes >/dev/null
    out=$(it_check "$id")
    check "$kind $proto: ok when ignoring the certificate" test "$(jget outcome <<<"$out")" = ok
    check "$kind $proto: TLS still used, not verified" test "$(jget tls.verified <<<"$out")" = False
  done
done
logins_after=$(cat "$INBOXQ_TEST_DIR"/dovecot-*/log 2>/dev/null "$INBOXQ_TEST_DIR"/log/dovecot-* 2>/dev/null | grep -c "Login: user=<$user>" || true)
check "only the 8 ignoring accounts logged in ($logins_before -> $logins_after)" test $((logins_after - logins_before)) -eq 8

# STARTTLS (IMAP) and STLS (POP3) on the plain ports of the bad-certificate Dovecot instances.
# The instance's log shows what reached the server: the lines a check adds must show the
# connection, closed during or right after the handshake with no auth attempt, and no login.
# (Only this test uses these instances; their logs are Dovecot's, written a moment later.)
dovecot_log() { echo "$INBOXQ_TEST_DIR/log/dovecot-$1.log"; }
log_size() { stat -c %s "$(dovecot_log "$1")"; }
# log_since INSTANCE OFFSET: the log lines written after OFFSET
log_since() { tail -c "+$(($2 + 1))" "$(dovecot_log "$1")"; }
for kind in SELFSIGNED EXPIRED WRONGNAME UNKNOWNCA; do
  inst=${kind,,}
  for proto in imap pop3; do
    var="INBOXQ_TEST_${proto^^}_${kind}_PORT"
    port=${!var}
    id=$(inboxq account add --name "starttls-$kind-$proto" --host 127.0.0.1 --port "$port" \
      --protocol $proto --credential "$cred" --secure yes --secure-type tls)
    at=$(log_size "$inst")
    out=$(it_check "$id")
    check "STARTTLS $kind $proto: exactly tls_verify ($(jget error <<<"$out"))" \
      test "$(jget error_class <<<"$out")" = tls_verify
    check "STARTTLS $kind $proto: nothing stored" test "$(it_stored_count "$id")" -eq 0
    # the connection reached this server and ended without an auth attempt
    it_wait_for 5 "STARTTLS $kind $proto: the server saw the connection end with no auth attempts" \
      bash -c "$(declare -f dovecot_log log_since); log_since $inst $at | grep -q '$proto-login: .*Disconnected.*(no auth attempts'" || true
    check "STARTTLS $kind $proto: no login and no auth attempt reached the server" \
      bash -c "$(declare -f dovecot_log log_since); ! log_since $inst $at | grep -E 'Login: |auth failed|[0-9]+ (authentication )?attempts' | grep -v 'no auth attempts'"
    # the same listener with the certificate ignored: STARTTLS, then a login and a fetch
    inboxq account edit "$id" --ignore-certificate yes >/dev/null
    at=$(log_size "$inst")
    out=$(it_check "$id")
    check "STARTTLS $kind $proto: ok when ignoring the certificate ($(jget error <<<"$out"))" \
      test "$(jget outcome <<<"$out")" = ok
    check "STARTTLS $kind $proto: TLS used, not verified" test "$(jget tls.verified <<<"$out")" = False
    check "STARTTLS $kind $proto: TLS recorded" test -n "$(jget tls.fingerprint_sha256 <<<"$out")"
    it_wait_for 5 "STARTTLS $kind $proto: the control logged in over TLS" \
      bash -c "$(declare -f dovecot_log log_since); log_since $inst $at | grep -q '$proto-login: .*Login: user=<$user>.*TLS'" || true
  done
done

# account test: every step, nothing stored
good=$(inboxq account add --name probe --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" \
  --protocol imap --credential "$cred" --secure yes --secure-type ssl)
stored_before=$(it_sql 'SELECT count(*) FROM messages')
out=$(inboxq account test "$good" --format json)
check "account test ok" test "$(jget ok <<<"$out")" = True
check "account test counts messages" test "$(jget messages <<<"$out")" -eq "$(it_server_count $user)"
check "account test shows the certificate" grep -q "Inboxq Test CA\|inboxq" <<<"$(jget tls.issuer <<<"$out")"
check "account test stored nothing" test "$(it_sql 'SELECT count(*) FROM messages')" -eq "$stored_before"
# the same over POP3S: UIDL counts the messages, LIST sizes them
pop=$(inboxq account add --name probe-pop3 --host 127.0.0.1 --port "$INBOXQ_TEST_POP3S_PORT" \
  --protocol pop3 --credential "$cred" --secure yes --secure-type ssl)
out=$(inboxq account test "$pop" --format json)
check "POP3 account test ok ($(jget error <<<"$out"))" test "$(jget ok <<<"$out")" = True
check "POP3 account test counts messages" test "$(jget messages <<<"$out")" -eq "$(it_server_count $user)"
check "POP3 account test sizes them (LIST): $(jget bytes <<<"$out") bytes" test "$(jget bytes <<<"$out")" -gt 0
check "POP3 account test stored nothing" test "$(it_sql 'SELECT count(*) FROM messages')" -eq "$stored_before"
set +e
inboxq account test "$(it_sql "SELECT id FROM mail_accounts WHERE name = 'bad-EXPIRED-imap'")" >"$IT_TMP/t.out"
rc=$?
set -e
inboxq account edit "$(it_sql "SELECT id FROM mail_accounts WHERE name = 'bad-EXPIRED-imap'")" --ignore-certificate no >/dev/null
set +e
inboxq account test "$(it_sql "SELECT id FROM mail_accounts WHERE name = 'bad-EXPIRED-imap'")" >"$IT_TMP/t.out"
rc=$?
set -e
check "account test fails on an expired certificate (rc $rc)" test "$rc" -eq 1
check "account test names the failed step" grep -q "tls *FAILED" "$IT_TMP/t.out"
finish
