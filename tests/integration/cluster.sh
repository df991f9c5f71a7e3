#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cluster end to end: two schedulers and three workers, 50 accounts, mail arriving while it
# runs. Every message is stored exactly once, there is exactly one new-mail event per message
# after dedupe by event_id (read by kcat as an outside consumer, valid against the schema), the
# Redis listings match PostgreSQL, and a poison job is dead-lettered while the jobs behind it run.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_SCHEDULER_TICK=300ms INBOXQ_CONCURRENCY=2

users=()
for i in $(seq 10 34); do users+=("user0$i"); done
cred=$(it_credential bulk "${users[0]}" "$INBOXQ_TEST_MAIL_PASS_BULK")
ids=()
for u in "${users[@]}"; do
  it_empty_mailbox "$u"
  c=$(it_credential "c-$u" "$u" "$INBOXQ_TEST_MAIL_PASS_BULK")
  for variant in imaps pop3s; do
    if [ $variant = imaps ]; then port=$INBOXQ_TEST_IMAPS_PORT proto=imap; else port=$INBOXQ_TEST_POP3S_PORT proto=pop3; fi
    ids+=("$(inboxq account add --name "$u-$variant" --host 127.0.0.1 --port "$port" --protocol $proto \
      --credential "$c" --secure yes --secure-type ssl --keep-copy yes --auto-check yes --check-interval 5s)")
  done
done
check "50 accounts" test "${#ids[@]}" -eq 50
for u in "${users[@]}"; do it_seed "$u" 2; done

for n in 1 2; do it_spawn "scheduler$n" inboxq-scheduler; done
for n in 1 2 3; do it_spawn "worker$n" inboxq-worker; done

# mail keeps arriving while the cluster runs
for _ in $(seq 1 30); do
  it_seed "${users[$((RANDOM % ${#users[@]}))]}" 1
  sleep 0.3
done

all_stored() {
  local id u
  for id in "${ids[@]}"; do
    u=$(it_sql "SELECT name FROM mail_accounts WHERE id = $id"); u=${u%-*}
    [ "$(it_stored_hashes "$id")" = "$(it_server_hashes "$u")" ] || return 1
  done
}
it_wait_for 90 "every account caught up with its mailbox" all_stored

check "no message stored twice" test "$(it_sql 'SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d')" -eq 0
check "no due check sent twice at once (no overlapping runs of one account)" test "$(it_sql "
  SELECT count(*) FROM check_runs a JOIN check_runs b ON a.account_id = b.account_id AND a.id < b.id
  AND a.started_at < b.finished_at AND b.started_at < a.finished_at")" -eq 0
check "checks came from the scheduler" test "$(it_sql "SELECT count(*) FROM check_runs WHERE requested_by = 'scheduler'")" -gt 50

# every outbox row reaches Kafka
it_wait_for 30 "outbox drained" bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT count(*) FROM outbox WHERE sent_at IS NULL')\" -eq 0"
it_kcat_all "$INBOXQ_TOPIC_NEW_MAIL" >"$IT_TMP/events"
total=$(it_sql 'SELECT count(*) FROM messages')
unique=$($PY -c 'import json,sys; print(len({json.loads(l)["event_id"] for l in sys.stdin if l.strip()}))' <"$IT_TMP/events")
rows=$($PY -c 'import json,sys; print(len({json.loads(l)["message_row_id"] for l in sys.stdin if l.strip()}))' <"$IT_TMP/events")
check "one event per stored message after dedupe ($unique events, $total messages)" test "$unique" -eq "$total"
check "every stored message has its event ($rows)" test "$rows" -eq "$total"
check "events validate against new_mail.v1" test "$(it_validate new_mail.v1 <"$IT_TMP/events")" -ge "$total"
absent "events carry no body" 'Body 1 of' "$IT_TMP/events"
check "relayed rows leave the outbox (it does not grow with every message)" test "$(it_sql 'SELECT count(*) FROM outbox')" -eq 0
check "events on Kafka are the worker's compact JSON, unchanged" bash -c "grep -q '^{\"schema\":\"inboxq.new_mail.v1\",' '$IT_TMP/events'"


