#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The paths that could lose or duplicate mail, each against the scripted server
# (tests/hostile/hostile_server.py, whose --state-file shows what is left on the server and whose
# record shows every command), each proven to have run, not only to have ended:
#  - IMAP: several fetch batches and UID STORE/EXPUNGE chunks of 500 in one check; a server without
#    UIDPLUS (plain EXPUNGE), and the guard that keeps a plain EXPUNGE from removing a message
#    another client flagged \Deleted; every byte of the replies in its own read (literal
#    announcements split); max_check_bytes reached, the rest fetched by the next checks;
#  - POP3: APOP; DELE refused; QUIT refused; a UIDL listing with message number 0 (the other
#    broken listings fail today: tests/integration/pending/pop3_uidl.sh).
# Whatever the server does, every message that left it must be stored, and none stored twice.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
pass=hostile-pass
cred=$(it_credential paths alice "$pass")
# shellcheck source=tests/lib/hostile.bash
source "$IQ_SOURCE_DIR/tests/lib/hostile.bash"

# --- IMAP: 620 messages, fetch_batch 100, keep copy off ------------------------------------
server many imap normal --messages 620
id=$(account many imap --keep-copy no)
out=$(it_check "$id")
stop_server
check "imap 620: ok ($(jget error <<<"$out"))" test "$(jget outcome <<<"$out")" = ok
check "imap 620: 620 new, 620 deleted" test "$(jget messages_new <<<"$out")/$(jget messages_deleted <<<"$out")" = 620/620
check "imap 620: the server is empty" test "$(left)" -eq 0
check "imap 620: nothing lost, nothing stored twice" lossless "$id"
check "imap 620: fetched in 7 batches (fetch_batch 100)" test "$(commands '^UID FETCH .*BODY')" -eq 7
# UIDs per UID STORE command, in order: 500, then 120
chunks=$($PY - "$DIR/record" <<'EOF'
import json, re
out = []
for line in open(__import__("sys").argv[1]):
    e = json.loads(line)
    if e["event"] == "command" and " UID STORE " in e["line"]:
        spec = e["line"].split(" ")[3]
        n = 0
        for part in spec.split(","):
            a, _, b = part.partition(":")
            # UIDs are 7, 9, 11, ...: a range a:b holds every odd UID between
            n += 1 if not b else (int(b) - int(a)) // 2 + 1
        out.append(str(n))
print(" ".join(out))
EOF
)
check "imap 620: flagged in chunks of 500 UIDs ($chunks)" test "$chunks" = "500 120"
check "imap 620: one UID EXPUNGE per chunk" test "$(commands '^UID EXPUNGE ')" -eq 2
check "imap 620: deletes only after every batch was fetched" \
  test "$(grep -n '"UID STORE\| UID STORE ' "$DIR/record" | head -n1 | cut -d: -f1)" -gt \
  "$(grep -n ' UID FETCH .*BODY' "$DIR/record" | tail -n1 | cut -d: -f1)"

# --- IMAP without UIDPLUS: plain EXPUNGE, when nothing else carries \Deleted ----------------
server no-uidplus imap no-uidplus
id=$(account no-uidplus imap --keep-copy no)
out=$(it_check "$id")
stop_server
check "no-uidplus: ok, 2 new, 2 deleted ($(jget error <<<"$out"))" \
  test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")/$(jget messages_deleted <<<"$out")" = ok/2/2
check "no-uidplus: the server had no UIDPLUS" deviated no-uidplus
check "no-uidplus: deleted by a plain EXPUNGE, no UID EXPUNGE" \
  test "$(commands '^EXPUNGE$')/$(commands '^UID EXPUNGE')" = 1/0
check "no-uidplus: the server is empty" test "$(left)" -eq 0
check "no-uidplus: nothing lost, nothing stored twice" lossless "$id"

