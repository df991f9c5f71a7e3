#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ and the dictionaries under
tests/fuzz/dict/ (re-run after editing; the files are committed, so a fuzz run needs no Python). Each seed is a realistic exchange; the network
targets' first byte is their option byte (see each fuzz_*.c)."""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    SEEDS.setdefault(target, {})[name] = data


def crlf(*lines):
    return "".join(line + "\r\n" for line in lines)


# ---- IMAP: option byte, then the server's side; libetpan tags our commands 1, 2, 3... ----
GREETING_CAPS = ("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                 "AUTH=PLAIN] Dovecot ready.")
SELECT = [
    r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)",
    r"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted.",
    "* 3 EXISTS",
    "* 0 RECENT",
    "* OK [UNSEEN 2] First unseen.",
    "* OK [UIDVALIDITY 1700000000] UIDs valid",
    "* OK [UIDNEXT 4] Predicted next UID",
]
seed("imap", "probe-sasl-ir", "@" + crlf(
    GREETING_CAPS,
    "1 OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE SORT UIDPLUS MOVE LITERAL+] Logged in",
    *SELECT,
    "2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).",
    "* 1 FETCH (UID 1 RFC822.SIZE 1234)",
    "* 2 FETCH (UID 2 RFC822.SIZE 567)",
    "* 3 FETCH (RFC822.SIZE 89 UID 3)",
    "3 OK Fetch completed (0.001 + 0.000 secs).",
    "* BYE Logging out",
    "4 OK Logout completed."))
seed("imap", "probe-capability-login", "@" + crlf(
    "* OK IMAP server ready",
    "* CAPABILITY IMAP4rev1 STARTTLS AUTH=LOGIN",
    "1 OK CAPABILITY completed",
    "2 OK LOGIN completed",
    "* 0 EXISTS",
    "* OK [UIDVALIDITY 42] x",
    "3 OK [READ-ONLY] SELECT completed",
    "4 OK bye"))
seed("imap", "probe-login-refused", "@" + crlf(
    "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready",
    "1 NO [AUTHENTICATIONFAILED] Authentication failed.",
    "2 NO [AUTHENTICATIONFAILED] Authentication failed."))
seed("imap", "probe-preauth", "@" + crlf("* PREAUTH [CAPABILITY IMAP4rev1] logged in already"))
seed("imap", "starttls-ok", "A" + crlf(
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
    "1 OK Begin TLS negotiation now."))
seed("imap", "starttls-injected", "A" + crlf(
    "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
    "1 OK Begin TLS negotiation now.",
    "* CAPABILITY IMAP4rev1 AUTH=PLAIN"))
seed("imap", "probe-literal-size", "@" + crlf(
    GREETING_CAPS,
    "1 OK Logged in",
    *SELECT,
    "2 OK [READ-WRITE] Select completed.",
    "* 1 FETCH (UID 7 RFC822.SIZE 4000000000)",
    "* 2 FETCH (UID {1}") + "8" + crlf(" RFC822.SIZE 10)", "3 OK done", "4 OK bye"))
BODY1 = crlf("From: Alice <alice@example.org>", "To: bob@example.org",
             "Subject: =?UTF-8?B?SGVsbG8gd29ybGQ=?=", "", "Hi Bob.")
seed("imap", "commands-full-check", "B" + crlf(
    "* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready",
    "* CAPABILITY IMAP4rev1 UIDPLUS MOVE IDLE AUTH=PLAIN",
    "1 OK Capability completed.",
    "2 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in",
    *SELECT,
    "3 OK [READ-WRITE] Select completed.",
    "* 1 FETCH (UID 1 RFC822.SIZE %d)" % len(BODY1),
    "* 2 FETCH (UID 2 RFC822.SIZE 12)",
    "4 OK Fetch completed.",
    "* 1 FETCH (UID 1 BODY[] {%d}" % len(BODY1)) + BODY1 + crlf(
    ")",
    "* 2 FETCH (UID 2 BODY[] \"Subject: x\\r\\n\" FLAGS (\\Seen))",
    "5 OK Fetch completed.",
    "* 3 FETCH (UID 3 BODY[]<0> {5}") + "abcde" + crlf(
    ")",
    "6 OK Fetch completed.",
    "7 OK Store completed.",
    "* SEARCH 1 3",
    "8 OK Search completed (1 msgs in 0.000 secs).",
    "* VANISHED 1",
    "* 1 EXPUNGE",
    "9 OK Expunge completed.",
    "* 2 EXPUNGE",
    "10 OK Expunge completed.",
    "* BYE Logging out",
    "11 OK Logout completed."))
