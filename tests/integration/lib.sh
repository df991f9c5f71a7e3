# SPDX-License-Identifier: MIT
# Shared helpers for the integration tests (sourced). The harness is already running: CTest
# starts it once per run (tests/harness/start) and sets INBOXQ_TEST_DIR, IQ_BIN_DIR, IQ_SOURCE_DIR.
# INBOXQ_TEST_KAFKA=real runs a test against the harness's real 3-broker Kafka cluster
# (tests/harness/kafka-cluster; CTest's it.real.* tests) instead of the dev broker.
set -euo pipefail
: "${INBOXQ_TEST_DIR:?run through ctest, or start the harness and export INBOXQ_TEST_DIR}"
# shellcheck disable=SC1091
source "$INBOXQ_TEST_DIR/env"
IQ_BIN_DIR=${IQ_BIN_DIR:-$PWD/build/bin}
IQ_SOURCE_DIR=${IQ_SOURCE_DIR:-$PWD}
PY=/usr/bin/python3
export PATH="$IQ_BIN_DIR:$PATH"
# shellcheck source=tests/lib/skip.bash
source "$IQ_SOURCE_DIR/tests/lib/skip.bash"

IT_KAFKA=${INBOXQ_TEST_KAFKA:-dev}
case $IT_KAFKA in
  dev) ;;
  real)
    : "${INBOXQ_TEST_KAFKA_CLUSTER_BROKERS:?INBOXQ_TEST_KAFKA=real: the harness runs no Kafka cluster (tests/harness/start kafka-cluster)}"
    export INBOXQ_KAFKA_BROKERS=$INBOXQ_TEST_KAFKA_CLUSTER_BROKERS
    echo "# on the real Kafka cluster at $INBOXQ_KAFKA_BROKERS" ;;
  *) echo "INBOXQ_TEST_KAFKA must be dev or real, not '$IT_KAFKA'" >&2; exit 1 ;;
esac

IT_NAME=$(basename "$0" .sh)
IT_TMP=$(mktemp -d "/tmp/inboxq-it-$IT_NAME.XXXXXX")
chmod 755 "$IT_TMP"
IT_FAILS=0
IT_PASSES=0
IT_SKIPS=0
IT_FINISHED=
trap it_cleanup EXIT
# Every failure is also written here, so a fail inside $(...) or a pipeline still counts.
IT_FAIL_FILE=$IT_TMP/.failures
IT_SKIP_FILE=$IT_TMP/.skips
: >"$IT_FAIL_FILE"
: >"$IT_SKIP_FILE"

# Sanitizers (in a sanitizer build) abort on the first error, whatever the caller's options say,
# and write their reports into files of this test, wherever a process's stderr goes: a report
# fails the test even when the process's output was discarded or the test otherwise passed.
IT_SANITIZER_LOG=$IT_TMP/sanitizer
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
  export "$v=${!v:+${!v}:}halt_on_error=1:abort_on_error=1:log_path=$IT_SANITIZER_LOG"
done
# glibc's fatal messages (heap corruption, fortify) go to stderr, not to the terminal
export LIBC_FATAL_STDERR_=1

