#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMAP IDLE push against the scripted hostile server (tests/hostile): a server that sends BYE
# while the worker idles is reconnected to with back-off (IDLE issued again, several times, not
# in a tight loop); a server that never answers DONE (IDLE renewed every second here) costs the
# worker read_timeout, then the connection, which is opened again. Neither stops the worker
# from storing what the servers hold (the checks each reconnect queues).
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
export INBOXQ_PUSH_REFRESH=1s INBOXQ_READ_TIMEOUT=1s INBOXQ_PUSH_IDLE_RENEW=1s

cred=$(it_credential hostile alice "hostile-pass")
declare -A id
for sc in idle-bye idle-no-done; do
  mkdir -p "$IT_TMP/$sc"
  it_spawn "server-$sc" "$PY" "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto imap \
    --scenario "$sc" --port 0 --record "$IT_TMP/$sc/record" --ready-file "$IT_TMP/$sc/port"
  for _ in $(seq 100); do [ -s "$IT_TMP/$sc/port" ] && break; sleep 0.05; done
  id[$sc]=$(inboxq account add --name "h-$sc" --host 127.0.0.1 --port "$(cat "$IT_TMP/$sc/port")" \
    --protocol imap --credential "$cred" --secure no --check-interval 7d)
done

# IDLE commands and DONE lines the server received
idles() { grep -c '"line": "IQI[0-9]* IDLE"' "$IT_TMP/$1/record" 2>/dev/null || true; }
dones() { grep -c '"line": "DONE"' "$IT_TMP/$1/record" 2>/dev/null || true; }

it_spawn worker inboxq-worker
bye_thrice() { [ "$(idles idle-bye)" -ge 3 ]; }
it_wait_for 30 "BYE while idling: reconnected and IDLE issued again (3 times)" bye_thrice
# 1 s of IDLE before each BYE, then 1 s and 2 s of back-off (+-25 %): at least 4.2 s
took=$("$PY" -c '
import json, sys
t = [e["t"] for e in map(json.loads, open(sys.argv[1])) if e["event"] == "command" and e["line"].endswith(" IDLE")]
print(round(t[2] - t[0], 1))' "$IT_TMP/idle-bye/record")
check "not in a tight loop: first to third IDLE took ${took}s" "$PY" -c "import sys; sys.exit(0 if $took >= 3.5 else 1)"
check "the worker logged the lost connection" grep -q "account ${id[idle-bye]}: IDLE connection lost" "$IT_TMP/worker.log"
check "BYE: the server's text is in the log" grep -q "idle session ended by the server" "$IT_TMP/worker.log"

no_done_again() { [ "$(dones idle-no-done)" -ge 1 ] && [ "$(idles idle-no-done)" -ge 2 ]; }
it_wait_for 30 "DONE never answered: the connection is dropped after read_timeout and IDLE issued again" no_done_again
check "DONE unanswered: logged as a timeout" grep -qE "account ${id[idle-no-done]}: IDLE connection lost \(timeout" "$IT_TMP/worker.log"

stored_both() { [ "$(it_stored_count "${id[idle-bye]}")" -eq 2 ] && [ "$(it_stored_count "${id[idle-no-done]}")" -eq 2 ]; }
it_wait_for 30 "both servers' messages stored by the checks push queued" stored_both
finish
