#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# max_check_bytes smaller than one fetch batch: README says "the rest waits for the next
# check", so every check must store something and the mailbox must drain. POP3 keeps what
# arrived before the budget ran out. IMAP used to size a batch by fetch_batch and 16 MiB only:
# the batch's UID FETCH ran out of budget, the whole batch was dropped, and the next check asked
# the same batch again, so the account never progressed; lib/mail/imap.c now sizes each batch by
# what max_check_bytes leaves.

source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
cred=$(it_credential budget alice budget-pass)
# shellcheck source=tests/lib/hostile.bash
source "$IQ_SOURCE_DIR/tests/lib/hostile.bash"
for proto in imap pop3; do
  server "$proto" "$proto" normal --messages 40
  id=$(account "$proto" "$proto" --keep-copy no)
  stored=0 stuck=0 last=""
  for _ in 1 2 3 4 5 6; do
    out=$(it_check "$id" INBOXQ_MAX_CHECK_BYTES=4k)
    last=$(jget outcome <<<"$out")
    now=$(it_stored_count "$id")
    [ "$now" -gt "$stored" ] || [ "$last" = ok ] || stuck=1
    stored=$now
    [ "$last" = ok ] && break
  done
  stop_server
  check "$proto: every check under the budget stored something" test "$stuck" = 0
  check "$proto: all 40 stored within 6 checks ($stored, last check $last)" test "$stored/$last" = 40/ok
  check "$proto: nothing lost, nothing stored twice" lossless "$id"
done
finish
