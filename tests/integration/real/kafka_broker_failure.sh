#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Broker failure on a real Kafka cluster of this test's own (tests/harness/kafka-cluster: three
# brokers, replication factor 3, min.insync.replicas 2), with a scheduler and two workers
# checking 12 accounts while mail keeps arriving:
#  1. the leader of the check-topic partition of an account is SIGKILLed: the time from its death
#     to the first check completed from a job written to that partition after the death is
#     measured (message timestamps are the leader's append time); then it is restarted and its
#     replicas catch up;
#  2. another broker is SIGKILLed (checks go on: two replicas = min.insync.replicas), then a
#     second one while the first is down: no write is acknowledged (too few replicas, and no KRaft
#     quorum), and the scheduler and the workers keep running, wait and retry;
#  3. both are restarted: checks resume, every message is in PostgreSQL exactly once (none lost,
#     none stored twice), none is left on the server for keep-copy-off accounts, there is one
#     new-mail event per message after dedupe by event_id, and no process crashed or was replaced.
# Real Kafka only (CTest: it.real.kafka_broker_failure). INBOXQ_BENCH_RESULTS=FILE also writes
# the measurements as Markdown (bench/kafka-broker-failure.sh does).
source "$(dirname "$0")/../lib.sh"
it_fresh_db
it_master_key
it_private_kafka # IT_KAFKA is dev here: the topics are created on our own cluster below
export INBOXQ_SCHEDULER_TICK=300ms INBOXQ_CONCURRENCY=2
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- our own cluster, in the test's temp dir (its logs go with it) -----------------------------
KDIR=$IT_TMP/kafka
kc() { "$IQ_SOURCE_DIR/tests/harness/kafka-cluster" --dir "$KDIR" "$@"; }
cleanup() {
  local before=$IT_FAILS
  [ -z "${DELIVERY_PID:-}" ] || { touch "$IT_TMP/stop-delivery"; wait "$DELIVERY_PID" 2>/dev/null || true; }
  it_stop_all # the workers leave the group while the brokers still run
  "$IQ_SOURCE_DIR/tests/harness/stop" --dir "$KDIR" >/dev/null 2>&1 || true
  psql -q "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE IF EXISTS $IT_DB WITH (FORCE)" >/dev/null 2>&1 || true
  it_cleanup
  [ "$IT_FAILS" -eq "$before" ] || exit 1
}
trap cleanup EXIT
export INBOXQ_TEST_KAFKA_CLUSTER_PORT=$((INBOXQ_TEST_PG_PORT + 50))
# LogAppendTime: a message's timestamp is when the partition leader wrote it
t0=$(now_ms)
INBOXQ_TEST_KAFKA_EXTRA_CONFIG="log.message.timestamp.type=LogAppendTime" \
  "$IQ_SOURCE_DIR/tests/harness/start" --dir "$KDIR" kafka-cluster >"$IT_TMP/cluster-start.log" 2>&1 ||
  { cat "$IT_TMP/cluster-start.log" >&2; fail "our own Kafka cluster did not start"; exit 1; }
pass "three brokers up, topics created ($(($(now_ms) - t0)) ms)"
INBOXQ_KAFKA_BROKERS=$(sed -n "s/^export INBOXQ_TEST_KAFKA_CLUSTER_BROKERS='\(.*\)'$/\1/p" "$KDIR/env")
export INBOXQ_KAFKA_BROKERS
topics=("$INBOXQ_TOPIC_CHECK" "$INBOXQ_TOPIC_REPORT" "$INBOXQ_TOPIC_NEW_MAIL" "$INBOXQ_TOPIC_DEAD")