pass() { IT_PASSES=$((IT_PASSES + 1)); echo "ok - $*"; }
fail() {
  IT_FAILS=$((IT_FAILS + 1))
  printf '%s\n' "$*" >>"$IT_FAIL_FILE"
  echo "FAIL - $*" >&2
}
# it_skip ID REASON: something this test could not check here. Printed and counted; the test
# then exits 77 (ctest: "Skipped") unless something failed. INBOXQ_TEST_NO_SKIP=1 (CI) makes a
# skip a failure unless ID is in INBOXQ_TEST_ALLOW_SKIP (see tests/lib/skip.bash).
it_skip() {
  local id=$1; shift
  if ! iq_skip_allowed "$id"; then
    fail "skipped ($id), and INBOXQ_TEST_NO_SKIP=1 forbids it: $*"
    return
  fi
  IT_SKIPS=$((IT_SKIPS + 1))
  printf '%s: %s\n' "$id" "$*" >>"$IT_SKIP_FILE"
  iq_skip_note "it.$IT_NAME" "$id" "$*"
}
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# absent DESCRIPTION PATTERN FILE: passes when FILE exists and no line matches the extended
# regular expression PATTERN (a missing file is a failure, not an absence)
absent() {
  if [ ! -f "$3" ]; then fail "$1 (no file $3 to look in)"
  elif grep -qE -- "$2" "$3"; then fail "$1 (found: $(grep -m1 -E -- "$2" "$3" | cut -c1-200))"
  else pass "$1"; fi
}
# What a process prints when it dies of a bug: sanitizer reports, assertions, glibc's heap and
# fortify checks, and inboxq's own abort messages.
IT_CRASH_RE='^==[0-9]+==(ERROR|WARNING)|^(WARNING|SUMMARY|ERROR): (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error: |: Assertion .* failed\.|^(double free|free\(\): |malloc\(\): |realloc\(\): |corrupted |munmap_chunk\(\)|malloc_consolidate\(\))|\*\*\* [a-z ]+ detected \*\*\*|^Fatal glibc error|^inboxq: (out of memory|size overflow|metrics misuse|bad built-in default)'
# Fails the test for every sanitizer report file and every log or stderr capture in $IT_TMP
# (*.log, *.err, any depth) holding a crash report; prints the report.
it_scan_crashes() {
  local f at
  while IFS= read -r f; do
    [ -s "$f" ] || continue
    if [[ $f == "$IT_SANITIZER_LOG".* ]]; then
      at=1
    else
      at=$(grep -n -a -m1 -E "$IT_CRASH_RE" "$f" | cut -d: -f1) || true
      [ -n "$at" ] || continue
    fi
    fail "crash report in ${f#"$IT_TMP"/} (line $at)"
    echo "--- crash report in ${f#"$IT_TMP"/} (line $at)" >&2
    tail -n "+$at" "$f" | head -n 60 >&2
  done < <(find "$IT_TMP" -type f \( -name '*.log' -o -name '*.err' -o -path "$IT_SANITIZER_LOG.*" \) | sort)
}
# finish: stops what the test started, looks for crash reports, prints the summary; the test's
# exit status: 0 all passed, 77 nothing failed but something was skipped, 1 otherwise.
finish() {
  it_stop_all
  it_scan_crashes
  IT_FINISHED=1
  IT_FAILS=$(wc -l <"$IT_FAIL_FILE")
  IT_SKIPS=$(wc -l <"$IT_SKIP_FILE")
  echo "$IT_PASSES passed, $IT_FAILS failed, $IT_SKIPS skipped"
  if [ "$IT_SKIPS" -gt 0 ]; then sed 's/^/skipped: /' "$IT_SKIP_FILE"; fi
  if [ "$IT_FAILS" -gt 0 ]; then
    # the logs of what the test started go with $IT_TMP: show the ends of every log while they
    # exist (crash reports were printed above)
    local f
    for f in "$IT_TMP"/*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 25 "$f" >&2
    done
    return 1
  fi
  [ "$IT_PASSES" -gt 0 ] || { echo "no check passed: the test proved nothing" >&2; return 1; }
  if [ "$IT_SKIPS" -gt 0 ]; then exit 77; fi
}

# A fresh database for this test script, migrated; exports INBOXQ_PG_DSN.
it_fresh_db() {
  local db="it_${IT_NAME//[^a-z0-9]/_}_$$"
  PGOPTIONS='-c client_min_messages=warning' psql -q "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER inboxq" >/dev/null
  # the harness gives a URI (postgresql://u:p@h:port/db) or a key=value DSN
  if [[ $INBOXQ_PG_DSN == postgres*://* ]]; then
    INBOXQ_PG_DSN=$(sed -E "s#^([^/]*//[^/]*)/[^?]*#\1/$db#" <<<"$INBOXQ_PG_DSN")
  else
    INBOXQ_PG_DSN=$(sed -E "s/dbname=[^ ]+/dbname=$db/" <<<"$INBOXQ_PG_DSN")
  fi
  [[ $INBOXQ_PG_DSN == *"$db"* ]] || { echo "cannot point the DSN at $db" >&2; exit 1; }
  # tests side by side share one Redis: each database gets its own key prefix
  export INBOXQ_PG_DSN IT_DB=$db INBOXQ_REDIS_KEY_PREFIX="inboxq:$db:"
  inboxq migrate >/dev/null
}
# psql on the test's database, tuples only.
it_sql() { psql -qtAX "$INBOXQ_PG_DSN" -c "$1"; }

