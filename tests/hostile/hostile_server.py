#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Scripted hostile IMAP/POP3 server for inboxq's tests.

Usage: hostile_server.py --proto imap|pop3 --scenario NAME [--port 0] [--cert CERT --key KEY]
         [--implicit-tls] [--record FILE] [--ready-file FILE] [--user U] [--password P]
         [--messages N] [--state-file FILE] | --list
Binds 127.0.0.1 (port 0: ephemeral), writes the port to --ready-file (atomically) and stdout,
serves each connection in a thread until SIGTERM/SIGINT, then exits 0. STARTTLS/STLS is offered
only with --cert/--key. Without --user/--password any login is accepted.

Speaks just enough IMAP4rev1 (RFC 3501, with UIDPLUS RFC 4315) and POP3 (RFC 1939), each with
STARTTLS/STLS (RFC 2595) or implicit TLS, that a libetpan client gets through a normal session:
greeting, CAPABILITY/CAPA, STARTTLS/STLS, LOGIN/AUTHENTICATE PLAIN or USER/PASS/APOP, SELECT,
UID SEARCH/FETCH/STORE/EXPUNGE or STAT/UIDL/LIST/RETR/DELE, LOGOUT/QUIT. Each scenario
deviates from that path at exactly one point. Standard library only. The mailbox holds two
small messages, UIDs 7 and 9 (UIDVALIDITY 1700000001), UIDLs hostile-0007 and hostile-0009;
with --messages N, N generated ones instead (UIDs 7, 9, 11, ..., UIDLs hostile-NNNN). IMAP
SEARCH understands ALL, DELETED and UID <set>. --state-file FILE is rewritten (atomically) at
start and after every change with {"mailbox": [...], "gone": [...]}: the messages there now and
those that left it (expunged, or deleted at QUIT), each as {"uid", "uidl", "flags", "sha256"}.

Scenarios (`--list` prints this table):
  imap normal            no deviation
  imap starttls-missing  CAPABILITY without STARTTLS (a STARTTLS sent anyway gets BAD)
  imap starttls-no       STARTTLS answered NO
  imap starttls-bad      STARTTLS answered BAD
  imap starttls-inject   "OK Begin TLS" plus an injected "* OK [CAPABILITY ...]" in one send
  imap preauth           greeting is "* PREAUTH": logged in, in clear, without credentials
  imap cap-tamper        before TLS: AUTH=PLAIN AUTH=LOGIN; after TLS: AUTH=XTEST LOGINDISABLED
  imap literal-close     FETCH answer opens a {5000} literal, sends 100 bytes and closes
  imap endless-line      first answer after login is an untagged line streamed forever, no CRLF
  imap huge-literal      FETCH answer announces {4000000000} and streams until the client leaves
  imap drip              greeting, then one byte per second forever
  imap drip-after-login  normal up to login, then the next answer comes one byte per second
  imap bye-after-login   the first answer after login is "* BYE" alone; held 2 s, then closed
  imap bare-greeting     greeting without a [CAPABILITY ...] response code (CAPABILITY answers)
  imap no-uidnext        SELECT gives no [UIDNEXT n] (RFC 3501 makes it a MUST; old servers skip it)
  imap no-uidplus        CAPABILITY without UIDPLUS (UID EXPUNGE answered BAD): plain EXPUNGE only
  imap foreign-deleted   no UIDPLUS, and when the client first flags \Deleted another client adds a
                         new message already flagged \Deleted (a plain EXPUNGE would remove it)
  imap split             after login every byte is sent alone (with TLS: one record per byte)
  imap fetch-flood       every message of a body FETCH comes as 14 literals of 20 MiB (RFC822.SIZE
                         said a few hundred bytes)
  imap list-flood        the UID/RFC822.SIZE listing is 1,000,000 lines
  imap range-close       a 5 MB message (UID 5) before the two; the second range of it asked
                         (BODY[]<offset.length>) stops halfway and the server closes
  imap tls-stall         with --implicit-tls: reads the ClientHello and never answers it
  imap greeting-badcharset  greeting "* OK [BADCHARSET (UTF-8)] ..." (libetpan 1.9.4 parses a
                         greeting without its parser context and dies on the list's first string)
  imap greeting-permflags  greeting "* OK [PERMANENTFLAGS (\\Seen \\Deleted)] ..." (the same)
  imap select-permflags  SELECT gives "* OK [PERMANENTFLAGS (\\)]" (libetpan frees a NULL list)
  imap literal-spaced    FETCH bodies announced as "{ N}" (libetpan reads it as a literal)
  imap literal-spaced-huge  FETCH body announced as "{ 5000000}" and sent: over max_message
  imap idle-bye          IDLE offered; one second into IDLE the server sends "* BYE" and closes
  imap idle-no-done      IDLE offered; DONE is never answered (the connection stays open, silent)
  pop3 normal            no deviation
  pop3 stls-missing      CAPA without STLS (an STLS sent anyway gets -ERR)
  pop3 stls-err          STLS answered -ERR
  pop3 stls-inject       "+OK Begin TLS" plus an injected "+OK injected" in one send
  pop3 multiline-close   RETR answers +OK, sends part of the message and closes without "."
  pop3 endless-line      first answer after login is a "+OK" line streamed forever, no CRLF
  pop3 drip              greeting, then one byte per second forever
  pop3 drip-after-login  normal up to login, then the next answer comes one byte per second
  pop3 no-uidl           no UIDL in CAPA, and UIDL answered -ERR
  pop3 greeting-err      the greeting is "-ERR server busy", then the server closes
  pop3 no-capa           CAPA answered -ERR (an RFC 1939 server without RFC 2449); the rest normal
  pop3 retr-err          RETR of message 1 answered -ERR (the message stays on the server)
  pop3 split             after login every byte is sent alone (with TLS: one record per byte)
  pop3 uidl-dup          UIDL gives every message the first one's UIDL (RFC 1939: unique)
  pop3 uidl-dup-num      UIDL lists message 1 twice, under its own and under message 2's UIDL
  pop3 uidl-zero         UIDL starts with "0 hostile-0000" (libetpan indexes before its array)
  pop3 uidl-bare         UIDL's second line is a message number without a UIDL
  pop3 dele-err          DELE of message 1 answered -ERR (the message stays); the others +OK
  pop3 quit-err          QUIT answered -ERR: no deletion is carried out

The deviations after login (literal-close, endless-line, huge-literal, multiline-close,
drip-after-login) happen the same way in clear, after STARTTLS/STLS and with --implicit-tls.

--record FILE gets one JSON object per line, flushed at once; every object has "event", "conn"
(connection number) and "t" (Unix time). Events: connect; command {"line", "tls"} for every
client line, also those sent during a drip (secrets replaced by "***"); credential {"command",
"tls"} whenever a USER, PASS, APOP, AUTH, LOGIN or AUTHENTICATE arrives; early_bytes {"count"}
if the client sent bytes before the TLS handshake; tls_established {"version", "cipher"};
tls_failed {"error"}; expunged {"uids"} (IMAP) and deleted {"uidls"} (POP3, at QUIT) for what
left the mailbox; deviation
{"what"} when the scenario's hostile step starts (what = the scenario's name; every scenario
but normal records it, once per connection where the deviation is served; for starttls-missing
and stls-missing when a capability list without STARTTLS/STLS is sent, for cap-tamper when the
changed list is sent inside TLS); streamed {"bytes", "seconds"} when a stream or drip ends;
close {"tls", "reason"} plus "capability_after_tls" for IMAP.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import select
import signal
import socket
import ssl
import sys
import threading
import time

