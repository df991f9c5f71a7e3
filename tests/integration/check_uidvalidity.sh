#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A UIDVALIDITY change (the server renumbered the folder) re-reads the folder but stores nothing
# twice: stored messages are matched by content and take their new identity; only genuinely new
# mail is added, and deletes go by the new UIDs only.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
user=user007
md="$INBOXQ_TEST_MAILDIR_ROOT/$user/Maildir"
it_empty_mailbox $user
rm -f "$md"/dovecot-uidlist "$md"/dovecot.index*
cred=$(it_credential c $user "$INBOXQ_TEST_MAIL_PASS_BULK")
id=$(inboxq account add --name uidv --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
  --credential "$cred" --secure yes --secure-type ssl --keep-copy yes)
it_seed $user 3
# and one over 4 MB, fetched in ranges and streamed into PostgreSQL (lib/mail/store_stream.c),
# whose rebinding after the change is a path of its own
big="$IT_TMP/big.eml"
{
  printf 'From: big@example.org\r\nTo: %s@example.org\r\nSubject: big\r\n' "$user"
  printf 'Message-ID: <big.%s@inboxq.test>\r\n\r\n' "$RANDOM$RANDOM"
  head -c 4500000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
} >"$big"
sha256sum "$big" | awk '{print $1}' >>"$IT_TMP/delivered-$user"
"$IQ_SOURCE_DIR/tests/harness/deliver" --dir "$INBOXQ_TEST_DIR" $user "$big" >/dev/null
out=$(it_check "$id")
check "first check stores 4, one of them streamed ($(jget messages_new <<<"$out"))" test "$(jget messages_new <<<"$out")" -eq 4
before=$(it_sql "SELECT uidvalidity FROM mailbox_state WHERE account_id = $id")

# make Dovecot forget its UIDs: the folder gets a new UIDVALIDITY
sleep 1.1
rm -f "$md"/dovecot-uidlist "$md"/dovecot.index*
it_seed $user 1
out=$(it_check "$id")
after=$(it_sql "SELECT uidvalidity FROM mailbox_state WHERE account_id = $id")
check "the server's UIDVALIDITY changed ($before -> $after)" test "$before" != "$after"
check "only the one new message is new" test "$(jget messages_new <<<"$out")" -eq 1
check "nothing stored twice: 5 messages (the streamed one too)" test "$(it_stored_count "$id")" -eq 5
check "every stored message carries the new UIDVALIDITY" test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id AND uidvalidity = $after AND server_id LIKE '$after:%'")" -eq 5
check "stored bytes still equal the server's" test "$(it_stored_hashes "$id")" = "$(it_server_hashes $user)"
check "one event per message, none for the renamed ones" test "$(it_sql "SELECT count(*) FROM outbox WHERE key = '$id'")" -eq 5

# keep copy off now: the deletes use the new UIDs and empty the folder
inboxq account edit "$id" --keep-copy no >/dev/null
out=$(it_check "$id")
check "deleted all 5 under the new UIDVALIDITY" test "$(jget messages_deleted <<<"$out")" -eq 5
check "server empty" test "$(it_server_count $user)" -eq 0
finish
