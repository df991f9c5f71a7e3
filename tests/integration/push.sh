#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMAP IDLE push (issue 16) with the harness's real Dovecot and no scheduler running: a worker
# that owns an account's partition holds its IDLE connection (push_sessions, account show); a
# message delivered to the Maildir is stored and its new-mail event published within seconds,
# by a check the notification queued (requested_by push), run over the IDLE session itself: 0
# new logins on Dovecot per notification; keep-copy off under push deletes on the server only
# after the commit (also without a login); a server without IDLE (the scripted hostile server) is not
# held and falls back to polling; SIGKILL of the worker holding the accounts: the other worker
# pushes them again within the group's session timeout + 10 s, and mail delivered meanwhile is
# stored exactly once.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_PUSH_REFRESH=1s INBOXQ_CONCURRENCY=2

# user006 keeps its mail on the server, user008 has keep-copy off.
users=(user006 user008)
ids=()
for u in "${users[@]}"; do
  it_empty_mailbox "$u"
  : >"$IT_TMP/delivered-$u"
  c=$(it_credential "c-$u" "$u" "$INBOXQ_TEST_MAIL_PASS_BULK")
  keep=yes
  [ "$u" = user008 ] && keep=no
  ids+=("$(inboxq account add --name "$u" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" \
    --protocol imap --credential "$c" --secure yes --secure-type ssl --keep-copy $keep \
    --check-interval 7d)")
done
keep_id=${ids[0]} del_id=${ids[1]}

# The fallback: a server without IDLE (hostile "normal" scenario: no IDLE in CAPABILITY).
hdir=$IT_TMP/hostile
mkdir -p "$hdir"
it_spawn hostile "$PY" "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto imap \
  --scenario normal --port 0 --record "$hdir/record" --ready-file "$hdir/port"
for _ in $(seq 100); do [ -s "$hdir/port" ] && break; sleep 0.05; done
hc=$(it_credential hostile alice "hostile-pass")
noidle_id=$(inboxq account add --name no-idle --host 127.0.0.1 --port "$(cat "$hdir/port")" \
  --protocol imap --credential "$hc" --secure no --check-interval 5s)

# Dovecot's own count of logins of a user (its log: "imap-login: Login: user=<USER>")
logins() { cat "$INBOXQ_TEST_DIR"/log/dovecot-main.log 2>/dev/null | grep -c "imap-login: .*Login: user=<$1>" || true; }
logins_start_006=$(logins user006) logins_start_008=$(logins user008)
pushed_by() { it_sql "SELECT worker FROM push_sessions WHERE account_id = $1"; }
held() { [ -n "$(pushed_by "$1")" ]; }
push_runs() { it_sql "SELECT count(*) FROM check_runs WHERE account_id = $1 AND requested_by = 'push' AND finished_at IS NOT NULL"; }
stored_as_delivered() { [ "$(it_stored_hashes "$1")" = "$(sort "$IT_TMP/delivered-$2")" ]; }

it_spawn worker-a inboxq-worker
worker_a=$IT_LAST_PID
both_held() { held "$keep_id" && held "$del_id"; }
it_wait_for 30 "the worker holds IDLE for both Dovecot accounts" both_held
check "push_sessions names worker a" grep -q ":$worker_a\$" <<<"$(pushed_by "$keep_id")"
inboxq account show "$keep_id" --format json >"$IT_TMP/show.json"
check "account show: pushed_by is the worker" test "$(jget pushed_by <"$IT_TMP/show.json")" = "$(pushed_by "$keep_id")"
check "account show: push auto" test "$(jget push <"$IT_TMP/show.json")" = auto
inboxq status --format json >"$IT_TMP/status.json"
check "status: worker a holds 2 push connections" "$PY" -c '
import json, sys
w = json.load(open(sys.argv[1]))["workers"]["live"]
sys.exit(0 if [x["push_connections"] for x in w if x["name"].endswith(":" + sys.argv[2])] == [2] else 1)
' "$IT_TMP/status.json" "$worker_a"
# the check queued when IDLE began (it closes the gap while nobody idled) has finished
first_runs() { [ "$(push_runs "$keep_id")" -ge 1 ] && [ "$(push_runs "$del_id")" -ge 1 ]; }
it_wait_for 20 "the check queued at the start of IDLE ran" first_runs
runs_before=$(push_runs "$keep_id")
check "nothing stored yet" test "$(it_stored_count "$keep_id")" -eq 0
check "one login per account: the IDLE session's (the first check ran over it)" \
  test "$(($(logins user006) - logins_start_006))" -eq 1 -a "$(($(logins user008) - logins_start_008))" -eq 1
logins_006=$(logins user006) logins_008=$(logins user008)

