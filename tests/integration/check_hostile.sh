#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scripted hostile servers (tests/hostile/hostile_server.py): each ends with the right error class,
# after the server recorded serving its scripted deviation, within the deadline, without spinning
# the CPU, with bounded memory, with no row stored and with no credential sent in clear.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
cred=$(it_credential hostile alice "hostile-canary-pass")

# scenario PROTO NAME SECURITY EXPECTED_CLASS [extra server args]; EXTRA_ENV: more settings
EXTRA_ENV=()
scenario() {
  local proto=$1 name=$2 sec=$3 want=$4; shift 4
  local dir="$IT_TMP/$proto-$name-$sec" secflags id out cls
  mkdir -p "$dir"
  $PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto "$proto" --scenario "$name" \
    --port 0 --cert "$cert" --key "$key" --record "$dir/record" --ready-file "$dir/port" "$@" \
    >/dev/null 2>"$dir/server.log" &
  local spid=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  case $sec in
    plain) secflags=(--secure no) ;; starttls) secflags=(--secure yes --secure-type tls) ;;
    implicit) secflags=(--secure yes --secure-type ssl --ignore-certificate yes) ;;
  esac
  id=$(inboxq account add --name "h-$proto-$name-$sec" --host 127.0.0.1 --port "$(cat "$dir/port")" \
    --protocol "$proto" --credential "$cred" "${secflags[@]}" --keep-copy no)
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" env ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16" \
    INBOXQ_CHECK_TIMEOUT=8s INBOXQ_READ_TIMEOUT=3s \
    INBOXQ_MAX_MESSAGE=1M INBOXQ_MAX_LINE=64k INBOXQ_MAX_CHECK_BYTES=64M "${EXTRA_ENV[@]}" \
    inboxq check "$id" --direct --format json >"$dir/out" 2>"$dir/err" || true
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  cls=$(jget error_class <"$dir/out" 2>/dev/null || echo "?")
  [ -z "$cls" ] && [ "$(jget outcome <"$dir/out" 2>/dev/null)" = ok ] && cls=ok
  read -r wall user sys rss < <(tail -n 1 "$dir/time")
  check "$proto $name ($sec): class $want (got $cls: $(jget error <"$dir/out" 2>/dev/null))" test "$cls" = "$want"
  # the class alone could come from an unrelated error: the server must have served its deviation
  check "$proto $name ($sec): the server served the scripted deviation" \
    grep -qE "\"event\": \"deviation\", \"conn\": [0-9]+, \"what\": \"$name\"" "$dir/record"
  check "$proto $name: within the deadline (${wall}s)" awk -v w="$wall" 'BEGIN{exit !(w < 11)}'
  check "$proto $name: no CPU spin (${user}+${sys}s)" awk -v u="$user" -v s="$sys" 'BEGIN{exit !(u + s < 3)}'
  # every case within max_check_memory (128M by default, 64M where set) + 32 MB
  local mem_mb=128 kv
  for kv in "${EXTRA_ENV[@]}"; do
    if [[ $kv == INBOXQ_MAX_CHECK_MEMORY=*M ]]; then mem_mb=${kv#*=}; mem_mb=${mem_mb%M}; fi
  done
  # (ASan's own shadow, redzones and quarantine come on top: 64 MB more there, and a small
  # quarantine, set below)
  local asan_mb=0
  [ "${IQ_SANITIZED:-0}" = 1 ] && asan_mb=64
  check "$proto $name: bounded memory (${rss} KB, max_check_memory ${mem_mb}M + 32 MB)" test "$rss" -lt $(((mem_mb + 32 + asan_mb) * 1024))
  if [ "$want" = ok ]; then
    # a deviation the check must live through: the mailbox arrives whole
    check "$proto $name: both messages stored" test "$(it_stored_count "$id")" -eq 2
  else
    check "$proto $name: nothing stored" test "$(it_stored_count "$id")" -eq 0
  fi
  if [ "$sec" != plain ]; then
    absent "$proto $name: no credential in clear" '"credential".*"tls": *false' "$dir/record"
  fi
  if [ "$sec" = starttls ]; then
    # once STARTTLS/STLS is sent, nothing more in clear (a LOGOUT used to follow a failed upgrade)
    check "$proto $name: not a byte in clear after STARTTLS" $PY -c 'import json, sys
seen = False
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "command" and not e.get("tls"):
        if seen:
            sys.exit("in clear after STARTTLS: " + e["line"])
        seen = e["line"].split(" ")[-1].upper() in ("STARTTLS", "STLS")' "$dir/record"
  fi
}