# A master key for the vault; exports INBOXQ_MASTER_KEY_FILE.
it_master_key() {
  export INBOXQ_MASTER_KEY_FILE="$IT_TMP/master.key"
  [ -f "$INBOXQ_MASTER_KEY_FILE" ] || inboxq keygen --output "$INBOXQ_MASTER_KEY_FILE" >/dev/null
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# --- mail helpers ---------------------------------------------------------------------------

# Writes N distinct RFC 5322 messages (CRLF line ends, as Dovecot serves them) into USER's
# Maildir. Each gets a unique Message-ID and body.
it_seed() {
  local user=$1 n=$2 i f
  for i in $(seq 1 "$n"); do
    f="$IT_TMP/msg-$user-$i-$RANDOM$RANDOM.eml"
    {
      printf 'From: Sender %s <sender%s@example.org>\r\n' "$i" "$i"
      printf 'To: %s@example.org\r\n' "$user"
      printf 'Subject: =?UTF-8?B?%s?=\r\n' "$(printf 'Olá %s %s' "$IT_NAME" "$i" | base64 -w0)"
      printf 'Date: %s\r\n' "$(date -R)"
      printf 'Message-ID: <%s.%s.%s@inboxq.test>\r\n' "$IT_NAME" "$i" "$RANDOM$RANDOM"
      printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
      printf 'Body %s of %s for %s.\r\n.leading dot line\r\n\r\n' "$i" "$n" "$user"
      head -c $((200 + RANDOM % 2000)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
    } >"$f"
    sha256sum "$f" | awk '{print $1}' >>"$IT_TMP/delivered-$user"
    "$IQ_SOURCE_DIR/tests/harness/deliver" --dir "$INBOXQ_TEST_DIR" "$user" "$f" >/dev/null
  done
}

# Sorted SHA-256 of every message file in USER's Maildir (what the server holds).
it_server_hashes() {
  local md="$INBOXQ_TEST_MAILDIR_ROOT/$1/Maildir"
  find "$md/new" "$md/cur" -type f -exec sha256sum {} + 2>/dev/null | awk '{print $1}' | sort
}
it_server_count() { it_server_hashes "$1" | wc -l; }
# Empties USER's Maildir (a clean slate for tests that delete).
it_empty_mailbox() {
  local md="$INBOXQ_TEST_MAILDIR_ROOT/$1/Maildir"
  find "$md/new" "$md/cur" -type f -delete 2>/dev/null || true
}
# Sorted SHA-256 of every message stored for account ID.
it_stored_hashes() { it_sql "SELECT encode(sha256, 'hex') FROM messages WHERE account_id = $1 ORDER BY 1"; }
it_stored_count() { it_sql "SELECT count(*) FROM messages WHERE account_id = $1"; }

# it_credential NAME USER PASSWORD -> prints the id
it_credential() {
  printf '%s' "$3" | inboxq credential add --name "$1" --username "$2" --password-stdin
}
# it_check ID [env assignments...] -> JSON result on stdout. A failed check is a result, not an
# error of the script; but a check that crashed (killed by a signal) or printed no JSON result
# fails the test, even from inside $(...). stderr: $IT_TMP/check-ID.err, the exit status:
# $IT_TMP/check-ID.rc.
it_check() {
  local id=$1 rc=0 out; shift
  out=$(env "$@" inboxq check "$id" --direct --format json 2>"$IT_TMP/check-$id.err") || rc=$?
  echo "$rc" >"$IT_TMP/check-$id.rc"
  if [ "$rc" -gt 128 ] && [ "$rc" -ne 137 ]; then
    fail "inboxq check $id died of signal $((rc - 128)); see check-$id.err"
  elif ! $PY -c 'import json,sys; json.load(sys.stdin)["outcome"]' <<<"$out" 2>/dev/null; then
    fail "inboxq check $id (exit $rc) printed no JSON result: $(head -c 300 "$IT_TMP/check-$id.err")"
  fi
  printf '%s\n' "$out"
}
# jq-less JSON field access with python
jget() { $PY -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k] if v is not None else None
print("" if v is None else v)' "$1"; }

# --- cluster helpers ------------------------------------------------------------------------

# it_kafka_topics NAME...: the topics a test uses exist. The dev broker creates any topic a
# client names; the real cluster, like production, only those created (replication factor 3,
# min.insync.replicas 2, INBOXQ_TEST_KAFKA_PARTITIONS partitions).
it_kafka_topics() {
  [ "$IT_KAFKA" = real ] || return 0
  "$IQ_SOURCE_DIR/tests/harness/kafka-cluster" --dir "$INBOXQ_TEST_DIR" topics "$@" >/dev/null
}

# Private topics and consumer group for this script, so tests running side by side never see
# each other's jobs; fast group timing for the dev broker (see harness-notes).
it_private_kafka() {
  local tag="it.$IT_NAME.$$"
  export INBOXQ_TOPIC_CHECK="$tag.check" INBOXQ_TOPIC_REPORT="$tag.report"
  export INBOXQ_TOPIC_NEW_MAIL="$tag.new-mail" INBOXQ_TOPIC_DEAD="$tag.dead"
  export INBOXQ_CONSUMER_GROUP="it-$IT_NAME-$$"
  export INBOXQ_KAFKA_SESSION_TIMEOUT=6s INBOXQ_KAFKA_FETCH_WAIT=10ms
  it_kafka_topics "$INBOXQ_TOPIC_CHECK" "$INBOXQ_TOPIC_REPORT" "$INBOXQ_TOPIC_NEW_MAIL" "$INBOXQ_TOPIC_DEAD"
}

IT_PIDS=()
IT_PID_NAMES=()
# it_spawn NAME COMMAND...: runs COMMAND in the background (log in $IT_TMP/NAME.log), stopped at
# exit; its pid is in IT_LAST_PID. Not in $(...): a subshell's IT_PIDS is lost, and the process
# would outlive the test.
it_spawn() {
  local name=$1; shift
  "$@" >>"$IT_TMP/$name.log" 2>&1 </dev/null &
  IT_LAST_PID=$!
  IT_PIDS+=("$IT_LAST_PID")
  IT_PID_NAMES+=("$name")
}
# True when PID is a child of ours that already exited (a zombie not yet waited for).
it_exited() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }
  [ "${stat%% *}" = Z ]
}
# Stops what it_spawn started (SIGTERM, then waits). A process that died of a crash signal
# (abort, segfault, ...), before or while stopping, fails the test: a test must not pass over a
# worker that crashed while the others finished its jobs. So does one that left by itself
# with a non-zero status (a sanitizer that exits instead of aborting). SIGKILL (137) is what
# tests do on purpose; 127 is a process the test already waited for itself.
it_stop_all() {
  local i p rc
  local -a gone=()
  for i in "${!IT_PIDS[@]}"; do
    if it_exited "${IT_PIDS[$i]}"; then gone[i]=1; else kill "${IT_PIDS[$i]}" 2>/dev/null || true; fi
  done
  for i in "${!IT_PIDS[@]}"; do
    rc=0
    wait "${IT_PIDS[$i]}" 2>/dev/null || rc=$?
    case $rc in
      132 | 133 | 134 | 135 | 136 | 139)
        fail "${IT_PID_NAMES[$i]} (pid ${IT_PIDS[$i]}) died of signal $((rc - 128)); see its log" ;;
      0 | 127 | 137 | 143) ;;
      *) if [ -n "${gone[i]:-}" ]; then
           fail "${IT_PID_NAMES[$i]} (pid ${IT_PIDS[$i]}) exited by itself with status $rc; see its log"
         fi ;;
    esac
  done
  IT_PIDS=()
  IT_PID_NAMES=()
}
# The EXIT trap (tests with their own trap call it last). INBOXQ_TEST_KEEP=1 keeps the temp dir
# (logs, spools) of a test that failed or ended early.
it_cleanup() {
  local fails
  it_stop_all
  # a test that ended before finish (set -e): its crash reports still show, and still fail it
  [ -n "$IT_FINISHED" ] || it_scan_crashes
  fails=$(wc -l <"$IT_FAIL_FILE" 2>/dev/null || echo 1)
  if [ -n "${INBOXQ_TEST_KEEP:-}" ] && { [ "$fails" -gt 0 ] || [ -z "$IT_FINISHED" ]; }; then
    echo "# kept $IT_TMP" >&2
  else
    rm -rf "$IT_TMP"
  fi
  # a failure found only now still fails the test (the exit status is otherwise left alone)
  if [ "$fails" -gt 0 ]; then exit 1; fi
}

# it_wait_for SECONDS DESCRIPTION COMMAND...: polls until COMMAND succeeds
it_wait_for() {
  local secs=$1 what=$2; shift 2
  local until=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$until" ]; do
    if "$@"; then pass "$what"; return 0; fi
    sleep 0.5
  done
  fail "$what (not within ${secs}s)"
  return 1
}

# Consumes a whole topic from the beginning as an outside client; one message per line.
it_kcat_all() { kcat -b "$INBOXQ_KAFKA_BROKERS" -C -t "$1" -o beginning -e -q -u 2>/dev/null || true; }

# Validates JSON lines (stdin) against schemas/json/NAME.json; prints the number validated.
it_validate() {
  /usr/bin/python3 -c '
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        validator.validate(json.loads(line))
        n += 1
print(n)
' "$IQ_SOURCE_DIR/schemas/json/$1.json"
}
