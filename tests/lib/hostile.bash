# SPDX-License-Identifier: MIT
# Helpers for integration tests that run the scripted server (tests/hostile/hostile_server.py)
# with a state file and judge what left the server (sourced after tests/integration/lib.sh;
# uses $cert, $key and $cred of the caller).
# shellcheck shell=bash

# server NAME PROTO SCENARIO [server args]: starts the scripted server in $IT_TMP/NAME; sets
# SPID, PORT, DIR. DIR/state is the server's --state-file (the mailbox, and what left it).
server() {
  DIR="$IT_TMP/$1"
  mkdir -p "$DIR"
  $PY "$IQ_SOURCE_DIR/tests/hostile/hostile_server.py" --proto "$2" --scenario "$3" --port 0 \
    --cert "$cert" --key "$key" --record "$DIR/record" --ready-file "$DIR/port" \
    --state-file "$DIR/state" "${@:4}" >/dev/null 2>"$DIR/server.err" &
  SPID=$!
  for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.05; done
  PORT=$(cat "$DIR/port")
}
stop_server() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
# account NAME PROTO [account args]: an account on the server just started; prints the id
account() {
  inboxq account add --name "$1" --host 127.0.0.1 --port "$PORT" --protocol "$2" \
    --credential "$cred" --secure no "${@:3}"
}
# state FIELD: the server's mailbox now, one FIELD (uid, uidl, sha256, flags) a line
state() { $PY -c 'import json, sys
for m in json.load(open(sys.argv[1]))["mailbox"]: print(m[sys.argv[2]])' "$DIR/state" "$1"; }
left() { state uid | wc -l; }
# deviated NAME: the server recorded serving its scripted deviation
deviated() { grep -qE "\"event\": \"deviation\", \"conn\": [0-9]+, \"what\": \"$1\"" "$DIR/record"; }
# commands REGEX: how many client commands (IMAP tag dropped) match REGEX
commands() {
  $PY - "$DIR/record" "$1" <<'EOF'
import json, re, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "command":
        text = e["line"].split(" ", 1)[-1] if re.match(r"^[A-Za-z0-9]+ [A-Z]", e["line"]) else e["line"]
        n += bool(re.search(sys.argv[2], text))
print(n)
EOF
}
# lossless ID: every message that left the server (also one that arrived during the test) is
# stored for account ID (by content), and nothing is stored twice
lossless() {
  local gone dup
  gone=$($PY - "$DIR/state" <(it_stored_hashes "$1") <<'EOF'
import json, sys
gone = {m["sha256"] for m in json.load(open(sys.argv[1]))["gone"]}
stored = set(open(sys.argv[2]).read().split())
print(len(gone - stored))
EOF
)
  dup=$(it_sql "SELECT count(*) FROM (SELECT sha256 FROM messages WHERE account_id = $1 GROUP BY 1 HAVING count(*) > 1) d")
  [ "$gone" = 0 ] && [ "$dup" = 0 ] || { echo "# account $1: $gone message(s) gone from the server unstored, $dup stored twice" >&2; return 1; }
}
