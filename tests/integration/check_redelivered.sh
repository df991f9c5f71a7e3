#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A batch is stored with one binary COPY; a message that is already stored (the mailbox state was
# lost, a job ran twice) makes PostgreSQL refuse that COPY. Then the batch is stored message by
# message under the unique key: nothing twice, no second event, and what was missing is added.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
user=user005
it_empty_mailbox $user
cred=$(it_credential c $user "$INBOXQ_TEST_MAIL_PASS_BULK")
id=$(inboxq account add --name redelivered --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" \
  --protocol imap --credential "$cred" --secure yes --secure-type ssl --keep-copy yes)
it_seed $user 12
err=$IT_TMP/check-$id.err

out=$(it_check "$id" INBOXQ_LOG_LEVEL=debug)
check "first check stores 12" test "$(jget messages_new <<<"$out")" -eq 12
check "stored by COPY (no fallback)" test "$(grep -c "batch COPY" "$err")" -eq 0
check "12 events" test "$(it_sql "SELECT count(*) FROM outbox WHERE key = '$id'")" -eq 12
check "headers stored (subject, from, date)" test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id AND subject IS NOT NULL AND from_addr IS NOT NULL AND sent_at IS NOT NULL AND uid IS NOT NULL AND uidvalidity IS NOT NULL")" -eq 12
check "each event names its row" test "$(it_sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = (o.payload->>'message_row_id')::bigint WHERE o.key = '$id' AND m.server_id = o.payload->>'server_id'")" -eq 12
check "row fields agree with the events (date, subject, from, size)" test "$(it_sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = (o.payload->>'message_row_id')::bigint WHERE o.key = '$id' AND m.sent_at = (o.payload->>'date')::timestamptz AND m.subject = o.payload->>'subject' AND m.from_addr = o.payload->>'from' AND m.size = (o.payload->>'size')::bigint AND m.size = length(m.raw)")" -eq 12
ids_before=$(it_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM messages WHERE account_id = $id")

# the state is lost: every message comes again, all of them already stored
it_sql "UPDATE mailbox_state SET highest_uid = 0 WHERE account_id = $id" >/dev/null
out=$(it_check "$id" INBOXQ_LOG_LEVEL=debug)
check "check ok" test "$(jget outcome <<<"$out")" = ok
check "nothing new" test "$(jget messages_new <<<"$out")" -eq 0
check "the COPY was refused on the unique key" grep -q "refused (23505)" "$err"
check "still 12 messages, the same rows" test "$(it_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM messages WHERE account_id = $id")" = "$ids_before"
check "still 12 events" test "$(it_sql "SELECT count(*) FROM outbox WHERE key = '$id'")" -eq 12

# two were never stored (lost with the state): only those two are added, with one event each
it_sql "DELETE FROM outbox WHERE key = '$id' AND (payload->>'message_row_id')::bigint IN (SELECT id FROM messages WHERE account_id = $id ORDER BY uid DESC LIMIT 2)" >/dev/null
it_sql "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE account_id = $id ORDER BY uid DESC LIMIT 2)" >/dev/null
it_sql "UPDATE mailbox_state SET highest_uid = 0 WHERE account_id = $id" >/dev/null
out=$(it_check "$id" INBOXQ_LOG_LEVEL=debug)
check "the two missing are new" test "$(jget messages_new <<<"$out")" -eq 2
check "12 messages" test "$(it_stored_count "$id")" -eq 12
check "12 events, one per message" test "$(it_sql "SELECT count(DISTINCT (payload->>'message_row_id')) FROM outbox WHERE key = '$id'")" -eq 12
check "stored bytes equal the server's" test "$(it_stored_hashes "$id")" = "$(it_server_hashes $user)"
finish
