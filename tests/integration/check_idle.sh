#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An idle check (no new mail) against the scripted server (tests/hostile), which records every
# command. IMAP: the greeting's capabilities stand in for CAPABILITY (asked again inside TLS),
# AUTHENTICATE PLAIN carries its initial response (SASL-IR), and SELECT's UIDNEXT saying nothing
# is new saves the UID FETCH listing; without UIDNEXT, or without capabilities in the greeting,
# the commands are sent as before. POP3: an idle maildrop is listed by UIDL alone. The run
# record and the account's status are written as for any successful check, and a redelivered
# finished job runs nothing.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
cred=$(it_credential idle alice "idle-pass")

# commands CONN RECORD [pop3]: the command lines of connection CONN, IMAP tags dropped, one a
# line, "TLS " in front of those sent inside TLS
commands() {
  $PY - "$1" "$2" "${3:-imap}" <<'EOF'
import json, sys
for line in open(sys.argv[2]):
    e = json.loads(line)
    if e["event"] == "command" and e["conn"] == int(sys.argv[1]):
        text = e["line"] if sys.argv[3] == "pop3" else e["line"].split(" ", 1)[-1]
        print(("TLS " if e["tls"] else "") + text)
EOF
}

# server NAME SCENARIO [args]: starts the scripted server (PROTO, default imap); sets SPID, PORT
server() {
  local dir="$IT_TMP/$1"; mkdir -p "$dir"
  $PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto "${PROTO:-imap}" --scenario "$2" --port 0 \
    --cert "$cert" --key "$key" --record "$dir/record" --ready-file "$dir/port" "${@:3}" \
    >/dev/null 2>"$dir/server.log" &
  SPID=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  PORT=$(cat "$dir/port")
}

# idle NAME SCENARIO SECURITY [server args]: two checks, the second one idle; leaves the idle
# check's commands in $IT_TMP/NAME/idle and its result in $IT_TMP/NAME/out, ID the account
idle() {
  local name=$1 sc=$2 sec=$3 secflags; shift 3
  case $sec in
    plain) secflags=(--secure no) ;;
    starttls) secflags=(--secure yes --secure-type tls --ignore-certificate yes) ;;
    implicit) secflags=(--secure yes --secure-type ssl --ignore-certificate yes) ;;
  esac
  server "$name" "$sc" "$@"
  ID=$(inboxq account add --name "idle-$name" --host 127.0.0.1 --port "$PORT" --protocol imap \
    --credential "$cred" "${secflags[@]}" --keep-copy yes)
  local first; first=$(it_check "$ID")
  check "$name: first check stores both messages" test "$(jget messages_new <<<"$first")" = 2
  it_check "$ID" >"$IT_TMP/$name/out"
  kill "$SPID"; wait "$SPID" 2>/dev/null || true
  commands 2 "$IT_TMP/$name/record" >"$IT_TMP/$name/idle"
  check "$name: idle check ok, nothing new" test "$(jget outcome <"$IT_TMP/$name/out")/$(jget messages_new <"$IT_TMP/$name/out")" = ok/0
  check "$name: still two stored" test "$(it_stored_count "$ID")" -eq 2
}
sent() { grep -qE "$2" "$IT_TMP/$1/idle"; }
# deviated NAME: the scripted server recorded serving scenario NAME's deviation
deviated() { grep -qE "\"event\": \"deviation\", \"conn\": [0-9]+, \"what\": \"$1\"" "$IT_TMP/$1/record"; }
# not sent: the session's command list exists and has no such line
not_sent() { [ -s "$IT_TMP/$1/idle" ] && ! sent "$@"; }

for sec in plain starttls implicit; do
  tls=""; [ "$sec" = plain ] || tls="TLS "
  [ "$sec" = implicit ] && extra=(--implicit-tls) || extra=()
  idle "normal-$sec" normal "$sec" "${extra[@]}"
  check "normal-$sec: no UID FETCH when UIDNEXT shows nothing new" not_sent "normal-$sec" "UID FETCH"
  want="${tls}AUTHENTICATE ***|${tls}SELECT INBOX|${tls}LOGOUT"
  [ "$sec" = starttls ] && want="STARTTLS|TLS CAPABILITY|$want"
  got=$(paste -sd '|' "$IT_TMP/normal-$sec/idle")
  check "normal-$sec: the idle session is $want (got $got)" test "$got" = "$want"
  if [ "$sec" = starttls ]; then
    check "starttls: no CAPABILITY before TLS (the greeting's list)" not_sent "normal-$sec" "^CAPABILITY"
    check "starttls: CAPABILITY asked again inside TLS, as RFC 3501 spells it (no trailing space)" sent "normal-$sec" "^TLS CAPABILITY$"
  else
    check "normal-$sec: no CAPABILITY (the greeting's list)" not_sent "normal-$sec" "CAPABILITY"
  fi
done