# --- ... and when another client's message carries \Deleted: no EXPUNGE, nothing lost -------
server foreign imap foreign-deleted
id=$(account foreign imap --keep-copy no)
out=$(it_check "$id")
check "foreign-deleted: ok, 2 new ($(jget error <<<"$out"))" \
  test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")" = ok/2
check "foreign-deleted: another client flagged a new message \\Deleted during the check" deviated foreign-deleted
check "foreign-deleted: the check asked which messages carry \\Deleted" test "$(commands '^UID SEARCH DELETED')" -ge 1
check "foreign-deleted: no EXPUNGE sent" test "$(commands 'EXPUNGE')" -eq 0
check "foreign-deleted: nothing counted deleted" test "$(jget messages_deleted <<<"$out")" -eq 0
check "foreign-deleted: the run's note says why ($(jget note <<<"$out"))" grep -q UIDPLUS <<<"$(jget note <<<"$out")"
check "foreign-deleted: the other client's message is still on the server" grep -qx 1001 <(state uid)
check "foreign-deleted: nothing marked deleted in PostgreSQL" \
  test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id AND deleted_on_server_at IS NOT NULL")" -eq 0
# the next check stores the newcomer; then every \Deleted message is ours and EXPUNGE is safe
out=$(it_check "$id")
stop_server
check "foreign-deleted: the next check stores it and deletes all three" \
  test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")/$(jget messages_deleted <<<"$out")" = ok/1/3
check "foreign-deleted: the server is empty" test "$(left)" -eq 0
check "foreign-deleted: nothing lost, nothing stored twice" lossless "$id"

# --- IMAP, every byte in a read of its own: literal announcements split across reads --------
for sec in plain implicit; do
  if [ $sec = plain ]; then server "split-$sec" imap split; secflags=(--secure no)
  else server "split-$sec" imap split --implicit-tls; secflags=(--secure yes --secure-type ssl --ignore-certificate yes); fi
  id=$(inboxq account add --name "split-$sec" --host 127.0.0.1 --port "$PORT" --protocol imap \
    --credential "$cred" "${secflags[@]}" --keep-copy yes)
  out=$(it_check "$id")
  stop_server
  check "imap split ($sec): ok ($(jget error <<<"$out"))" test "$(jget outcome <<<"$out")" = ok
  check "imap split ($sec): the server split its replies" deviated split
  check "imap split ($sec): both messages byte for byte" \
    test "$(it_stored_hashes "$id" | paste -sd ' ')" = "$(state sha256 | sort | paste -sd ' ')"
done

# --- max_check_bytes: each check stops at the budget, the next ones fetch the rest ----------
for proto in imap pop3; do
  server "budget-$proto" "$proto" normal --messages 150
  id=$(account "budget-$proto" "$proto" --keep-copy no)
  classes="" stored=0 progress=1
  for round in 1 2 3 4 5 6 7 8 9 10; do
    out=$(it_check "$id" INBOXQ_MAX_CHECK_BYTES=16k INBOXQ_FETCH_BATCH=10)
    classes+="$(jget error_class <<<"$out" | sed 's/^$/ok/') "
    now=$(it_stored_count "$id")
    [ "$now" -gt "$stored" ] || [ "$(jget outcome <<<"$out")" = ok ] || progress=0
    stored=$now
    [ "$(jget outcome <<<"$out")" = ok ] && break
  done
  stop_server
  check "$proto budget: the first check stopped at max_check_bytes (${classes% })" grep -q '^size_limit ' <<<"$classes"
  check "$proto budget: every stopped check still stored something" test "$progress" = 1
  check "$proto budget: within 10 checks all 150 stored and the last check ok" \
    test "$stored/${classes##*ok }" = "150/"
  check "$proto budget: the server is empty" test "$(left)" -eq 0
  check "$proto budget: nothing lost, nothing stored twice" lossless "$id"
done

