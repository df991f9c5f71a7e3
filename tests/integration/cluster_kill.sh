#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Workers killed with SIGKILL at random moments (20 times) while keep-copy-off checks run and
# mail keeps arriving: afterwards every message is in PostgreSQL exactly once and none is left
# on the server.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_SCHEDULER_TICK=300ms INBOXQ_CONCURRENCY=2

users=()
for i in $(seq 35 44); do users+=("user0$i"); done
ids=()
for k in "${!users[@]}"; do
  u=${users[$k]}
  it_empty_mailbox "$u"
  c=$(it_credential "c-$u" "$u" "$INBOXQ_TEST_MAIL_PASS_BULK")
  if [ $((k % 2)) -eq 0 ]; then port=$INBOXQ_TEST_IMAPS_PORT proto=imap; else port=$INBOXQ_TEST_POP3S_PORT proto=pop3; fi
  ids+=("$(inboxq account add --name "$u" --host 127.0.0.1 --port "$port" --protocol $proto \
    --credential "$c" --secure yes --secure-type ssl --keep-copy no --auto-check yes --check-interval 5s)")
  it_seed "$u" 5
done

it_spawn scheduler inboxq-scheduler
it_spawn worker-a inboxq-worker
workers=("$IT_LAST_PID")
it_spawn worker-b inboxq-worker
workers+=("$IT_LAST_PID")
kills=0
for round in $(seq 1 20); do
  # mail arrives, then a worker dies at a random moment and a new one takes its place
  it_seed "${users[$((RANDOM % ${#users[@]}))]}" 2
  sleep "0.$((2 + RANDOM % 8))"
  victim=$((RANDOM % 2))
  if kill -KILL "${workers[$victim]}" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "${workers[$victim]}" 2>/dev/null || true
  it_spawn "worker-$round" inboxq-worker
  workers[$victim]=$IT_LAST_PID
done
check "20 workers killed with SIGKILL ($kills)" test "$kills" -eq 20

caught_up() {
  local k u
  for k in "${!users[@]}"; do
    u=${users[$k]}
    [ "$(it_server_count "$u")" -eq 0 ] || return 1
    [ "$(it_stored_hashes "${ids[$k]}")" = "$(sort "$IT_TMP/delivered-$u")" ] || return 1
  done
}
it_wait_for 120 "every message stored exactly once and none left on the server" caught_up
for k in "${!users[@]}"; do
  u=${users[$k]}
  check "$u: $(wc -l <"$IT_TMP/delivered-$u") delivered = stored" test "$(it_stored_count "${ids[$k]}")" -eq "$(wc -l <"$IT_TMP/delivered-$u")"
done
check "nothing stored twice" test "$(it_sql 'SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d')" -eq 0
finish