# a poison job, then a real one behind it on the same partition (same key)
victim=${ids[0]}
printf 'this is not json' | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$victim"
job=$(cat /proc/sys/kernel/random/uuid)
printf '{"schema":"inboxq.check_job.v1","job_id":"%s","account_id":%s,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:test","reason":"manual","attempt":1}' \
  "$job" "$victim" | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$victim"
it_wait_for 30 "the job behind the poison ran" bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT outcome FROM check_runs WHERE job_id = '$job'\")\" = ok"
# a job due in ten minutes and one for year 9999, then a real one behind them: no slot sleeps
# on a job (the one behind runs at once), the first moves the account's next check, the
# second is refused into the dead-letter topic
later=$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%S.000Z)
for nb in "$later" "9999-12-31T23:59:59.000Z"; do
  printf '{"schema":"inboxq.check_job.v1","job_id":"%s","account_id":%s,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:test","reason":"manual","attempt":1,"not_before":"%s"}' \
    "$(cat /proc/sys/kernel/random/uuid)" "$victim" "$nb" | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$victim"
done
behind=$(cat /proc/sys/kernel/random/uuid)
printf '{"schema":"inboxq.check_job.v1","job_id":"%s","account_id":%s,"requested_at":"2026-01-01T00:00:00.000Z","requested_by":"cli:test","reason":"manual","attempt":1}' \
  "$behind" "$victim" | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -k "$victim"
it_wait_for 30 "the job behind the delayed ones ran at once" bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT outcome FROM check_runs WHERE job_id = '$behind'\")\" = ok"
check "the job due later moved the account's next check" test "$(it_sql "SELECT next_check_at >= now() + interval '9 minutes' FROM mail_accounts WHERE id = $victim")" = t
it_kcat_all "$INBOXQ_TOPIC_DEAD" >"$IT_TMP/dead"
check "the poison job is in the dead-letter topic" grep -q '"original_value":"this is not json"' "$IT_TMP/dead"
check "the year-9999 job is dead-lettered as invalid_job" grep -q '"error_class":"invalid_job".*9999-12-31\|9999-12-31.*"error_class":"invalid_job"' "$IT_TMP/dead"
check "dead letters validate against dead_letter.v1" test "$(it_validate dead_letter.v1 <"$IT_TMP/dead")" -ge 1
# a report job rendered by a worker equals the same report rendered in process
out=$(inboxq report --format csv --secure yes --wait --timeout 60 --output "$IT_TMP/job.csv")
rid=$(head -1 <<<"$out" | cut -d' ' -f1)
inboxq report --format csv --secure yes --direct --output "$IT_TMP/direct.csv"
check "report job rendered by a worker" test -s "$IT_TMP/job.csv"
check "...identical to the in-process render" cmp -s "$IT_TMP/job.csv" "$IT_TMP/direct.csv"
check "report show says done with 50 rows" bash -c "inboxq report show $rid | grep -q 'rows *50' && inboxq report show $rid | grep -q 'status *done'"
inboxq report get "$rid" --output "$IT_TMP/again.csv"
check "report get returns the stored output" cmp -s "$IT_TMP/job.csv" "$IT_TMP/again.csv"

it_stop_all
check "workers left the group cleanly (no live worker rows)" test "$(it_sql 'SELECT count(*) FROM workers')" -eq 0
# the Redis listings match PostgreSQL once the cluster is quiet (a listing is rewritten right
# after the commit of new mail, so it may trail a running check by a moment)
listing_ok() {
  local id out src got want
  for id in "${ids[@]}"; do
    out=$(inboxq inbox "$id" --format json --limit 200)
    src=$(jget source <<<"$out")
    got=$($PY -c 'import json,sys; print(" ".join(str(m["id"]) for m in json.load(sys.stdin)["messages"]))' <<<"$out")
    want=$(it_sql "SELECT string_agg(id::text, ' ' ORDER BY sent_at DESC NULLS LAST, id DESC) FROM messages WHERE account_id = $id")
    if [ "$src" != redis ] || [ "$got" != "$want" ]; then
      echo "# account $id: listing from $src is [$got], PostgreSQL has [$want]" >&2
      return 1
    fi
  done
}
it_wait_for 60 "Redis listings match PostgreSQL" listing_ok

finish
