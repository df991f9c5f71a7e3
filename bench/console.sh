#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark of `inboxq serve` on N accounts (default 100,000): the report's first page and a
# filtered page (p50/p95 over 200 requests each, one client, loopback: the time is the
# server's plus a few hundred microseconds), account reads per second from 8 clients for 10 s,
# and the CSV export of every account (time, size, serve's peak RSS during it). Prints a Markdown
# report.
# Usage: bench/console.sh [--accounts N] [--bin DIR]
# Needs the test harness's PostgreSQL: tests/harness/start pg, with INBOXQ_TEST_DIR set.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${IQ_BIN_DIR:-$HERE/../build/bin}
N=100000
while (($#)); do
	case $1 in
	--accounts) N=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	-h | --help) sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "console.sh: unknown argument '$1'" >&2; exit 64 ;;
	esac
done
TEST_DIR=${INBOXQ_TEST_DIR:-/tmp/inboxq-harness}
[[ -f $TEST_DIR/env ]] || { echo "console.sh: no harness at $TEST_DIR; run tests/harness/start pg" >&2; exit 69; }
# shellcheck disable=SC1091
source "$TEST_DIR/env"
DB=iq_bench_console_$$
PORT=$((${INBOXQ_TEST_PG_PORT:-27100} + 88))
cleanup() {
	[[ -n ${SERVE:-} ]] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null
	psql "$INBOXQ_PG_ADMIN_DSN" -Xq -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$INBOXQ_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB OWNER inboxq" >/dev/null
export INBOXQ_PG_DSN="${INBOXQ_PG_DSN%/*}/$DB"
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$INBOXQ_PG_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
"$BIN/inboxq" migrate >/dev/null
CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('bench', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f', '\\x00',
	'bench') RETURNING id")
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
	keep_copy, auto_check, active, last_status)
	SELECT format('account %s', g), 'mail.example.test', 993, 'imap', $CRED, g % 3 <> 0,
	CASE WHEN g % 3 <> 0 THEN 'ssl' END, g % 2 = 0, g % 5 <> 0, g % 7 <> 0, 'ok'
	FROM generate_series(1, $N) g" >/dev/null
sql "ANALYZE mail_accounts" >/dev/null
PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s' "$PW" | "$BIN/inboxq" operator add bench --role auditor >/dev/null
"$BIN/inboxq" serve --listen "127.0.0.1:$PORT" 2>/dev/null &
SERVE=$!
for _ in $(seq 1 40); do curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null && break; sleep 0.25; done

echo "## inboxq serve benchmark"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $(sql 'SHOW server_version'), $N accounts, $("$BIN/inboxq" --version)."
echo
/usr/bin/python3 - "$PORT" "$PW" "$N" "$SERVE" <<'PY'
import http.client, json, sys, threading, time, random
port, pw, n, serve_pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def status_kb(key):
    for line in open("/proc/%s/status" % serve_pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("POST", "/api/v1/session", json.dumps({"name": "bench", "password": pw}), {"Content-Type": "application/json"})
r = c.getresponse(); r.read()
cookie = r.getheader("Set-Cookie").split(";")[0]
def get(conn, path):
    conn.request("GET", path, headers={"Cookie": cookie})
    resp = conn.getresponse(); body = resp.read()
    assert resp.status == 200, (path, resp.status, body[:200])
    return body
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))]
print("| request | p50 | p95 |")
print("|---|---:|---:|")
for label, path in (("first report page", "/api/v1/accounts"),
                    ("filtered page (name, secure, active)", "/api/v1/accounts?name=account%2099&secure=yes&active=yes&page=2"),
                    ("a page by cursor (after=, mid-table)", "/api/v1/accounts?after=%d" % (n // 2)),
                    ("one account (show)", "/api/v1/accounts/%d" % (n // 2))):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    get(conn, path)
    ts = []
    for _ in range(200):
        t0 = time.perf_counter(); get(conn, path); ts.append((time.perf_counter() - t0) * 1000)
    print("| %s | %.1f ms | %.1f ms |" % (label, pct(ts, 0.5), pct(ts, 0.95)))
done = [0] * 8
stop = time.time() + 10
def worker(i):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    while time.time() < stop:
        get(conn, "/api/v1/accounts/%d" % random.randint(1, n)); done[i] += 1
threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print()
print("Account reads (GET /api/v1/accounts/{id}, 8 clients, 10 s): %.0f/s." % (sum(done) / 10))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
rss = status_kb("VmRSS")
open("/proc/%s/clear_refs" % serve_pid, "w").write("5")  # peak RSS := RSS
t0 = time.perf_counter(); body = get(conn, "/api/v1/accounts.csv"); dt = time.perf_counter() - t0
print("CSV export of all %d accounts: %.2f s, %.1f MB (streamed from a server-side cursor); serve's "
      "peak RSS during it: +%d kB over %d kB." % (n, dt, len(body) / 1e6, status_kb("VmHWM") - rss, rss))
PY
echo
echo "serve's peak RSS since the CSV export: $(awk '/VmHWM/ {print $2, $3}' "/proc/$SERVE/status") (a sign-in's argon2id takes 64 MiB while it runs)."
