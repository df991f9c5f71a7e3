#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-signed, expired, wrong-name and unknown-CA certificates end as tls_verify and the server
# never receives a login; with "ignore certificate" the same accounts succeed. Also the
# connection test (account test) walks the steps and stores nothing.
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

# STARTTLS to a name the certificate does not carry fails the same way, before any login.
id=$(inboxq account add --name starttls-wrong-name --host localhost --port "$INBOXQ_TEST_IMAP_PORT" \
  --protocol imap --credential "$cred" --secure yes --secure-type tls)
it_sql "UPDATE mail_accounts SET host = '127.0.0.2' WHERE id = $id" >/dev/null
out=$(it_check "$id")
check "STARTTLS to an unlisted address: tls_verify or connect" grep -Eq '^(tls_verify|connect)$' <<<"$(jget error_class <<<"$out")"

# account test: every step, nothing stored
good=$(inboxq account add --name probe --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" \
  --protocol imap --credential "$cred" --secure yes --secure-type ssl)
stored_before=$(it_sql 'SELECT count(*) FROM messages')
out=$(inboxq account test "$good" --format json)
check "account test ok" test "$(jget ok <<<"$out")" = True
check "account test counts messages" test "$(jget messages <<<"$out")" -eq "$(it_server_count $user)"
check "account test shows the certificate" grep -q "Inboxq Test CA\|inboxq" <<<"$(jget tls.issuer <<<"$out")"
check "account test stored nothing" test "$(it_sql 'SELECT count(*) FROM messages')" -eq "$stored_before"
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