seed("imap", "commands-bodystructure", "F" + crlf(
    "* OK ready",
    "1 OK done",
    "2 OK done",
    "* 1 EXISTS",
    "3 OK [READ-WRITE] done",
    '* 1 FETCH (UID 5 FLAGS (\\Seen $Forwarded) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
    'ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary" '
    '(("Terry Gray" NIL "gray" "cac.washington.edu")) NIL NIL '
    '((NIL NIL "imap" "cac.washington.edu")) NIL NIL NIL "<B27397-0100000@cac.washington.edu>") '
    'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92) '
    'RFC822.SIZE 44827)',
    "4 OK done",
    "* 1 FETCH (UID 5 BODY[] NIL)",
    "5 BAD no",
    "6 NO no",
    "7 OK done",
    "* SEARCH",
    "8 OK done",
    "9 BAD [UNKNOWN-CTE] x",
    "10 OK done",
    "11 OK done"))

# ---- POP3: option byte, then the server's side ----
seed("pop3", "probe-capa-uidl-list", "@" + crlf(
    "+OK Dovecot ready.",
    "+OK",
    "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN",
    ".",
    "+OK",
    "+OK Logged in.",
    "+OK",
    "1 000000015a8b7c2e", "2 000000025a8b7c2e", "3 whatever-uid.with.dots",
    ".",
    "+OK 3 messages:",
    "1 1234", "2 567", "3 89",
    ".",
    "+OK Logging out."))
seed("pop3", "probe-no-capa-empty", "@" + crlf(
    "+OK POP3 server ready",
    "-ERR unknown command",
    "+OK user accepted",
    "+OK pass accepted",
    "+OK",
    ".",
    "+OK 0 messages",
    ".",
    "+OK bye"))
seed("pop3", "apop", "B" + crlf(
    "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
    "+OK", "UIDL", "TOP", ".",
    "+OK maildrop has 1 message (369 octets)",
    "+OK", "1 QhdPYR:00WBw1Ph7x7", ".",
    "+OK", "1 369", ".",
    "+OK"))
seed("pop3", "dot-stuffing", "@" + crlf(
    "+OK ready", "+OK", "UIDL", "..stuffed", ".\r", ".", "+OK", "+OK",
    "+OK", "1 a", "2 b", "..", ".",
    "+OK", "1 10 extra", "2 x", "bogus", ".", "+OK"))
seed("pop3", "bad-uidl", "@" + crlf(
    "+OK ready", "+OK", "UIDL", ".", "+OK", "+OK", "+OK", "0 x", "."))
seed("pop3", "stls", "A" + crlf("+OK ready", "+OK", "STLS", "UIDL", ".", "+OK Begin TLS"))
seed("pop3", "stls-refused", "A" + crlf("+OK ready", "+OK", "STLS", ".", "-ERR not now"))
seed("pop3", "auth-refused", "@" + crlf("+OK ready", "-ERR", "+OK", "-ERR [AUTH] bad password"))

# ---- proxies: option byte, then the proxy's replies, then the mail server's first bytes ----
IMAP_HELLO = "* OK [CAPABILITY IMAP4rev1] ready\r\n"
seed("proxy", "socks5-ok-name", b"\x00" + b"\x05\x00" + b"\x05\x00\x00\x01\xc0\x00\x02\x01\x03\xe1"
     + IMAP_HELLO.encode())
seed("proxy", "socks5-auth-ok-ipv6", b"\x0a" + b"\x05\x02" + b"\x01\x00"
     + b"\x05\x00\x00\x04" + bytes(15) + b"\x01" + b"\x03\xe1" + IMAP_HELLO.encode())
seed("proxy", "socks5-bound-domain", b"\x04" + b"\x05\x00" + b"\x05\x00\x00\x03\x0bproxy.local\x04\x38"
     + b"+OK POP3 ready\r\n")