scenario imap starttls-missing starttls starttls_policy
scenario imap starttls-no starttls starttls_policy
scenario imap starttls-bad starttls starttls_policy
scenario imap starttls-inject starttls starttls_policy
scenario imap preauth starttls starttls_policy
scenario imap cap-tamper starttls auth
check "imap cap-tamper: CAPABILITY asked again inside TLS" grep -q '"capability_after_tls": true' "$IT_TMP/imap-cap-tamper-starttls/record"
absent "imap cap-tamper: no credential at all" '"event": "credential"' "$IT_TMP/imap-cap-tamper-starttls/record"
scenario imap literal-close plain protocol
scenario imap literal-close implicit protocol --implicit-tls
scenario imap endless-line plain size_limit
scenario imap huge-literal plain size_limit
scenario imap huge-literal implicit size_limit --implicit-tls
scenario imap drip plain timeout
# a server dripping a byte a second ends at the low-speed limit, not at the check's deadline
EXTRA_ENV=(INBOXQ_LOW_SPEED_LIMIT=100 INBOXQ_LOW_SPEED_TIME=2s)
scenario imap drip-after-login plain timeout
EXTRA_ENV=()
read -r wall _ < <(tail -n 1 "$IT_TMP/imap-drip-after-login-plain/time")
check "imap drip-after-login: ended by the low-speed limit (${wall}s, not the 8 s deadline)" awk -v w="$wall" 'BEGIN{exit !(w < 6)}'
check "imap drip-after-login: the error names low_speed_limit" grep -q low_speed_limit "$IT_TMP/imap-drip-after-login-plain/out"
# max_check_memory holds whatever the server announces: a body FETCH answered with 14 literals
# of 20 MiB (each within max_message), and a listing of a million lines (a check used to keep
# every parsed response of a command: 867 MB and 455 MB); peak RSS under max_check_memory + 32 MB
EXTRA_ENV=(INBOXQ_MAX_MESSAGE=32M INBOXQ_MAX_CHECK_MEMORY=64M INBOXQ_MAX_CHECK_BYTES=1G)
scenario imap fetch-flood plain size_limit
# the smallest budget (a quarter of 16M for the listing): the cap comes after ~100,000 lines, well
# within the deadline even on a loaded machine
EXTRA_ENV=(INBOXQ_MAX_CHECK_MEMORY=16M INBOXQ_MAX_CHECK_BYTES=1G)
scenario imap list-flood plain size_limit
EXTRA_ENV=()
# a message over 4 MB is fetched in ranges and streamed into PostgreSQL inside one COPY: a server
# closing in the middle of a range leaves nothing of it behind (the COPY is aborted, rolled back)
EXTRA_ENV=(INBOXQ_MAX_MESSAGE=16M)
scenario imap range-close plain protocol
EXTRA_ENV=()
# a TLS handshake (or a proxy's) that stalls ends after read_timeout (3 s), not at the check's
# deadline (8 s here, 10 min by default)
scenario imap tls-stall implicit timeout --implicit-tls
read -r wall _ < <(tail -n 1 "$IT_TMP/imap-tls-stall-implicit/time")
check "imap tls-stall: ended by read_timeout (${wall}s, not the 8 s deadline)" awk -v w="$wall" 'BEGIN{exit !(w < 6)}'
check "imap tls-stall: the error names read_timeout" grep -q read_timeout "$IT_TMP/imap-tls-stall-implicit/out"
# libetpan 1.9.4 crashed the worker on these (tests/fuzz/crashes/imap/segv-*); the line filter
# (lib/mail/imapline.c) cuts the codes out and the check goes on
scenario imap greeting-badcharset plain ok
scenario imap greeting-permflags plain ok
scenario imap select-permflags plain ok
# a literal in a shape RFC 3501 does not have is refused before libetpan allocates it
scenario imap literal-spaced plain protocol
scenario imap literal-spaced-huge plain protocol
scenario imap bye-after-login plain protocol
scenario pop3 stls-missing starttls starttls_policy
scenario pop3 stls-err starttls starttls_policy
scenario pop3 stls-inject starttls starttls_policy
scenario pop3 multiline-close plain protocol
scenario pop3 endless-line plain size_limit
scenario pop3 drip plain timeout
scenario pop3 no-uidl plain protocol
scenario pop3 greeting-err plain protocol
scenario pop3 no-capa plain ok
scenario pop3 retr-err plain protocol
# Every byte of every reply after login in a TLS record of its own: each read the client makes
# ends at a different byte, so every state of the POP3 multi-line reader (dot-stuffing, the
# terminating dot, line ends) meets a boundary. The messages must arrive byte for byte.
dir="$IT_TMP/pop3-split"; mkdir -p "$dir"
$PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto pop3 --scenario split --port 0 \
  --cert "$cert" --key "$key" --implicit-tls --record "$dir/record" --ready-file "$dir/port" \
  >/dev/null 2>&1 &
spid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
id=$(inboxq account add --name h-pop3-split --host 127.0.0.1 --port "$(cat "$dir/port")" \
  --protocol pop3 --credential "$cred" --secure yes --secure-type ssl --ignore-certificate yes)
out=$(it_check "$id")
kill $spid; wait $spid 2>/dev/null || true
want=$(cd "$IQ_SOURCE_DIR/tests/hostile" && $PY -c 'import hashlib, hostile_server as h
print(" ".join(sorted(hashlib.sha256(m["data"]).hexdigest() for m in h.MAILBOX)))')
got=$(it_sql "SELECT string_agg(encode(sha256(raw), 'hex'), ' ' ORDER BY encode(sha256(raw), 'hex')) FROM messages WHERE account_id = $id")
check "pop3 split: ok ($(jget error <<<"$out"))" test "$(jget outcome <<<"$out")" = ok
check "pop3 split: the server split its replies" grep -q '"what": "split"' "$dir/record"
check "pop3 split: both messages byte for byte (dot lines unstuffed)" test "$got" = "$want"

# The control: the same fixture without a deviation is fetched completely.
dir="$IT_TMP/normal"; mkdir -p "$dir"
$PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto imap --scenario normal --port 0 \
  --cert "$cert" --key "$key" --record "$dir/record" --ready-file "$dir/port" >/dev/null 2>&1 &
spid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
id=$(inboxq account add --name h-normal --host 127.0.0.1 --port "$(cat "$dir/port")" \
  --protocol imap --credential "$cred" --secure yes --secure-type tls --ignore-certificate yes)
out=$(it_check "$id")
kill $spid; wait $spid 2>/dev/null || true
check "imap normal: ok (control)" test "$(jget outcome <<<"$out")" = ok
check "imap normal: stored both canned messages" test "$(it_stored_count "$id")" -eq 2
absent "imap normal: no deviation served (control)" '"event": "deviation"' "$dir/record"
finish