# The run record and the account's status of the idle check, field by field.
job=$(jget job_id <"$IT_TMP/normal-implicit/out")
row=$(it_sql "SELECT outcome, error_class IS NULL, error IS NULL, messages_new, messages_deleted,
  messages_skipped, bytes > 0, tls_version IS NOT NULL, tls_cipher IS NOT NULL,
  tls_fingerprint IS NOT NULL, duration_ms IS NOT NULL, finished_at >= started_at,
  worker LIKE 'cli:%', requested_by LIKE 'cli:%' AND requested_by <> worker
  FROM check_runs WHERE job_id = '$job'")
check "run record of the idle check ($row)" test "$row" = "ok|t|t|0|0|0|t|t|t|t|t|t|t|t"
row=$(it_sql "SELECT a.last_status, a.last_error_class IS NULL, a.last_error IS NULL,
  a.consecutive_failures, a.last_success_at = a.last_check_at,
  a.last_check_at >= r.started_at, (SELECT count(*) FROM check_runs WHERE account_id = a.id)
  FROM mail_accounts a JOIN check_runs r ON r.job_id = '$job' WHERE a.id = r.account_id")
check "account status after the idle check ($row)" test "$row" = "ok|t|t|0|t|t|2"

# Without UIDNEXT the listing is asked as before; without capabilities in the greeting, too.
idle no-uidnext no-uidnext plain
check "no-uidnext: the server left UIDNEXT out" deviated no-uidnext
check "no-uidnext: UID FETCH sent as before" sent no-uidnext "^UID FETCH 10:\* \(UID RFC822.SIZE\)$"
idle bare-greeting bare-greeting implicit --implicit-tls
check "bare-greeting: the server greeted without capabilities" deviated bare-greeting
check "bare-greeting: CAPABILITY asked first" bash -c "head -n 1 '$IT_TMP/bare-greeting/idle' | grep -qx 'TLS CAPABILITY'"

# POP3: an idle maildrop is listed by UIDL alone; LIST (sizes) only when something is new.
PROTO=pop3 server pop3 normal
id=$(inboxq account add --name idle-pop3 --host 127.0.0.1 --port "$PORT" --protocol pop3 \
  --credential "$cred" --secure no --keep-copy yes)
out=$(it_check "$id")
check "pop3: first check stores both messages" test "$(jget messages_new <<<"$out")" = 2
out=$(it_check "$id")
kill "$SPID"; wait "$SPID" 2>/dev/null || true
check "pop3: idle check ok, nothing new" test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")" = ok/0
got=$(commands 1 "$IT_TMP/pop3/record" pop3 | grep -c '^LIST$' || true)
check "pop3: the first check asked LIST" test "$got" -eq 1
got=$(commands 2 "$IT_TMP/pop3/record" pop3 | paste -sd '|')
check "pop3: the idle session is CAPA|USER ***|PASS ***|UIDL|QUIT (got $got)" test "$got" = "CAPA|USER ***|PASS ***|UIDL|QUIT"

# A refused AUTHENTICATE (with its initial response) is one attempt, no LOGIN after it: auth.
server refused normal --user alice --password other-pass
id=$(inboxq account add --name idle-refused --host 127.0.0.1 --port "$PORT" --protocol imap \
  --credential "$cred" --secure no --keep-copy yes)
out=$(it_check "$id")
kill "$SPID"; wait "$SPID" 2>/dev/null || true
check "refused: class auth" test "$(jget error_class <<<"$out")" = auth
check "refused: one login attempt" test "$(grep -c '"event": "credential"' "$IT_TMP/refused/record")" -eq 1

# Through a worker: a redelivered job that already finished runs nothing again (no connection,
# no second run record); a new job for the same account after it runs as usual.
it_private_kafka
server redelivery normal
# (push off: an IDLE probe would be a session of its own; push has tests/integration/push.sh)
id=$(inboxq account add --name idle-redelivery --host 127.0.0.1 --port "$PORT" --protocol imap \
  --credential "$cred" --secure no --keep-copy yes --push off)
it_spawn worker inboxq-worker
check "redelivery: the first job ran, and check --wait says ok (exit 0)" \
  inboxq check "$id" --wait --timeout 60 >"$IT_TMP/wait1.out" 2>"$IT_TMP/wait1.err"
job=$(it_sql "SELECT job_id FROM check_runs WHERE account_id = $id")
before=$(it_sql "SELECT finished_at, outcome, messages_new FROM check_runs WHERE job_id = '$job'")
check "redelivery: the first job stored both messages" test "${before#*|}" = "ok|2"
kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$INBOXQ_TOPIC_CHECK" -o beginning -e -q -f '%k\t%s\n' \
  2>/dev/null | kcat -b "$INBOXQ_KAFKA_BROKERS" -P -t "$INBOXQ_TOPIC_CHECK" -K $'\t'
# same partition: after the copy
check "redelivery: the new job ran, and check --wait says ok (exit 0)" \
  inboxq check "$id" --wait --timeout 60 >"$IT_TMP/wait2.out" 2>"$IT_TMP/wait2.err"
kill "$SPID"; wait "$SPID" 2>/dev/null || true
check "redelivery: two runs, the first one unchanged" test \
  "$(it_sql "SELECT count(*) FROM check_runs WHERE account_id = $id")/$(it_sql "SELECT finished_at, outcome, messages_new FROM check_runs WHERE job_id = '$job'")" = "2/$before"
check "redelivery: the server saw two sessions, not three" test \
  "$(grep -c '"event": "connect"' "$IT_TMP/redelivery/record")" -eq 2
finish