# --- accounts: two that delete after fetching, ten that keep a copy of carol's mailbox ---------
ids=()
users=()
add() { # USER PASS PORT PROTO SECURE_TYPE KEEP
  local c
  c=$(it_credential "c-$1-${#ids[@]}" "$1" "$2")
  ids+=("$(inboxq account add --name "$1-${#ids[@]}" --host 127.0.0.1 --port "$3" --protocol "$4" \
    --credential "$c" --secure yes --secure-type "$5" --keep-copy "$6" --auto-check yes --check-interval 5s)")
  users+=("$1")
}
for u in user006 user008 carol; do it_empty_mailbox "$u"; done
add user006 "$INBOXQ_TEST_MAIL_PASS_BULK" "$INBOXQ_TEST_IMAPS_PORT" imap ssl no
add user008 "$INBOXQ_TEST_MAIL_PASS_BULK" "$INBOXQ_TEST_POP3S_PORT" pop3 ssl no
for k in 0 1; do
  add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_IMAPS_PORT" imap ssl yes
  add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_POP3S_PORT" pop3 ssl yes
  add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_IMAP_PORT" imap tls yes
  add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_POP3_PORT" pop3 tls yes
done
add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_IMAPS_PORT" imap ssl yes
add carol "$INBOXQ_TEST_MAIL_PASS_carol" "$INBOXQ_TEST_POP3S_PORT" pop3 ssl yes
check "12 accounts" test "${#ids[@]}" -eq 12
for u in user006 user008 carol; do it_seed "$u" 3; done

it_spawn scheduler inboxq-scheduler
sched=$IT_LAST_PID
it_spawn worker-a inboxq-worker
wa=$IT_LAST_PID
it_spawn worker-b inboxq-worker
wb=$IT_LAST_PID
# mail keeps arriving until the end: one message every 0.5 s, user006, user008, carol in turn
(
  i=0
  while [ ! -e "$IT_TMP/stop-delivery" ]; do
    case $((i % 3)) in 0) it_seed user006 1 ;; 1) it_seed user008 1 ;; *) it_seed carol 1 ;; esac
    i=$((i + 1))
    sleep 0.5
  done
) &
DELIVERY_PID=$!

every_account_checked() {
  test "$(it_sql "SELECT count(DISTINCT account_id) FROM check_runs WHERE outcome = 'ok'")" -eq "${#ids[@]}"
}
it_wait_for 90 "every account checked once through Kafka" every_account_checked

# jobs KAFKA_TS_MIN: "partition timestamp_ms key job_id" of every check job, from the topic
jobs() {
  kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$INBOXQ_TOPIC_CHECK" -o beginning -e -q -f '%p %T %k %s\n' 2>/dev/null |
    $PY -c 'import json, sys
for line in sys.stdin:
    p, ts, key, value = line.rstrip("\n").split(" ", 3)
    try:
        job = json.loads(value)["job_id"]
    except Exception:
        continue
    print(p, ts, key, job)' || true
}

# --- 1. the leader of a check partition dies ----------------------------------------------------
# The worst case: a partition whose leader also coordinates the workers' group, so the workers
# lose their coordinator too and must wait for it to move; else any partition with accounts.
coordinator=$(kc coordinator "$INBOXQ_CONSUMER_GROUP")
part= leader=
for p in $(jobs | awk '{print $1}' | sort -u); do
  l=$(kc leader "$INBOXQ_TOPIC_CHECK" "$p")
  if [ -z "$part" ] || [ "$l" = "$coordinator" ]; then part=$p leader=$l; fi
  [ "$l" != "$coordinator" ] || break
done
check "a check partition with accounts on it ($part)" test -n "$part"
on_part=$(jobs | awk -v p="$part" '$1 == p {print $3}' | sort -u | tr '\n' ' ')
role="leader of check partition $part"
[ "$leader" != "$coordinator" ] || role="$role and coordinator of the workers' group"
echo "# partition $part of $INBOXQ_TOPIC_CHECK: leader node $leader; group coordinator node $coordinator; accounts on it: $on_part"
t_kill=$(now_ms)
kc kill "$leader"
pass "node $leader ($role) killed with SIGKILL"

