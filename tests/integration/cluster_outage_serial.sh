#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Outages (runs alone: it stops the shared Redis and PostgreSQL). Redis stopped mid-test: checks
# go on and `inbox` answers from PostgreSQL; Redis back: the cache refills. PostgreSQL restarted
# mid-test: workers reconnect and retry; nothing is lost or stored twice.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_SCHEDULER_TICK=300ms INBOXQ_CONCURRENCY=2 INBOXQ_PG_CONNECT_TIMEOUT=2s
harness() { "$IQ_SOURCE_DIR/tests/harness/$1" --dir "$INBOXQ_TEST_DIR" "${@:2}" >/dev/null 2>&1; }
restore() { harness start pg redis; it_cleanup; }
trap restore EXIT

users=(user045 user046 user047 user048)
ids=()
for u in "${users[@]}"; do
  it_empty_mailbox "$u"
  c=$(it_credential "c-$u" "$u" "$INBOXQ_TEST_MAIL_PASS_BULK")
  ids+=("$(inboxq account add --name "$u" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
    --credential "$c" --secure yes --secure-type ssl --keep-copy no --auto-check yes --check-interval 5s)")
  it_seed "$u" 3
done
caught_up() {
  local k u
  for k in "${!users[@]}"; do
    u=${users[$k]}
    [ "$(it_server_count "$u")" -eq 0 ] || return 1
    [ "$(it_stored_hashes "${ids[$k]}")" = "$(sort "$IT_TMP/delivered-$u")" ] || return 1
  done
}
it_spawn scheduler inboxq-scheduler
it_spawn worker1 inboxq-worker
w1=$IT_LAST_PID
it_spawn worker2 inboxq-worker
w2=$IT_LAST_PID
it_wait_for 60 "first mail stored" caught_up
id=${ids[0]}
check "inbox from Redis while it runs" test "$(inboxq inbox "$id" --format json | jget source)" = redis

# Redis goes away
harness stop redis
for u in "${users[@]}"; do it_seed "$u" 2; done
it_wait_for 60 "checks go on without Redis" caught_up
out=$(inboxq inbox "$id" --format json --limit 50)
check "inbox answers from PostgreSQL while Redis is down" test "$(jget source <<<"$out")" = postgresql
check "...and lists all 5 messages" test "$($PY -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))' <<<"$out")" -eq 5
# Redis comes back: the next read misses, refills, and the one after is a hit
harness start redis
inboxq inbox "$id" --format json >/dev/null
check "the cache refills once Redis is back" test "$(inboxq inbox "$id" --format json | jget source)" = redis

# PostgreSQL restarts while mail waits
for u in "${users[@]}"; do it_seed "$u" 2; done
harness stop pg
sleep 3
harness start pg
it_wait_for 90 "after the PostgreSQL restart everything is stored, nothing left behind" caught_up
check "nothing stored twice" test "$(it_sql 'SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d')" -eq 0
check "the workers survived the restart" kill -0 "$w1" "$w2"
finish