# --- POP3 APOP: the digest is right (the server checks it), no USER/PASS --------------------
server apop pop3 normal --user alice --password "$pass"
id=$(account apop pop3 --apop yes --keep-copy yes)
out=$(it_check "$id")
check "apop: ok, 2 new ($(jget error <<<"$out"))" test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")" = ok/2
check "apop: logged in with APOP only" test "$(commands '^APOP ')/$(commands '^(USER|PASS) ')" = 1/0
bad=$(it_credential apop-bad alice "not-$pass")
bid=$(inboxq account add --name apop-bad --host 127.0.0.1 --port "$PORT" --protocol pop3 \
  --credential "$bad" --secure no --apop yes)
out=$(it_check "$bid")
check "apop: a wrong password is auth" test "$(jget error_class <<<"$out")" = auth
check "apop: one APOP attempt, no USER/PASS" test "$(commands '^APOP ')/$(commands '^(USER|PASS) ')" = 2/0
nid=$(account apop-off pop3 --apop no --keep-copy yes)
out=$(it_check "$nid")
stop_server
check "apop off: USER/PASS instead ($(jget error <<<"$out"))" \
  test "$(jget outcome <<<"$out")/$(commands '^APOP ')/$(commands '^PASS ')" = ok/2/1

# --- POP3 DELE refused: that message stays on the server and is not marked deleted ---------
server dele-err pop3 dele-err
id=$(account dele-err pop3 --keep-copy no)
out=$(it_check "$id")
stop_server
check "dele-err: the server refused DELE 1" deviated dele-err
check "dele-err: ok, 2 new, 1 deleted ($(jget error <<<"$out"))" \
  test "$(jget outcome <<<"$out")/$(jget messages_new <<<"$out")/$(jget messages_deleted <<<"$out")" = ok/2/1
check "dele-err: message 1 still on the server, message 2 gone" test "$(state uidl | paste -sd ' ')" = hostile-0007
check "dele-err: only message 2 marked deleted in PostgreSQL" \
  test "$(it_sql "SELECT string_agg(server_id, ' ') FROM messages WHERE account_id = $id AND deleted_on_server_at IS NOT NULL")" = hostile-0009
check "dele-err: nothing lost, nothing stored twice" lossless "$id"

# --- POP3 QUIT refused: nothing deleted, nothing marked deleted, a note -------------------
server quit-err pop3 quit-err
id=$(account quit-err pop3 --keep-copy no)
out=$(it_check "$id")
stop_server
check "quit-err: the server refused QUIT" deviated quit-err
check "quit-err: 2 new, none counted deleted ($(jget outcome <<<"$out"): $(jget error <<<"$out"))" \
  test "$(jget messages_new <<<"$out")/$(jget messages_deleted <<<"$out")" = 2/0
check "quit-err: the note says QUIT was not confirmed ($(jget note <<<"$out"))" grep -q QUIT <<<"$(jget note <<<"$out")"
check "quit-err: both messages still on the server" test "$(left)" -eq 2
check "quit-err: nothing marked deleted in PostgreSQL" \
  test "$(it_sql "SELECT count(*) FROM messages WHERE account_id = $id AND deleted_on_server_at IS NOT NULL")" -eq 0

# --- POP3: a UIDL listing starting with message number 0 is refused, before any RETR -----
server uidl-zero pop3 uidl-zero
id=$(account uidl-zero pop3 --keep-copy no)
out=$(it_check "$id")
stop_server
check "uidl-zero: the server sent the broken listing" deviated uidl-zero
check "uidl-zero: refused as a protocol error ($(jget error_class <<<"$out"): $(jget error <<<"$out"))" \
  test "$(jget error_class <<<"$out")" = protocol
check "uidl-zero: nothing fetched, nothing deleted" test "$(commands '^(RETR|DELE) ')/$(left)" = 0/2
check "uidl-zero: nothing lost, nothing stored twice" lossless "$id"
# Duplicate UIDLs, a message listed twice, a line without a UIDL: tests/integration/pending/
finish
