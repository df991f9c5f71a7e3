#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# {IMAP, POP3} x {plain, STARTTLS, implicit TLS} x {direct, SOCKS5, SOCKS5 with auth, HTTP CONNECT}:
# every combination fetches the whole seeded mailbox, every stored message is byte-identical to
# the server's file, TLS is recorded as verified, and a second check stores nothing (keep copy on).
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
user=user001
pass=$INBOXQ_TEST_MAIL_PASS_BULK
[ "$(it_server_count $user)" -ge 3 ] || it_seed $user 4
expected=$(it_server_hashes $user)
n_expected=$(wc -l <<<"$expected")

cred=$(it_credential mail-$user $user "$pass")
socks_cred=$(it_credential socks-login "$INBOXQ_TEST_SOCKS_AUTH_USER" "$INBOXQ_TEST_SOCKS_AUTH_PASS")
inboxq connector add --name socks --type socks5 --host 127.0.0.1 --port "$INBOXQ_TEST_SOCKS_PORT" >/dev/null
inboxq connector add --name socks-auth --type socks5 --host 127.0.0.1 --port "$INBOXQ_TEST_SOCKS_AUTH_PORT" --credential "$socks_cred" >/dev/null
inboxq connector add --name http --type http --host 127.0.0.1 --port "$INBOXQ_TEST_HTTP_PROXY_PORT" >/dev/null

for proto in imap pop3; do
  for sec in plain starttls implicit; do
    case "$proto/$sec" in
      imap/implicit) port=$INBOXQ_TEST_IMAPS_PORT ;; imap/*) port=$INBOXQ_TEST_IMAP_PORT ;;
      pop3/implicit) port=$INBOXQ_TEST_POP3S_PORT ;; pop3/*) port=$INBOXQ_TEST_POP3_PORT ;;
    esac
    case $sec in
      plain) secflags=(--secure no) ;; starttls) secflags=(--secure yes --secure-type tls) ;;
      implicit) secflags=(--secure yes --secure-type ssl) ;;
    esac
    for route in direct socks socks-auth http; do
      name="m-$proto-$sec-$route"
      routeflags=()
      [ $route = direct ] || routeflags=(--connector "$route")
      id=$(inboxq account add --name "$name" --host 127.0.0.1 --port "$port" --protocol $proto \
        --credential "$cred" "${secflags[@]}" --keep-copy yes "${routeflags[@]}")
      out=$(it_check "$id")
      outcome=$(jget outcome <<<"$out" 2>/dev/null || echo "?")
      if [ "$outcome" != ok ]; then
        fail "$name: outcome $outcome: $(jget error <<<"$out" 2>/dev/null) $(cat "$IT_TMP/check-$id.err")"
        continue
      fi
      check "$name: $n_expected new" test "$(jget messages_new <<<"$out")" -eq "$n_expected"
      check "$name: stored bytes equal the server's files" test "$(it_stored_hashes "$id")" = "$expected"
      if [ $sec != plain ]; then
        check "$name: TLS recorded" test -n "$(jget tls.fingerprint_sha256 <<<"$out")"
        check "$name: certificate verified" test "$(jget tls.verified <<<"$out")" = True
      else
        check "$name: no TLS" test -z "$(jget tls <<<"$out")"
      fi
      out=$(it_check "$id")
      check "$name: second check stores nothing" test "$(jget messages_new <<<"$out")" = 0
      check "$name: still $n_expected stored" test "$(it_stored_count "$id")" -eq "$n_expected"
    done
  done
done
check "server still holds everything (keep copy)" test "$(it_server_hashes $user)" = "$expected"
check "run records written" test "$(it_sql "SELECT count(*) FROM check_runs WHERE outcome = 'ok' AND finished_at IS NOT NULL")" -eq 48
check "one outbox event per stored message" test "$(it_sql 'SELECT count(*) FROM outbox')" -eq "$(it_sql 'SELECT count(*) FROM messages')"
# a Network Connector turned inactive is not used: its accounts fail as config, saying why
vid=$(inboxq account add --name via-socks-off --host 127.0.0.1 --port "$INBOXQ_TEST_IMAP_PORT" \
  --protocol imap --credential "$cred" --secure no --connector socks)
inboxq connector edit socks --active no >/dev/null
out=$(it_check "$vid")
check "inactive connector: the check fails as config" test "$(jget error_class <<<"$out")" = config
msg=$(jget error <<<"$out")
check "...naming the inactive connector ($msg)" grep -q "Network Connector 'socks' is inactive" <<<"$msg"
inboxq connector edit socks --active yes >/dev/null
check "headers parsed" test "$(it_sql "SELECT count(*) FROM messages WHERE subject LIKE 'Olá %' AND from_addr LIKE '%@example.org%' AND message_id LIKE '%@inboxq.test' AND sent_at IS NOT NULL")" -eq "$(it_sql 'SELECT count(*) FROM messages')"
finish
