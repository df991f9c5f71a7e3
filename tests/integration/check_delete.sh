#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keep copy off: after the check the server is empty and PostgreSQL has everything; mail that
# arrives between checks is stored exactly once; a check killed between its commit and its
# deletes loses and duplicates nothing; a wrong password ends promptly as "auth"; APOP never
# falls back to a password in clear.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
pass=$INBOXQ_TEST_MAIL_PASS_BULK

for proto in imap pop3; do
  user=$([ $proto = imap ] && echo user002 || echo user003)
  port=$([ $proto = imap ] && echo "$INBOXQ_TEST_IMAPS_PORT" || echo "$INBOXQ_TEST_POP3S_PORT")
  it_empty_mailbox $user
  cred=$(it_credential "c-$proto" $user "$pass")
  id=$(inboxq account add --name "del-$proto" --host 127.0.0.1 --port "$port" --protocol $proto \
    --credential "$cred" --secure yes --secure-type ssl --keep-copy no)

  it_seed $user 3
  first=$(it_server_hashes $user)
  out=$(it_check "$id")
  check "$proto: first check ok" test "$(jget outcome <<<"$out")" = ok
  check "$proto: 3 deleted" test "$(jget messages_deleted <<<"$out")" -eq 3
  check "$proto: server empty" test "$(it_server_count $user)" -eq 0
  check "$proto: all stored" test "$(it_stored_hashes "$id")" = "$first"

  it_seed $user 2
  all=$(sort <<<"$first"$'\n'"$(it_server_hashes $user)")
  out=$(it_check "$id")
  check "$proto: new mail once" test "$(jget messages_new <<<"$out")" -eq 2
  check "$proto: 5 stored, each once" test "$(it_stored_hashes "$id")" = "$all"
  check "$proto: server empty again" test "$(it_server_count $user)" -eq 0

  # SIGKILL after the commit, before the deletes
  it_seed $user 2
  all=$(sort <<<"$all"$'\n'"$(it_server_hashes $user)")
  set +e
  env INBOXQ_FAILPOINT=check.after_store inboxq check "$id" --direct >/dev/null 2>&1
  rc=$?
  set -e
  check "$proto: killed (rc $rc)" test "$rc" -eq 137
  check "$proto: stored before the kill" test "$(it_stored_hashes "$id")" = "$all"
  check "$proto: still on the server after the kill" test "$(it_server_count $user)" -eq 2
  out=$(it_check "$id")
  check "$proto: rerun ok" test "$(jget outcome <<<"$out")" = ok
  check "$proto: rerun stores nothing twice" test "$(it_stored_hashes "$id")" = "$all"
  check "$proto: rerun deletes the leftovers" test "$(it_server_count $user)" -eq 0
  check "$proto: nothing marked undeleted" test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id AND deleted_on_server_at IS NULL")" -eq 0

  # wrong password
  bad=$(it_credential "bad-$proto" $user "not-the-password")
  bid=$(inboxq account add --name "bad-$proto" --host 127.0.0.1 --port "$port" --protocol $proto \
    --credential "$bad" --secure yes --secure-type ssl)
  t0=$(now_ms)
  out=$(it_check "$bid")
  t1=$(now_ms)
  check "$proto: wrong password is auth" test "$(jget error_class <<<"$out")" = auth
  check "$proto: promptly ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 5000
  check "$proto: failed run recorded" test "$(it_sql "SELECT last_status || '/' || last_error_class FROM mail_accounts WHERE id = $bid")" = failed/auth
  check "$proto: an auth failure backs off for minutes, no hammering" test "$(it_sql "SELECT next_check_at > now() + interval '4 minutes' AND consecutive_failures = 1 FROM mail_accounts WHERE id = $bid")" = t

  # APOP set, but the greeting has no APOP timestamp (this Dovecot offers none; a server in
  # the middle could strip it): the check fails as auth without sending the password in clear
  if [ $proto = pop3 ]; then
    it_seed $user 1
    aid=$(inboxq account add --name "apop-$proto" --host 127.0.0.1 --port "$port" --protocol pop3 \
      --credential "$cred" --secure yes --secure-type ssl --apop yes --keep-copy no)
    out=$(it_check "$aid")
    check "apop without a timestamp is auth" test "$(jget error_class <<<"$out")" = auth
    msg=$(jget error <<<"$out")
    check "...saying the password was not sent ($msg)" grep -q 'no APOP timestamp; the password was not sent' <<<"$msg"
    check "...and nothing was fetched or deleted" test "$(it_stored_count "$aid")" -eq 0 -a "$(it_server_count $user)" -eq 1
  fi
done

# a transient failure (nothing listening) is retried soon, with back-off, then bounded
closed=$((INBOXQ_TEST_PG_PORT + 97))
tid=$(inboxq account add --name transient --host 127.0.0.1 --port "$closed" --protocol imap \
  --credential "$cred" --secure no --check-interval 1h)
for attempt in 1 2 3; do
  out=$(it_check "$tid")
  check "transient: attempt $attempt is a connect failure" test "$(jget error_class <<<"$out")" = connect
  secs=$(it_sql "SELECT round(extract(epoch FROM next_check_at - now())) FROM mail_accounts WHERE id = $tid")
  # 5 s, 10 s, 20 s, each with +-25% jitter
  lo=$(( 5 * 2 ** (attempt - 1) * 3 / 4 - 1 )); hi=$(( 5 * 2 ** (attempt - 1) * 5 / 4 + 1 ))
  check "transient: retry $attempt in ${secs}s (expected ${lo}-${hi}s)" test "$secs" -ge "$lo" -a "$secs" -le "$hi"
done
it_sql "UPDATE mail_accounts SET consecutive_failures = 5, next_check_at = now() + interval '1 hour' WHERE id = $tid" >/dev/null
it_check "$tid" >/dev/null
check "transient: after retry_max failures it waits for its normal turn" test "$(it_sql "SELECT next_check_at > now() + interval '50 minutes' FROM mail_accounts WHERE id = $tid")" = t
finish
