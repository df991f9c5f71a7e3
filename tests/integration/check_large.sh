#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Large messages: a 50 MB message is fetched in ranges (IMAP) or streamed (POP3) straight into
# PostgreSQL, byte-identical, with bounded memory (IMAP < 40 MB, POP3 < 128 MB peak RSS); a
# message over max_message is recorded as skipped and never blocks the mail behind it.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
user=user009
it_empty_mailbox $user
big="$IT_TMP/big.eml"
{
  printf 'From: Big Sender <big@example.org>\r\nTo: %s@example.org\r\nSubject: fifty megabytes\r\n' $user
  printf 'Date: %s\r\nMessage-ID: <big.%s@inboxq.test>\r\n\r\n' "$(date -R)" "$RANDOM"
  head -c 38000000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
} >"$big"
size=$(stat -c %s "$big")
check "the test message is about 50 MB ($size bytes)" test "$size" -gt 50000000
"$IQ_SOURCE_DIR/tests/harness/deliver" --dir "$INBOXQ_TEST_DIR" $user "$big" >/dev/null
want=$(sha256sum "$big" | cut -d' ' -f1)
cred=$(it_credential c $user "$INBOXQ_TEST_MAIL_PASS_BULK")

for proto in imap pop3; do
  port=$([ $proto = imap ] && echo "$INBOXQ_TEST_IMAPS_PORT" || echo "$INBOXQ_TEST_POP3S_PORT")
  id=$(inboxq account add --name "big-$proto" --host 127.0.0.1 --port "$port" --protocol $proto \
    --credential "$cred" --secure yes --secure-type ssl --keep-copy yes)
  /usr/bin/time -f '%e %M' -o "$IT_TMP/time-$proto" inboxq check "$id" --direct --format json >"$IT_TMP/out-$proto" || true
  read -r wall rss < <(tail -n 1 "$IT_TMP/time-$proto")
  limit=$([ $proto = imap ] && echo 40960 || echo 131072)
  check "$proto: ok ($(jget error <"$IT_TMP/out-$proto"))" test "$(jget outcome <"$IT_TMP/out-$proto")" = ok
  check "$proto: stored byte-identical" test "$(it_stored_hashes "$id")" = "$want"
  check "$proto: size recorded" test "$(it_sql "SELECT size FROM messages WHERE account_id = $id")" -eq "$size"
  check "$proto: headers parsed" test "$(it_sql "SELECT subject FROM messages WHERE account_id = $id")" = "fifty megabytes"
  check "$proto: one event" test "$(it_sql "SELECT count(*) FROM outbox WHERE key = '$id'")" -eq 1
  if [ "${IQ_SANITIZED:-0}" = 1 ]; then
    echo "# $proto: peak RSS ${rss} KB not judged: sanitizer builds carry shadow memory"
  else
    check "$proto: peak RSS ${rss} KB under $limit KB (took ${wall}s)" test "$rss" -lt "$limit"
  fi
  out=$(it_check "$id")
  check "$proto: a second check stores nothing" test "$(jget messages_new <<<"$out")" = 0
done

# over max_message: recorded, skipped, and the mail behind it still arrives
it_seed $user 1
for proto in imap pop3; do
  id=$(it_sql "SELECT id FROM mail_accounts WHERE name = 'big-$proto'")
  it_sql "DELETE FROM messages WHERE account_id = $id; DELETE FROM mailbox_state WHERE account_id = $id" >/dev/null
  out=$(it_check "$id" INBOXQ_MAX_MESSAGE=10M)
  check "$proto: the big one skipped" test "$(jget messages_skipped <<<"$out")" -eq 1
  check "$proto: the small one stored" test "$(jget messages_new <<<"$out")" -eq 1
done
finish