# done_after T [PARTITION]: true when a check completed whose job a partition leader wrote after
# T (ms since the epoch), on PARTITION or on any; sets DONE_AT (when the first such check
# finished) and FIRST_APPEND (ms from T to the first such write)
done_after() {
  local list
  jobs | awk -v p="${2:--1}" -v t="$1" '(p < 0 || $1 == p) && $2 > t' >"$IT_TMP/after"
  [ -s "$IT_TMP/after" ] || return 1
  FIRST_APPEND=$(($(sort -k2n "$IT_TMP/after" | head -1 | cut -d' ' -f2) - $1))
  list=$(awk '{printf "%s'\''%s'\''", (NR > 1 ? "," : ""), $4}' "$IT_TMP/after")
  DONE_AT=$(it_sql "SELECT (extract(epoch FROM min(finished_at)) * 1000)::bigint FROM check_runs
    WHERE job_id IN ($list) AND outcome IS NOT NULL")
  [ -n "$DONE_AT" ]
}
it_wait_for 120 "a check job on partition $part completed after its leader died" done_after "$t_kill" "$part"
recovery_ms=$((DONE_AT - t_kill))
append_ms=$FIRST_APPEND
echo "# recovery: first write to partition $part after ${append_ms} ms, first check completed from it after ${recovery_ms} ms"
new_leader=$(kc leader "$INBOXQ_TOPIC_CHECK" "$part")
check "another node leads partition $part now ($new_leader)" test "$new_leader" != "$leader" -a "$new_leader" -gt 0
t_restart=$(now_ms)
kc restart "$leader"
restart_ms=$(($(now_ms) - t_restart))
kc in-sync 120 "${topics[@]}"
insync_ms=$(($(now_ms) - t_restart))
pass "node $leader restarted (${restart_ms} ms) and every replica back in sync (${insync_ms} ms)"

# --- 2. one broker down, then a second one -------------------------------------------------------
first=$(kc leader "$INBOXQ_TOPIC_CHECK" "$part")
second=$((first % 3 + 1))
not_confirmed() { grep -c "not confirmed by Kafka" "$IT_TMP/scheduler.log" || true; }
t_one=$(now_ms)
kc kill "$first"
it_wait_for 120 "one broker down: checks complete from jobs written after its death (2 in-sync replicas left)" \
  done_after "$t_one"
one_ms=$((DONE_AT - t_one))
echo "# one broker down: first check completed from a job written after its death after ${one_ms} ms"
nc_before=$(not_confirmed)
t_two=$(now_ms)
kc kill "$second"
pass "nodes $first and $second killed: one broker left, no KRaft quorum"
# what was in flight when the second one died has timed out (kafka_timeout 10 s) by now
sleep 11
it_sql "SELECT id, next_check_at FROM mail_accounts ORDER BY id" >"$IT_TMP/due.before"
sleep 9
it_sql "SELECT id, next_check_at FROM mail_accounts ORDER BY id" >"$IT_TMP/due.after"
check "two brokers down: no account's next check moved (nothing was confirmed)" cmp -s "$IT_TMP/due.before" "$IT_TMP/due.after"
nc_after=$(not_confirmed)
echo "# two brokers down for 20 s: the scheduler logged $((nc_after - nc_before)) unconfirmed publication(s)"
check "two brokers down: the scheduler's jobs are not confirmed, and it says so" test "$nc_after" -gt "$nc_before"
check "two brokers down: the scheduler still runs" kill -0 "$sched"
check "two brokers down: both workers still run" bash -c "kill -0 $wa && kill -0 $wb"
t_back=$(now_ms)
kc restart "$first" "$second"
live_ms=$(($(now_ms) - t_back))
kc in-sync 180 "${topics[@]}"
back_ms=$(($(now_ms) - t_back))
pass "nodes $first and $second restarted: three live brokers (${live_ms} ms), every replica in sync (${back_ms} ms)"
it_wait_for 120 "checks complete again from jobs written after the restart" done_after "$t_back"
again_ms=$((DONE_AT - t_back))
# a job the scheduler gave up on may still have reached the surviving leader's log, and be
# committed once the followers are back: it runs, and stores nothing twice
late=$(jobs | awk -v a="$((t_two + 1000))" -v b="$t_back" '$2 > a && $2 < b' | wc -l)
echo "# after the restart: first check completed from a new job after ${again_ms} ms; $late job(s) written during the outage were committed late"

# --- 3. nothing lost, nothing twice --------------------------------------------------------------
touch "$IT_TMP/stop-delivery"
wait "$DELIVERY_PID"
DELIVERY_PID=
caught_up() {
  local k u
  for k in "${!ids[@]}"; do
    u=${users[$k]}
    if [ "$u" = carol ]; then
      [ "$(it_stored_hashes "${ids[$k]}")" = "$(sort "$IT_TMP/delivered-$u")" ] || return 1
    else
      [ "$(it_server_count "$u")" -eq 0 ] || return 1
      [ "$(it_stored_hashes "${ids[$k]}")" = "$(sort "$IT_TMP/delivered-$u")" ] || return 1
    fi
  done
}
it_wait_for 180 "every account caught up: all delivered mail stored, keep-copy-off mailboxes empty" caught_up
delivered=0 stored=0 distinct=0
for k in "${!ids[@]}"; do
  n=$(wc -l <"$IT_TMP/delivered-${users[$k]}")
  delivered=$((delivered + n))
  stored=$((stored + $(it_stored_count "${ids[$k]}")))
  distinct=$((distinct + $(it_sql "SELECT count(DISTINCT sha256) FROM messages WHERE account_id = ${ids[$k]}")))
done
lost=$((delivered - distinct))
dup=$((stored - distinct))
echo "# messages: $delivered expected across the 12 accounts, $stored stored, $lost lost, $dup duplicated"
check "0 messages lost ($lost)" test "$lost" -eq 0
check "0 messages duplicated ($dup)" test "$dup" -eq 0
check "the server kept nothing of the keep-copy-off accounts" test "$(($(it_server_count user006) + $(it_server_count user008)))" -eq 0
it_wait_for 60 "outbox drained" bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT count(*) FROM outbox WHERE sent_at IS NULL')\" -eq 0"
it_kcat_all "$INBOXQ_TOPIC_NEW_MAIL" >"$IT_TMP/events"
read -r ev_raw ev_unique ev_rows < <($PY -c 'import json, sys
ev = [json.loads(l) for l in sys.stdin if l.strip()]
print(len(ev), len({e["event_id"] for e in ev}), len({e["message_row_id"] for e in ev}))' <"$IT_TMP/events")
echo "# new-mail events: $ev_raw on the topic, $ev_unique distinct, for $ev_rows message rows"
check "one new-mail event per stored message after dedupe ($ev_unique for $stored)" test "$ev_unique" -eq "$stored" -a "$ev_rows" -eq "$stored"
check "the scheduler and both workers ran throughout (same processes)" bash -c "kill -0 $sched && kill -0 $wa && kill -0 $wb"
echo "# recovery after the partition leader's death: ${recovery_ms} ms (first write ${append_ms} ms)"

if [ -n "${INBOXQ_BENCH_RESULTS:-}" ]; then
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  commit=$(git -C "$IQ_SOURCE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$IQ_SOURCE_DIR" diff --quiet HEAD 2>/dev/null || commit="$commit+uncommitted changes"
  jars=$(ls "$KDIR/kafka-cluster/java" >/dev/null && sed -n "s/.*-cp '\(.*\)\/\*'.*/\1/p" "$KDIR/kafka-cluster/java")
  kafka_jar=$(cd "$jars" && ls kafka_2.13-*.jar)
  kafka_version=${kafka_jar#kafka_2.13-}
  cat >"$INBOXQ_BENCH_RESULTS" <<EOF
# Kafka broker failure, $(date -u '+%Y-%m-%d %H:%M UTC')

Test: \`tests/integration/real/kafka_broker_failure.sh\` (CTest \`it.real.kafka_broker_failure\`),
commit $commit, Apache Kafka ${kafka_version%.jar} (${kafka_jar}), librdkafka
$(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null), $(nproc) cores, load average at start
$load_start, at end $load_end.

Setup: three Kafka nodes on 127.0.0.1, each broker and controller (KRaft, 3 voters), the
harness's settings (tests/harness/README.md; broker.session.timeout.ms and
replica.lag.time.max.ms at Kafka's defaults, 9 s and 30 s), topics with replication factor 3,
min.insync.replicas 2, ${INBOXQ_TEST_KAFKA_PARTITIONS:-4} partitions, LogAppendTime. One
scheduler (tick 300 ms) and two workers (concurrency 2, session timeout 6 s) checking 12
accounts (check interval 5 s; 2 delete after fetching, 10 keep a copy) while one message arrives
every 0.5 s.

| what | measured |
|---|---|
| node $leader ($role) SIGKILLed, to the first job written to that partition again | ${append_ms} ms |
| ... to the first check completed from a job written to that partition after the death | **${recovery_ms} ms** |
| killed node restarted (JVM start to live broker) / all replicas in sync again | ${restart_ms} ms / ${insync_ms} ms |
| another broker (node $first) SIGKILLed, to the first check completed from a job written after its death (2 replicas left = min.insync.replicas) | ${one_ms} ms |
| a second broker (node $second) SIGKILLed while node $first is down: 20 s with one broker, no KRaft quorum | the scheduler logged $((nc_after - nc_before)) unconfirmed publication(s) and moved no account; workers and scheduler kept running |
| both restarted, to three live brokers / all replicas in sync / the first check completed from a new job | ${live_ms} ms / ${back_ms} ms / ${again_ms} ms |
| jobs the scheduler saw unconfirmed during the outage but committed once the followers returned (run again, harmless) | $late |
| messages expected / stored / lost / duplicated | $delivered / $stored / **$lost** / **$dup** |
| new-mail events on the topic / distinct event ids / message rows covered | $ev_raw / $ev_unique / $ev_rows |
EOF
  echo "# wrote $INBOXQ_BENCH_RESULTS"
fi
finish