seed("proxy", "socks5-refused", b"\x00" + b"\x05\x00" + b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
seed("proxy", "socks5-no-method", b"\x02" + b"\x05\xff")
seed("proxy", "socks5-bad-password", b"\x02" + b"\x05\x02" + b"\x01\x01")
seed("proxy", "socks5-http-answer", b"\x00" + b"HTTP/1.1 400 Bad Request\r\n\r\n")
seed("proxy", "http-200", "\x01" + crlf("HTTP/1.1 200 Connection established", "") + IMAP_HELLO)
seed("proxy", "http-200-headers-auth", "\x03" + crlf(
    "HTTP/1.0 200 OK", "Proxy-Agent: tinyproxy/1.11.1", "Date: Mon, 01 Jan 2026 00:00:00 GMT", "")
    + "+OK POP3 ready\r\n")
seed("proxy", "http-407", "\x01" + crlf(
    "HTTP/1.1 407 Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="proxy"',
    "Content-Length: 0", ""))
seed("proxy", "http-403-ipv6", "\x0d" + crlf("HTTP/1.1 403 Forbidden", "", "denied"))
seed("proxy", "http-bare-lf", "\x05" + "HTTP/1.1 200 OK\nX: y\n\n" + IMAP_HELLO)
seed("proxy", "http-not-http", "\x01" + "\x05\x00")

# ---- mail headers ----
seed("mailparse", "encoded-words", crlf(
    "Return-Path: <alice@example.org>",
    "Received: from mx.example.org (mx.example.org [192.0.2.1])",
    "\tby mail.example.net with ESMTPS id 123; Tue, 01 Apr 2025 10:00:00 +0000",
    "From: =?UTF-8?Q?Andr=C3=A9_M=C3=BCller?= <andre@example.org>",
    "To: bob@example.net, \"Carol (work)\" <carol@example.net>, Team: dave@example.net,",
    " eve@example.net;",
    "Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=",
    " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
    "Date: Tue, 1 Apr 2025 12:34:56 +0200 (CEST)",
    "Message-ID: <20250401123456.ABC123@mail.example.org>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Body text."))
seed("mailparse", "obsolete", "From: bob@example.net (Bob (the builder))\n"
     "Subject: plain  text\twith   blanks\n"
     "Date: 1 Jan 99 00:00 EST\n"
     "Message-Id:   <x@y>  \n"
     "To: undisclosed-recipients:;\n\n")
seed("mailparse", "latin1-raw", b"From: \xe9t\xe9 <ete@example.org>\r\nSubject: caf\xe9 \xff\xfe\r\n"
     b"Date: Sun, 29 Feb 2032 23:59:60 -1159\r\n\r\n")
seed("mailparse", "nested-comments", "From: " + "(" * 40 + "x" + ")" * 40 + " a@b.c\r\n"
     "Subject: " + "(" * 40 + "\r\n\r\n")
seed("mailparse", "no-blank-line", "Subject: only headers\r\nFrom: a@b\r\nX-Bad header\r\nTo: c@d")

# ---- job JSON (schemas/json examples) ----
seed("jobs", "check-job", '{"schema":"inboxq.check_job.v1","job_id":"7f0d3c4e-9a51-4b53-8f57-'
     '2f3a8f1f7c0e","account_id":42,"requested_at":"2026-03-01T08:00:00.123Z","requested_by":'
     '"scheduler","reason":"scheduled"}')
seed("jobs", "check-job-retry", '{"schema":"inboxq.check_job.v1","job_id":"7F0D3C4E-9A51-4B53-8F57-'
     '2F3A8F1F7C0E","account_id":9007199254740993,"requested_at":"2026-03-01T08:00:00Z",'
     '"requested_by":"cli:alice","reason":"retry","attempt":3,"not_before":'
     '"2026-03-01T08:00:20.5Z"}')
seed("jobs", "report-job", '{"schema":"inboxq.report_job.v1","job_id":"0b4f0c8e-2b8a-4c1e-9d7e-'
     '5c2b1a0f9e8d","report_id":7,"format":"pdf","lang":"pt-BR","filters":{"name":"Suporte",'
     '"secure":true,"auto_check":null,"active":false},"schedule_id":3,"requested_at":'
     '"2026-03-01T06:00:00Z","requested_by":"scheduler"}')
seed("jobs", "report-job-no-filters", '{"schema":"inboxq.report_job.v1","job_id":"0b4f0c8e-2b8a-'
     '4c1e-9d7e-5c2b1a0f9e8d","report_id":1,"format":"csv","lang":"en","filters":{},'
     '"schedule_id":null,"requested_at":"1970-01-01T00:00:00Z","requested_by":"cli:root"}')
seed("jobs", "unknown-schema", '{"schema":"inboxq.check_job.v2","job_id":"x"}')
seed("jobs", "not-json", b'\xff\xfe{"schema": "inboxq.check_job.v1",')

# ---- cron expressions ----
for name, expr in [("weekdays", "0 6 * * 1-5"), ("steps", "*/15 9-17/2 1,15 */3 *"),
                   ("names", "30 4 * jan-mar,dec MON-fri"), ("or-rule", "0 0 13 * 5"),
                   ("leap-day", "59 23 29 2 *"), ("macro", "@weekly"), ("never", "0 0 31 4 *"),
                   ("sunday-7", "0 0 * * 5-7"), ("bad", "61 25 0 13 8")]:
    seed("cron", name, expr)

# ---- config files ----
seed("config", "full", """# inboxq settings
pg_dsn = host=db.internal port=5432 dbname=inboxq user=inboxq password=s3cr3t-pw
kafka_brokers = kafka1:9092,kafka2:9092
redis_url = "redis://:r3d1s-pw@cache.internal:6379/2"
check_timeout = 10m
read_timeout = 30s
max_message = 64M
max_check_bytes = 1G
fetch_batch = 100
log_level = info
log_format = json
scheduler_tick = 500ms
""")
seed("config", "uri-dsn", "pg_dsn = postgresql://inboxq:p%40ss@db:5432/inboxq?sslmode=require\n"
     "INBOXQ_REDIS_URL = redis://cache\n\t\n")
seed("config", "errors", "max_line = 64x\n")
seed("config", "unknown", "no_such_setting = 1\r\n")

# ---- metrics endpoint requests ----
seed("httpd", "prometheus-scrape", crlf(
    "GET /metrics HTTP/1.1", "Host: 127.0.0.1:9100", "User-Agent: Prometheus/2.42.0",
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding: gzip", "X-Prometheus-Scrape-Timeout-Seconds: 10", ""))
seed("httpd", "head-healthz-lf", "HEAD /healthz HTTP/1.0\n\n")
seed("httpd", "readyz-query", crlf("GET /readyz?verbose=1 HTTP/1.1", "Host: x", ""))
seed("httpd", "post-body", crlf("POST /metrics HTTP/1.1", "Content-Length: 3", "") + "abc")
seed("httpd", "http2", crlf("GET /metrics HTTP/2.0", ""))
seed("httpd", "no-version", crlf("GET /metrics", ""))
seed("httpd", "not-found", crlf("GET /../etc/passwd HTTP/1.1", ""))
seed("httpd", "incomplete", crlf("GET /metrics HTTP/1.1", "Host: x"))


# ---- dictionaries (tests/fuzz/dict/<target>.dict): tokens of each input's grammar ----
DICTS = {}


def dictionary(target, header, words):
    DICTS[target] = (header, words)


dictionary("imap", "IMAP response syntax (RFC 3501, 9051, 4315, 7162)", [
    "* ", "\r\n", "* OK ", "* NO ", "* BAD ", "* BYE ", "* PREAUTH ", " OK ", " NO ", " BAD ",
    "CAPABILITY", "IMAP4rev1", "IMAP4rev2", "STARTTLS", "LOGINDISABLED", "AUTH=PLAIN", "SASL-IR",
    "UIDPLUS", "CONDSTORE", "QRESYNC", "LITERAL+", "[ALERT]", "[PARSE]", "[READ-ONLY]",
    "[READ-WRITE]", "[TRYCREATE]", "[UIDVALIDITY ", "[UIDNEXT ", "[UNSEEN ", "[PERMANENTFLAGS (",
    "[HIGHESTMODSEQ ", "[BADCHARSET", "[APPENDUID ", "[COPYUID ", " EXISTS", " RECENT",
    " EXPUNGE", " FETCH (", "FLAGS (", "\\Seen", "\\Deleted", "\\Answered", "\\*", "UID ",
    "RFC822.SIZE ", "BODY[] ", "BODY[]<0> ", "BODY[HEADER] ", "BODYSTRUCTURE (", "ENVELOPE (",
    "INTERNALDATE ", "MODSEQ (", "NIL", "{", "}\r\n", "{0}\r\n", "(", ")", "\"", "* SEARCH",
    "* ESEARCH", "* VANISHED (EARLIER) ", "* LIST (", "* STATUS ", "* ENABLED", "* ID (",
    "1 ", "2 ", "3 ", "4 ", "5 ", "+ "])
dictionary("pop3", "POP3 replies (RFC 1939, 2449, 2595)", [
    "+OK", "-ERR", "\r\n", ".\r\n", "..", " ", "CAPA", "UIDL", "TOP", "USER", "SASL PLAIN",
    "STLS", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "[AUTH]", "[IN-USE]",
    "<1896.697170952@dbc.mtview.ca.us>", "1 ", "2 ", "4294967296 ", "1000000 "])
dictionary("httpd", "HTTP/1.1 request heads", [
    "GET ", "HEAD ", "POST ", " HTTP/1.1", " HTTP/1.0", "HTTP/", "\r\n", "\r\n\r\n", "\n\n",
    "/metrics", "/healthz", "/readyz", "?", "Host: ", "Content-Length: ",
    "Transfer-Encoding: chunked", "Connection: keep-alive", "Expect: 100-continue"])
dictionary("proxy", "SOCKS5 and HTTP CONNECT replies", [
    "\x05\x00", "\x05\x02", "\x01\x00", "\x05\x00\x00\x01", "\x05\x00\x00\x03",
    "\x05\x00\x00\x04", "HTTP/1.1 200 Connection established\r\n", "HTTP/1.0 200 OK\r\n",
    "HTTP/1.1 407 ", "Proxy-Authenticate: Basic realm=\"x\"\r\n", "\r\n", "\n"])
dictionary("mailparse", "RFC 5322 / 2047 header syntax", [
    "From: ", "To: ", "Subject: ", "Date: ", "Message-ID: ", "Return-Path: ", "Received: ",
    "\r\n", "\r\n ", "\r\n\r\n", "<", ">", "@", "(", ")", "\"", ":", ";", ",", "=?UTF-8?B?",
    "=?utf-8?q?", "=?ISO-8859-1?Q?", "?=", "Mon, ", "1 Jan 2024 ", "00:00:00 ", "+0000", "-1159",
    "GMT", "EST", "Jan", "Feb"])
dictionary("jobs", "Kafka job JSON (schemas/json)", [
    "\"schema\":", "\"inboxq.check_job.v1\"", "\"inboxq.report_job.v1\"", "\"job_id\":",
    "\"7f0d3c4e-9a51-4b53-8f57-2f3a8f1f7c0e\"", "\"account_id\":", "\"requested_at\":",
    "\"2026-03-01T08:00:00.123Z\"", "\"requested_by\":", "\"reason\":", "\"scheduled\"",
    "\"manual\"", "\"retry\"", "\"attempt\":", "\"not_before\":", "\"report_id\":", "\"format\":",
    "\"csv\"", "\"html\"", "\"pdf\"", "\"lang\":", "\"en\"", "\"pt-BR\"", "\"filters\":",
    "\"name\":", "\"secure\":", "\"auto_check\":", "\"keep_copy\":", "\"active\":",
    "\"schedule_id\":", "null", "true", "false", "9223372036854775807", "\\u0000", "\\ud800"])
dictionary("cron", "five-field cron expressions", [
    "*", "*/", "-", ",", " ", "@hourly", "@daily", "@weekly", "@monthly", "@yearly",
    "@annually", "@midnight", "jan", "feb", "dec", "sun", "mon", "sat", "29", "31", "59", "23",
    "12", "7", "0"])


def config_words():
    import glob
    import re
    # lib/config.c, or lib/<layer>/config.c once lib/ is split into layers
    lib = os.path.join(HERE, "..", "..", "lib")
    src = sorted(glob.glob(os.path.join(lib, "config.c")) +
                 glob.glob(os.path.join(lib, "*", "config.c")))[0]
    with open(src) as f:
        names = re.findall(r'\{IQ_SET_[A-Z_]+, "([a-z_]+)"', f.read())
    return [n + " = " for n in names] + [
        "\n", "#", "\"", "=", "password=", "password = ", "postgresql://", "redis://", ":", "@",
        "ms", "s", "m", "h", "d", "k", "M", "G", "yes", "no", "debug", "json"]


def dict_escape(word):
    out = ""
    for ch in word.encode("utf-8"):
        if ch in (0x5C, 0x22) or ch < 0x20 or ch > 0x7E:
            out += "\\x%02X" % ch
        else:
            out += chr(ch)
    return out


def write_dicts():
    dictionary("config", "the --config file: setting names and value forms", config_words())
    d = os.path.join(HERE, "dict")
    os.makedirs(d, exist_ok=True)
    for target, (header, words) in DICTS.items():
        with open(os.path.join(d, target + ".dict"), "w") as f:
            f.write("# libFuzzer dictionary: %s (written by make-seeds.py)\n" % header)
            for i, word in enumerate(words):
                f.write('kw%d="%s"\n' % (i, dict_escape(word)))


def main():
    corpus = os.path.join(HERE, "corpus")
    for target, files in SEEDS.items():
        d = os.path.join(corpus, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    write_dicts()
    print("seeds:", ", ".join("%s %d" % (t, len(f)) for t, f in sorted(SEEDS.items())))


if __name__ == "__main__":
    main()