# New mail while idling: stored and published without any scheduler.
t0=$(now_ms)
it_seed user006 1
it_wait_for 15 "a delivered message is stored by push (no scheduler running)" \
  stored_as_delivered "$keep_id" user006
t1=$(now_ms)
echo "# delivery to stored: $((t1 - t0)) ms"
check "stored within 5 s of the delivery ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 5000
check "by a check that push queued" test "$(push_runs "$keep_id")" -gt "$runs_before"
check "the notification's check logged in 0 times (it ran over the IDLE session)" \
  test "$(logins user006)" -eq "$logins_006"
check "its run record: requested_by push, TLS of the held session" \
  test "$(it_sql "SELECT requested_by || ' ' || (tls_version IS NOT NULL) || ' ' || messages_new FROM check_runs WHERE account_id = $keep_id AND messages_new > 0")" = "push true 1"
events() { it_kcat_all "$INBOXQ_TOPIC_NEW_MAIL" | grep -c "\"account_id\":$1," || true; }
published() { [ "$(events "$keep_id")" -ge 1 ]; }
it_wait_for 15 "its new-mail event is on Kafka" published
check "the message stays on the server (keep-copy yes)" test "$(it_server_count user006)" -eq 1

# keep-copy off under push: stored, then deleted on the server.
it_seed user008 2
it_wait_for 15 "keep-copy off: both messages stored by push" stored_as_delivered "$del_id" user008
server_empty() { [ "$(it_server_count user008)" -eq 0 ]; }
it_wait_for 15 "keep-copy off: deleted on the server after the commit" server_empty
check "still held after the expunges" held "$del_id"
check "keep-copy off: fetched and deleted with 0 logins" test "$(logins user008)" -eq "$logins_008"
check "the worker logged no lost IDLE connection" bash -c "! grep -q 'IDLE connection lost' '$IT_TMP/worker-a.log'"

# An edit (here the interval) may change what the session signed in to: it is opened again.
logins_008=$(logins user008)
inboxq account edit "$del_id" --check-interval 10m >/dev/null
reopened() { [ "$(logins user008)" -gt "$logins_008" ] && held "$del_id"; }
it_wait_for 15 "an edited account's IDLE session is opened again (a new login)" reopened
check "the worker said why" grep -q "push: account $del_id was edited; opening its IDLE again" "$IT_TMP/worker-a.log"

# The server without IDLE is not held; polling (the scheduler) checks it.
check "no IDLE held for the server without IDLE" test -z "$(pushed_by "$noidle_id")"
check "the worker said why" grep -q "account $noidle_id: the server does not offer IDLE" "$IT_TMP/worker-a.log"
check "no check of it ran without a scheduler" test "$(it_sql "SELECT count(*) FROM check_runs WHERE account_id = $noidle_id")" -eq 0

# A second worker joins; then the one holding the accounts is killed. The survivor takes the
# partitions over (session timeout 6 s) and pushes again; mail delivered meanwhile is stored
# once.
it_spawn worker-b inboxq-worker
worker_b=$IT_LAST_PID
sleep 8 # the group rebalanced; the accounts may have moved to worker b
holder=$(pushed_by "$keep_id")
victim=$worker_a survivor=$worker_b
if [[ $holder == *":$worker_b" ]]; then victim=$worker_b survivor=$worker_a; fi
echo "# accounts held by ${holder:-nobody}; killing $victim"
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
t0=$(now_ms)
it_seed user006 1
it_seed user008 1
survivor_holds() { [[ $(pushed_by "$keep_id") == *":$survivor" && $(pushed_by "$del_id") == *":$survivor" ]]; }
it_wait_for 16 "the survivor pushes both accounts again within session timeout + 10 s" survivor_holds
echo "# taken over after $(($(now_ms) - t0)) ms"
both_stored() { stored_as_delivered "$keep_id" user006 && stored_as_delivered "$del_id" user008; }
it_wait_for 30 "mail delivered meanwhile is stored" both_stored
it_seed user006 1
it_wait_for 15 "new mail after the takeover is pushed" stored_as_delivered "$keep_id" user006
check "nothing stored twice" test "$(it_sql 'SELECT count(*) FROM (SELECT account_id, sha256 FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d')" -eq 0
check "user006: 3 delivered = 3 stored" test "$(it_stored_count "$keep_id")" -eq 3
check "user008: 3 delivered = 3 stored" test "$(it_stored_count "$del_id")" -eq 3

# Polling goes on beside push: with the scheduler, the server without IDLE is checked.
it_spawn scheduler inboxq-scheduler
polled() { [ "$(it_stored_count "$noidle_id")" -eq 2 ]; }
it_wait_for 30 "the server without IDLE is polled (its 2 messages stored)" polled
check "and still not held" test -z "$(pushed_by "$noidle_id")"
finish