STOP = threading.Event()
LINE_MAX = 64 * 1024          # longest client line or literal we accept
FILLER = b"x" * 65536         # what streams are made of: constant, never accumulated
HUGE = 4000000000
CREDENTIAL_VERBS = {"LOGIN", "AUTHENTICATE", "USER", "PASS", "APOP", "AUTH"}
UIDVALIDITY = 1700000001


class Hangup(Exception):
    """The session is over (client left, protocol error or deliberate close)."""


def canned(n, subject, body):
    head = (f"From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n"
            f"Subject: {subject}\r\nDate: Tue, 14 Nov 2023 10:0{n}:00 +0000\r\n"
            f"Message-ID: <hostile-{n}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n")
    return (head + body).encode()


# The mailbox, shared by all connections (deletions persist while the server runs).
# UIDs 7 and 9, not 1 and 2, so that sequence numbers and UIDs never coincide.
MAILBOX = [
    {"uid": 7, "uidl": "hostile-0007", "flags": set(),
     "data": canned(1, "Hello from the hostile server",
                    "First canned message.\r\n.A line starting with a dot (POP3 stuffing).\r\n"
                    "..two dots\r\n.\r\n. \r\n.\r\n\r\n.\n.\rnot an end\r\nlast.\r\n")},
    {"uid": 9, "uidl": "hostile-0009", "flags": {"\\Seen"},
     "data": canned(2, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Second canned message.\r\n")},
]
MAILBOX_LOCK = threading.Lock()
GONE = []                     # the messages that left MAILBOX, in order
STATE_FILE = None


def generated(uid):
    """A small distinct message for --messages."""
    return {"uid": uid, "uidl": f"hostile-{uid:04d}", "flags": set(),
            "data": (f"From: Generator <gen@example.org>\r\nTo: Bob <bob@example.net>\r\n"
                     f"Subject: Generated message {uid}\r\nDate: Tue, 14 Nov 2023 10:00:00 +0000\r\n"
                     f"Message-ID: <hostile-gen-{uid}@example.org>\r\n\r\n"
                     f"Body of generated message {uid}.\r\n").encode()}


def save_state():
    """Writes the mailbox to --state-file (call with MAILBOX_LOCK held)."""
    if STATE_FILE:
        def describe(msgs):
            return [{"uid": m["uid"], "uidl": m["uidl"], "flags": sorted(m["flags"]),
                     "sha256": hashlib.sha256(m["data"]).hexdigest()} for m in msgs]
        state = {"mailbox": describe(MAILBOX), "gone": describe(GONE)}
        tmp = f"{STATE_FILE}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, STATE_FILE)


def in_set(spec, n, star):
    """True if n is in an IMAP sequence set such as 1,3:5,7:* ("*" is star)."""
    for part in spec.split(","):
        a, _, b = part.partition(":")
        lo = star if a == "*" else int(a)
        hi = lo if not b else (star if b == "*" else int(b))
        if min(lo, hi) <= n <= max(lo, hi):
            return True
    return False


def imap_args(data):
    """Split IMAP arguments: atoms, "quoted strings" and {n} literals (already read in)."""
    out, i = [], 0
    while i < len(data):
        if data[i:i + 1] == b" ":
            i += 1
        elif m := re.match(rb'"((?:[^"\\]|\\.)*)"', data[i:]):
            out.append(re.sub(rb"\\(.)", rb"\1", m[1]))
            i += m.end()
        elif m := re.match(rb"\{(\d+)\+?\}\r\n", data[i:]):
            start = i + m.end()
            out.append(data[start:start + int(m[1])])
            i = start + int(m[1])
        else:
            j = data.find(b" ", i)
            j = len(data) if j < 0 else j
            out.append(data[i:j])
            i = j
    return out


class Conn:
    """One client connection: line reading with a cap, sends that notice STOP, TLS upgrade."""

    def __init__(self, server, sock, number):
        self.srv, self.sock, self.number = server, sock, number
        self.buf = bytearray()
        self.tls = False
        self.split = False                # send byte by byte (scenario "split")
        self.info = {}                    # extra fields for the close event
        self.deviated = set()             # deviations recorded once per connection

    def record(self, event, **fields):
        self.srv.record(event, conn=self.number, **fields)

    def deviate_once(self, what):
        """Record a deviation served on every answer (a capability list) once per connection."""
        if what not in self.deviated:
            self.deviated.add(what)
            self.record("deviation", what=what)

    def note(self, line):
        """Record a client line; a credential is recorded as a fact and its value as ***."""
        words = line.decode("utf-8", "replace").split(" ")
        verb_at = 1 if self.srv.args.proto == "imap" else 0     # IMAP lines start with a tag
        verb = words[verb_at].upper() if len(words) > verb_at else ""
        if verb in CREDENTIAL_VERBS and len(words) > verb_at + 1:
            self.record("command", line=" ".join(words[:verb_at + 1] + ["***"]), tls=self.tls)
            self.record("credential", command=verb, tls=self.tls)
        else:
            self.record("command", line=" ".join(words), tls=self.tls)

    def send(self, data):
        view = memoryview(data.encode() if isinstance(data, str) else data)
        if self.split and len(view) > 1:
            for i in range(len(view)):
                self.send(view[i:i + 1])
            return
        while view:
            if STOP.is_set():
                raise Hangup("server stopping")
            try:
                view = view[self.sock.send(view):]
            except TimeoutError:          # client not reading: retry the same bytes
                continue

    def recv(self):
        idle = time.monotonic() + 300
        while not STOP.is_set() and time.monotonic() < idle:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise Hangup("client closed")
            return data
        raise Hangup("idle or stopping")

    def readline(self):
        while (i := self.buf.find(b"\n")) < 0:
            if len(self.buf) > LINE_MAX:
                raise Hangup("client line too long")
            self.buf += self.recv()
        line = bytes(self.buf[:i]).rstrip(b"\r")
        del self.buf[:i + 1]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self.buf += self.recv()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def starttls(self):
        if self.srv.ctx is None:
            raise Hangup("no --cert/--key")
        if self.buf:                      # client spoke before the handshake: drop it
            self.record("early_bytes", count=len(self.buf))
            self.buf.clear()
        try:
            self.sock.settimeout(10)
            self.sock = self.srv.ctx.wrap_socket(self.sock, server_side=True,
                                                 do_handshake_on_connect=False)
            self.sock.do_handshake()      # explicit: wrap_socket skips it if the peer is gone
            self.sock.settimeout(1.0)
        except OSError as e:              # ssl.SSLError is an OSError
            self.record("tls_failed", error=str(e))
            raise Hangup("TLS handshake failed") from e
        self.tls = True
        self.record("tls_established", version=self.sock.version(), cipher=self.sock.cipher()[0])

    def after_login(self, scenario, prefix):
        """The deviations that replace the first answer after login."""
        if scenario == "split" and not self.split:
            self.record("deviation", what="split")
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.split = True
        if scenario == "endless-line":
            self.send(prefix)
            self.stream("endless-line")
        if scenario == "drip-after-login":
            self.drip("drip-after-login", prefix + b"drip\r\n")
        if scenario == "bye-after-login":
            # a fatal response where a tagged one is due: libetpan reads its tagged-response
            # fields before checking for this case
            self.record("deviation", what="bye-after-login")
            self.send(b"* BYE server shutting down\r\n")
            time.sleep(2)
            raise Hangup("bye-after-login")

    def stream(self, what, total=None):
        """Send FILLER at full speed until the client leaves (or total bytes are sent)."""
        self.record("deviation", what=what)
        sent, start = 0, time.monotonic()
        try:
            while total is None or sent < total:
                chunk = FILLER if total is None else FILLER[:min(len(FILLER), total - sent)]
                self.send(chunk)
                sent += len(chunk)
        finally:
            self.record("streamed", bytes=sent, seconds=round(time.monotonic() - start, 3))
        raise Hangup(what + " finished")

    def drip(self, what, pattern):
        """Send pattern one byte per second, forever, until the client leaves."""
        self.record("deviation", what=what)
        sent, start = 0, time.monotonic()
        try:
            while True:
                self.send(pattern[sent % len(pattern):][:1])
                sent += 1
                self.pause(1.0)
        finally:
            self.record("streamed", bytes=sent, seconds=round(time.monotonic() - start, 3))

    def pause(self, seconds):
        """Sleep, but notice a client that hangs up; record (and ignore) what it sends."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if STOP.is_set():
                raise Hangup("server stopping")
            pending = self.tls and self.sock.pending()
            if pending or select.select([self.sock], [], [], min(left, 0.5))[0]:
                try:
                    data = self.sock.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    raise Hangup("client closed")
                self.buf += data          # still record what the client says meanwhile
                while (i := self.buf.find(b"\n")) >= 0:
                    self.note(bytes(self.buf[:i]).rstrip(b"\r"))
                    del self.buf[:i + 1]
                if len(self.buf) > LINE_MAX:
                    self.buf.clear()


class Imap:
    def __init__(self, conn, scenario):
        self.c, self.sc = conn, scenario
        self.state = "auth" if scenario == "preauth" else "noauth"
        self.selected = False
        self.c.info["capability_after_tls"] = False

    def caps(self):
        if self.sc == "cap-tamper" and self.c.tls:
            self.c.deviate_once("cap-tamper")
            return "IMAP4rev1 AUTH=XTEST LOGINDISABLED"
        if self.sc == "starttls-missing" and not self.c.tls and self.c.srv.ctx:
            self.c.deviate_once("starttls-missing")
        caps = "IMAP4rev1 SASL-IR UIDPLUS"
        if self.sc in ("no-uidplus", "foreign-deleted"):
            if self.sc == "no-uidplus":
                self.c.deviate_once("no-uidplus")
            caps = "IMAP4rev1 SASL-IR"
        if self.sc in ("idle-bye", "idle-no-done"):
            caps += " IDLE"
        if not self.c.tls and self.c.srv.ctx and self.sc != "starttls-missing":
            caps += " STARTTLS"
        return caps + (" AUTH=PLAIN AUTH=LOGIN" if self.sc == "cap-tamper" else " AUTH=PLAIN")

    def read_command(self):
        """One command with its literals inlined as {n}CRLF<bytes>, as on the wire."""
        data = self.c.readline()
        while m := re.search(rb"\{(\d+)(\+?)\}\Z", data):
            n = int(m[1])
            if n > LINE_MAX:
                raise Hangup("client literal too big")
            if not m[2]:
                self.c.send(b"+ go ahead\r\n")
            data += b"\r\n" + self.c.read_exact(n) + self.c.readline()
        return data

    def run(self):
        c = self.c
        if self.sc == "preauth":
            c.record("deviation", what="preauth")
            c.send("* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] logged in as hostile\r\n")
        elif self.sc == "greeting-badcharset":
            c.record("deviation", what="greeting-badcharset")
            c.send("* OK [BADCHARSET (UTF-8 \"US-ASCII\")] inboxq hostile IMAP server ready\r\n")
        elif self.sc == "greeting-permflags":
            c.record("deviation", what="greeting-permflags")
            c.send("* OK [PERMANENTFLAGS (\\Seen \\Deleted)] inboxq hostile IMAP server ready\r\n")
        elif self.sc == "bare-greeting":
            c.record("deviation", what="bare-greeting")
            c.send("* OK inboxq hostile IMAP server ready\r\n")
        else:
            c.send(f"* OK [CAPABILITY {self.caps()}] inboxq hostile IMAP server ready\r\n")
        if self.sc == "drip":
            c.drip("drip", b"* OK drip\r\n")
        while True:
            data = self.read_command()
            tag, _, rest = data.decode("utf-8", "replace").partition(" ")
            cmd, _, rest = rest.partition(" ")
            cmd = cmd.upper()
            if cmd == "UID":
                sub, _, rest = rest.partition(" ")
                cmd = "UID " + sub.upper()
            c.note(data)
            if self.state != "noauth":
                c.after_login(self.sc, b"* OK ")
            try:
                if self.dispatch(tag, cmd, rest, data) == "bye":
                    return
            except (ValueError, IndexError):
                c.send(f"{tag} BAD syntax error\r\n")

    def dispatch(self, tag, cmd, rest, data):
        c = self.c
        if cmd == "CAPABILITY":
            if c.tls:
                c.info["capability_after_tls"] = True
            c.send(f"* CAPABILITY {self.caps()}\r\n{tag} OK CAPABILITY completed\r\n")
        elif cmd in ("NOOP", "CHECK"):
            c.send(f"{tag} OK {cmd} completed\r\n")
        elif cmd == "LOGOUT":
            c.send(f"* BYE logging out\r\n{tag} OK LOGOUT completed\r\n")
            return "bye"
        elif cmd == "STARTTLS":
            self.starttls(tag)
        elif cmd == "LOGIN" and self.state == "noauth":
            user, password = imap_args(data.split(b" ", 2)[2])[:2]
            if "LOGINDISABLED" in self.caps():
                c.send(f"{tag} NO [PRIVACYREQUIRED] LOGIN is disabled\r\n")
            else:
                self.login(tag, user, password)
        elif cmd == "AUTHENTICATE" and self.state == "noauth":
            args = imap_args(data.split(b" ", 2)[2])
            if args[0].upper() != b"PLAIN" or "AUTH=PLAIN" not in self.caps():
                return c.send(f"{tag} NO unsupported mechanism\r\n")
            response = args[1] if len(args) > 1 else None
            if response is None:
                c.send(b"+ \r\n")
                response = c.readline()
                c.record("command", line="***", tls=c.tls)
            if response == b"*":
                return c.send(f"{tag} BAD AUTHENTICATE cancelled\r\n")
            _, user, password = base64.b64decode(b"" if response == b"=" else response).split(b"\0")
            self.login(tag, user, password)
        elif self.state == "noauth" or cmd in ("LOGIN", "AUTHENTICATE"):
            c.send(f"{tag} BAD {cmd or 'command'} not allowed now\r\n")
        elif cmd == "LIST":
            c.send(f'* LIST (\\HasNoChildren) "/" INBOX\r\n{tag} OK LIST completed\r\n')
        elif cmd in ("SELECT", "EXAMINE"):
            if imap_args(rest.encode())[0].upper() != b"INBOX":
                return c.send(f"{tag} NO [NONEXISTENT] no such mailbox\r\n")
            self.select(tag, cmd)
        elif not self.selected:
            c.send(f"{tag} BAD {cmd} needs a selected mailbox\r\n")
        elif cmd == "IDLE":
            return self.idle(tag)
        elif cmd in ("FETCH", "UID FETCH"):
            self.fetch(tag, cmd, rest)
        elif cmd in ("SEARCH", "UID SEARCH"):
            self.search(tag, cmd, rest)
        elif cmd in ("STORE", "UID STORE"):
            self.store(tag, cmd, rest)
        elif cmd == "UID EXPUNGE" and "UIDPLUS" not in self.caps():
            c.send(f"{tag} BAD UID EXPUNGE needs UIDPLUS\r\n")
        elif cmd in ("EXPUNGE", "UID EXPUNGE", "CLOSE"):
            self.expunge(rest if cmd == "UID EXPUNGE" else None, quiet=cmd == "CLOSE")
            self.selected = cmd != "CLOSE"
            c.send(f"{tag} OK {cmd} completed\r\n")
        else:
            c.send(f"{tag} BAD unknown command\r\n")

    def idle(self, tag):
        """IDLE (RFC 2177) as the IDLE scenarios play it; otherwise until DONE, then OK."""
        c = self.c
        c.send(b"+ idling\r\n")
        if self.sc == "idle-bye":
            time.sleep(1)
            c.record("deviation", what="idle-bye")
            c.send(b"* BYE idle session ended by the server\r\n")
            raise Hangup("idle-bye")
        done = c.readline()
        c.note(done)
        if self.sc == "idle-no-done":
            c.record("deviation", what="idle-no-done")
            while True:                   # silent until the client leaves or we stop
                c.recv()
        c.send(f"{tag} OK IDLE terminated\r\n")
        return None

    def starttls(self, tag):
        c = self.c
        if c.tls or self.state != "noauth" or self.sc == "starttls-missing":
            return c.send(f"{tag} BAD STARTTLS not allowed now\r\n")
        if c.srv.ctx is None:
            return c.send(f"{tag} NO no certificate configured\r\n")
        if self.sc in ("starttls-no", "starttls-bad"):
            c.record("deviation", what=self.sc)
            word = self.sc.split("-")[1].upper()
            return c.send(f"{tag} {word} STARTTLS refused\r\n")
        ok = f"{tag} OK Begin TLS negotiation now\r\n"
        if self.sc == "starttls-inject":
            c.record("deviation", what="starttls-inject")
            ok += "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected before TLS\r\n"
        c.send(ok)                        # one send: the injected line shares the segment
        c.starttls()

    def login(self, tag, user, password):
        if self.c.srv.check(user, password):
            self.state = "auth"
            self.c.send(f"{tag} OK [CAPABILITY {self.caps()}] logged in\r\n")
        else:
            self.c.send(f"{tag} NO [AUTHENTICATIONFAILED] authentication failed\r\n")

    def select(self, tag, cmd):
        with MAILBOX_LOCK:
            n, uidnext = len(MAILBOX), max([m["uid"] for m in MAILBOX] + [9]) + 1
        self.selected = True
        flags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
        uidnext_line = f"* OK [UIDNEXT {uidnext}] ok\r\n"
        if self.sc == "no-uidnext":
            self.c.record("deviation", what="no-uidnext")
            uidnext_line = ""
        perm = flags
        if self.sc == "select-permflags":
            self.c.record("deviation", what="select-permflags")
            perm = "\\"
        self.c.send(f"* FLAGS ({flags})\r\n* OK [PERMANENTFLAGS ({perm})] ok\r\n"
                    f"* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n"
                    + uidnext_line +
                    f"{tag} OK [{'READ-ONLY' if cmd == 'EXAMINE' else 'READ-WRITE'}] done\r\n")

    def matching(self, cmd, spec):
        """[(seq, message)] for a sequence set or, for UID commands, a UID set."""
        with MAILBOX_LOCK:
            msgs = list(enumerate(MAILBOX, 1))
        if not msgs:
            return []
        if cmd.startswith("UID"):
            return [(s, m) for s, m in msgs if in_set(spec, m["uid"], msgs[-1][1]["uid"])]
        return [(s, m) for s, m in msgs if in_set(spec, s, len(msgs))]

    def search(self, tag, cmd, rest):
        """Understands ALL, DELETED and UID <set>; any other criterion matches everything."""
        m = re.search(r"\bUID (\S+)", rest, re.I)
        hits = self.matching("UID", m[1] if m else "1:*")
        if re.search(r"(?<!UN)\bDELETED\b", rest, re.I):
            hits = [(s, m) for s, m in hits if "\\Deleted" in m["flags"]]
        ids = [str(m["uid"] if cmd == "UID SEARCH" else s) for s, m in hits]
        self.c.send(f"* SEARCH{''.join(' ' + i for i in ids)}\r\n{tag} OK SEARCH completed\r\n")

    def fetch(self, tag, cmd, rest):
        spec, _, items = rest.partition(" ")
        items = items.upper()
        body = re.search(r"BODY(\.PEEK)?\[\]|\bRFC822(?![.\w])", items)
        label = body and body[0].replace(".PEEK", "")
        part = re.search(r"BODY(?:\.PEEK)?\[\]<(\d+)\.(\d+)>", items)
        if not body and "RFC822.SIZE" in items and self.sc == "list-flood":
            self.c.record("deviation", what="list-flood")
            for k in range(0, 1000000, 10000):
                self.c.send("".join(f"* {n} FETCH (UID {n} RFC822.SIZE 300)\r\n"
                                    for n in range(k + 1, k + 10001)))
            self.c.send(f"{tag} OK FETCH completed\r\n")
            return
        if body and self.sc == "fetch-flood":
            self.c.record("deviation", what="fetch-flood")
            blob = b"x" * (20 << 20)
            for seq, m in self.matching(cmd, spec):
                for _ in range(14):
                    self.c.send(f"* {seq} FETCH (UID {m['uid']} {label} {{{len(blob)}}}\r\n".encode()
                                + blob + b")\r\n")
            self.c.send(f"{tag} OK FETCH completed\r\n")
            return
        for seq, m in self.matching(cmd, spec):
            parts = [f"UID {m['uid']}"]
            if "FLAGS" in items:
                parts.append(f"FLAGS ({' '.join(sorted(m['flags']))})")
            if "RFC822.SIZE" in items:
                parts.append(f"RFC822.SIZE {len(m['data'])}")
            head = f"* {seq} FETCH ({' '.join(parts)}"
            if body and self.sc in ("literal-close", "huge-literal"):
                if self.sc == "literal-close":
                    self.c.record("deviation", what="literal-close")
                    first_100 = (m["data"] + FILLER)[:100]
                    self.c.send(f"{head} {label} {{5000}}\r\n".encode() + first_100)
                    raise Hangup("closed inside a literal")
                self.c.send(f"{head} {label} {{{HUGE}}}\r\n")
                self.c.stream("huge-literal", total=HUGE)
            if part:  # a range: BODY[]<offset> {n} and those bytes
                off, n = int(part[1]), int(part[2])
                chunk = m["data"][off:off + n]
                if self.sc == "range-close" and off > 0:
                    self.c.record("deviation", what="range-close")
                    self.c.send(f"{head} BODY[]<{off}> {{{len(chunk)}}}\r\n".encode()
                                + chunk[:len(chunk) // 2])
                    raise Hangup("closed in the middle of a range")
                self.c.send(f"{head} BODY[]<{off}> {{{len(chunk)}}}\r\n".encode() + chunk + b")\r\n")
                continue
            if body and self.sc == "literal-spaced-huge":
                self.c.record("deviation", what="literal-spaced-huge")
                self.c.send(f"{head} {label} {{ 5000000}}\r\n".encode() + b"x" * 5000000 + b")\r\n")
                continue
            if body and self.sc == "literal-spaced":
                self.c.record("deviation", what="literal-spaced")
                head += f" {label} {{ {len(m['data'])}}}\r\n"
            elif body:
                head += f" {label} {{{len(m['data'])}}}\r\n"
            self.c.send(head.encode() + (m["data"] if body else b"") + b")\r\n")
        self.c.send(f"{tag} OK FETCH completed\r\n")

    def store(self, tag, cmd, rest):
        spec, op, flags = re.match(r"(\S+) ([+-]?FLAGS(?:\.SILENT)?) \(?([^)]*)\)?", rest).groups()
        flags = set(flags.split())
        if self.sc == "foreign-deleted" and op.startswith("+") and "\\Deleted" in flags:
            with MAILBOX_LOCK:
                if not any(m["uid"] > 1000 for m in MAILBOX):
                    foreign = generated(1001)
                    foreign["flags"] = {"\\Deleted"}
                    MAILBOX.append(foreign)
                    save_state()
                    self.c.record("deviation", what="foreign-deleted")
        for seq, m in self.matching(cmd, spec):
            with MAILBOX_LOCK:
                if op.startswith("+"):
                    m["flags"] |= flags
                elif op.startswith("-"):
                    m["flags"] -= flags
                else:
                    m["flags"] = set(flags)
                now = " ".join(sorted(m["flags"]))
            if not op.endswith(".SILENT"):
                self.c.send(f"* {seq} FETCH (UID {m['uid']} FLAGS ({now}))\r\n")
        with MAILBOX_LOCK:
            save_state()
        self.c.send(f"{tag} OK STORE completed\r\n")

    def expunge(self, uid_spec, quiet):
        gone, seq = [], 1
        with MAILBOX_LOCK:
            star = MAILBOX[-1]["uid"] if MAILBOX else 0
            uids = []
            for m in list(MAILBOX):
                wanted = uid_spec is None or in_set(uid_spec, m["uid"], star)
                if "\\Deleted" in m["flags"] and wanted:
                    MAILBOX.remove(m)
                    GONE.append(m)
                    gone.append(seq)
                    uids.append(m["uid"])
                else:
                    seq += 1
            if uids:
                save_state()
        if uids:
            self.c.record("expunged", uids=uids)
        if not quiet:
            self.c.send("".join(f"* {n} EXPUNGE\r\n" for n in gone))


class Pop3:
    def __init__(self, conn, scenario):
        self.c, self.sc = conn, scenario
        self.user = None
        self.msgs = None                   # the maildrop after login; None before
        self.deleted = set()
        self.stamp = f"<{os.getpid()}.{conn.number}.{int(time.time())}@hostile.test>"

    def run(self):
        c = self.c
        if self.sc == "greeting-err":
            c.record("deviation", what="greeting-err")
            c.send(b"-ERR server busy\r\n")
            return
        c.send(f"+OK inboxq hostile POP3 server ready {self.stamp}\r\n")
        if self.sc == "drip":
            c.drip("drip", b"+OK drip\r\n")
        while True:
            line = c.readline()
            verb, _, arg = line.decode("utf-8", "replace").partition(" ")
            verb = verb.upper()
            c.note(line)
            if self.msgs is not None:
                c.after_login(self.sc, b"+OK ")
            try:
                if self.dispatch(verb, arg) == "bye":
                    return
            except (ValueError, IndexError, KeyError):
                c.send(b"-ERR syntax error or no such message\r\n")

    def message(self, arg):
        n = int(arg)
        if n < 1 or n in self.deleted:
            raise KeyError(n)
        return self.msgs[n - 1]

    def dispatch(self, verb, arg):
        c = self.c
        if verb == "CAPA" and self.sc == "no-capa":
            c.record("deviation", what="no-capa")
            c.send(b"-ERR unknown command\r\n")
        elif verb == "CAPA":
            if self.sc == "stls-missing" and not c.tls and c.srv.ctx:
                c.deviate_once("stls-missing")
            caps = ["USER", "RESP-CODES"] + (["UIDL"] if self.sc != "no-uidl" else [])
            if not c.tls and c.srv.ctx and self.sc != "stls-missing":
                caps.append("STLS")
            c.send("+OK capability list follows\r\n" + "".join(x + "\r\n" for x in caps) + ".\r\n")
        elif verb == "QUIT":
            if self.msgs is not None and self.sc == "quit-err" and self.deleted:
                c.record("deviation", what="quit-err")
                c.send(b"-ERR some deleted messages not removed\r\n")
                return "bye"
            if self.msgs is not None:
                gone = []
                with MAILBOX_LOCK:
                    for n in sorted(self.deleted):
                        if self.msgs[n - 1] in MAILBOX:
                            MAILBOX.remove(self.msgs[n - 1])
                            GONE.append(self.msgs[n - 1])
                            gone.append(self.msgs[n - 1]["uidl"])
                    if gone:
                        save_state()
                if gone:
                    c.record("deleted", uidls=gone)
            c.send(b"+OK bye\r\n")
            return "bye"
        elif verb == "NOOP":
            c.send(b"+OK\r\n")
        elif self.msgs is None:
            self.authorization(verb, arg)
        elif verb == "STAT":
            live = [m for i, m in enumerate(self.msgs, 1) if i not in self.deleted]
            c.send(f"+OK {len(live)} {sum(len(m['data']) for m in live)}\r\n")
        elif verb in ("LIST", "UIDL"):
            if verb == "UIDL" and self.sc == "no-uidl":
                c.record("deviation", what="no-uidl")
                return c.send(b"-ERR UIDL not supported\r\n")
            value = (lambda m: m["uidl"]) if verb == "UIDL" else (lambda m: len(m["data"]))
            if arg:
                return c.send(f"+OK {int(arg)} {value(self.message(arg))}\r\n")
            lines = [f"{i} {value(m)}" for i, m in enumerate(self.msgs, 1) if i not in self.deleted]
            if verb == "UIDL" and self.sc.startswith("uidl-") and len(lines) >= 2:
                c.record("deviation", what=self.sc)
                first = self.msgs[0]["uidl"]
                if self.sc == "uidl-dup":
                    lines = [f"{line.split()[0]} {first}" for line in lines]
                elif self.sc == "uidl-dup-num":
                    lines = [lines[0], f"1 {self.msgs[1]['uidl']}"] + lines[2:]
                elif self.sc == "uidl-zero":
                    lines = ["0 hostile-0000"] + lines
                elif self.sc == "uidl-bare":
                    lines = [lines[0], lines[1].split()[0]] + lines[2:]
            c.send("+OK\r\n" + "".join(line + "\r\n" for line in lines) + ".\r\n")
        elif verb == "RETR":
            data = self.message(arg)["data"]
            if self.sc == "retr-err" and int(arg) == 1:
                c.record("deviation", what="retr-err")
                return c.send(b"-ERR message 1 is locked\r\n")
            stuffed = re.sub(rb"(?m)^\.", b"..", data)
            if self.sc == "multiline-close":
                c.record("deviation", what="multiline-close")
                c.send(f"+OK {len(data)} octets\r\n".encode() + stuffed[:len(stuffed) // 2])
                raise Hangup("closed inside a multi-line reply")
            c.send(f"+OK {len(data)} octets\r\n".encode() + stuffed + b".\r\n")
        elif verb == "DELE":
            self.message(arg)
            if self.sc == "dele-err" and int(arg) == 1:
                c.record("deviation", what="dele-err")
                return c.send(b"-ERR message 1 is locked\r\n")
            self.deleted.add(int(arg))
            c.send(b"+OK deleted\r\n")
        elif verb == "RSET":
            self.deleted.clear()
            c.send(b"+OK\r\n")
        else:
            c.send(b"-ERR unknown command\r\n")

    def authorization(self, verb, arg):
        c = self.c
        if verb == "STLS":
            if c.tls or self.sc == "stls-missing" or c.srv.ctx is None:
                return c.send(b"-ERR STLS not available\r\n")
            if self.sc == "stls-err":
                c.record("deviation", what="stls-err")
                return c.send(b"-ERR STLS refused\r\n")
            ok = b"+OK Begin TLS negotiation\r\n"
            if self.sc == "stls-inject":
                c.record("deviation", what="stls-inject")
                ok += b"+OK injected\r\n"
            c.send(ok)                     # one send: the injected line shares the segment
            c.starttls()
            self.user = None
        elif verb == "USER":
            self.user = arg.encode()
            c.send(b"+OK send PASS\r\n")
        elif verb == "PASS" and self.user is not None:
            self.login(c.srv.check(self.user, arg.encode()))
        elif verb == "APOP":
            user, _, digest = arg.partition(" ")
            want = c.srv.args.password
            ok = c.srv.check(user.encode(), None) and (
                want is None or digest == hashlib.md5((self.stamp + want).encode()).hexdigest())
            self.login(ok)
        else:
            c.send(b"-ERR not allowed now\r\n")

    def login(self, ok):
        if not ok:
            self.user = None
            return self.c.send(b"-ERR [AUTH] invalid user name or password\r\n")
        with MAILBOX_LOCK:
            self.msgs = list(MAILBOX)
        self.c.send(f"+OK maildrop has {len(self.msgs)} messages\r\n")


class Server:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.conns = set()
        self.count = 0
        self.ctx = None
        if args.cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ctx.load_cert_chain(args.cert, args.key)
        self.rec = open(args.record, "a", encoding="utf-8") if args.record else None

    def record(self, event, **fields):
        if self.rec:
            line = json.dumps({"event": event, **fields, "t": round(time.time(), 3)})
            with self.lock:
                self.rec.write(line + "\n")
                self.rec.flush()

    def check(self, user, password):
        a = self.args
        return ((a.user is None or user == a.user.encode()) and
                (a.password is None or password is None or password == a.password.encode()))

    def serve(self, sock):
        with self.lock:
            self.count += 1
            conn = Conn(self, sock, self.count)
            self.conns.add(conn)
        conn.record("connect")
        reason = "logout"
        try:
            sock.settimeout(1.0)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.args.implicit_tls and self.args.scenario == "tls-stall":
                conn.record("deviation", what="tls-stall")
                while True:                       # the hello stays unread, unanswered
                    try:
                        if not sock.recv(65536):
                            raise Hangup("the client left during the stalled handshake")
                    except socket.timeout:
                        pass
                    time.sleep(0.05)
            if self.args.implicit_tls:
                conn.starttls()
            (Imap if self.args.proto == "imap" else Pop3)(conn, self.args.scenario).run()
        except (Hangup, OSError) as e:
            reason = str(e) or type(e).__name__
        finally:
            if conn.tls and reason == "logout":   # orderly end: send close_notify, don't wait
                try:
                    conn.sock.settimeout(0)
                    conn.sock.unwrap()
                except (OSError, ValueError):
                    pass
            conn.record("close", tls=conn.tls, reason=reason, **conn.info)
            conn.sock.close()
            with self.lock:
                self.conns.discard(conn)

    def shutdown(self):
        with self.lock:
            for conn in self.conns:       # unblock threads stuck in recv or the handshake
                try:
                    socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
                except OSError:
                    pass


def scenarios():
    """{proto: {name: description}}, parsed from the table in the module docstring."""
    table = {"imap": {}, "pop3": {}}
    for m in re.finditer(r"^  (imap|pop3) +(\S+) +(.+)$", __doc__, re.M):
        table[m[1]][m[2]] = m[3]
    return table


def main():
    p = argparse.ArgumentParser(description="Scripted hostile IMAP/POP3 server for tests.")
    p.add_argument("--proto", choices=("imap", "pop3"))
    p.add_argument("--scenario")
    p.add_argument("--port", type=int, default=0, help="0 = ephemeral (default)")
    p.add_argument("--cert", help="PEM certificate for STARTTLS/STLS and --implicit-tls")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte")
    p.add_argument("--record", help="append JSON events to this file")
    p.add_argument("--ready-file", help="write the port here (atomically) once listening")
    p.add_argument("--user", help="accept only this user name (default: any)")
    p.add_argument("--password", help="accept only this password (default: any)")
    p.add_argument("--messages", type=int, default=0,
                   help="N generated messages instead of the two canned ones")
    p.add_argument("--state-file", help="rewritten with the mailbox (JSON) after every change")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args()
    table = scenarios()
    if args.list:
        for proto, names in table.items():
            for name, text in names.items():
                print(f"{proto} {name:18} {text}")
        return 0
    if not args.proto or args.scenario not in table[args.proto]:
        names = " ".join(table.get(args.proto or "imap"))
        p.error(f"--proto imap|pop3 and --scenario one of: {names}")
    if bool(args.cert) != bool(args.key) or (args.implicit_tls and not args.cert):
        p.error("--cert and --key go together, and --implicit-tls needs them")

    global STATE_FILE
    STATE_FILE = args.state_file
    with MAILBOX_LOCK:
        if args.messages > 0:
            MAILBOX[:] = [generated(7 + 2 * i) for i in range(args.messages)]
        if args.scenario == "range-close":
            big = generated(5)
            big["data"] += b"".join(b"%07d x\r\n" % i for i in range((5 << 20) // 10))
            MAILBOX.insert(0, big)
        save_state()
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    srv = Server(args)
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    if args.ready_file:
        tmp = f"{args.ready_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.ready_file)
    print(port, flush=True)

    threads = []
    while not STOP.is_set():
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            continue
        t = threading.Thread(target=srv.serve, args=(sock,), daemon=True)
        t.start()
        threads = [x for x in threads if x.is_alive()] + [t]
    listener.close()
    srv.shutdown()
    for t in threads:
        t.join(timeout=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
