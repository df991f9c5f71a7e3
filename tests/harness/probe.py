#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Protocol checks against a running harness (Python stdlib only; reads the env file's variables).

  probe.py mail MSGFILE   IMAP and POP3 on every listener: plain, STARTTLS/STLS, implicit TLS
                          verified against the test CA; alice's only message equals MSGFILE;
                          a wrong password fails promptly; every bad certificate fails
                          verification for its own reason and works when verification is off.
  probe.py delete USER    deletes one message over IMAP (UID STORE + UID EXPUNGE) and one over
                          POP3 (DELE + QUIT).
  probe.py proxies        SOCKS5 without and with auth (RFC 1928/1929) and HTTP CONNECT to the
                          Dovecot ports; wrong proxy credentials are refused.
  probe.py login USER     IMAP login; prints the INBOX message count.
Exits non-zero with a message on the first failure.
"""
import imaplib
import os
import poplib
import socket
import ssl
import struct
import sys
import time

ENV = os.environ
HOST = "127.0.0.1"
TIMEOUT = 10
# OpenSSL verify codes each bad certificate must fail with.
BAD_CERTS = {"selfsigned": 18, "expired": 10, "wrongname": 64, "unknownca": 20}


def port(name):
    return int(ENV["INBOXQ_TEST_%s_PORT" % name])


def password(user):
    return ENV.get("INBOXQ_TEST_MAIL_PASS_" + user) or ENV["INBOXQ_TEST_MAIL_PASS_BULK"]


def check(cond, what):
    if not cond:
        sys.exit("probe: FAIL: " + what)


def verifying_ctx():
    ctx = ssl.create_default_context(cafile=ENV["INBOXQ_CA_FILE"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def unverified_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap_login(imap, user):
    imap.login(user, password(user))
    typ, data = imap.select("INBOX")
    check(typ == "OK", "IMAP SELECT INBOX as %s" % user)
    return int(data[0])


def pop3_login(pop, user):
    pop.user(user)
    pop.pass_(password(user))
    return pop.stat()[0]


def check_mail(msgfile):
    want = open(msgfile, "rb").read()
    # IMAP, plain: STARTTLS and AUTH=PLAIN offered, no LOGINDISABLED, UIDPLUS after login.
    imap = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
    check("STARTTLS" in imap.capabilities, "IMAP STARTTLS advertised")
    check("LOGINDISABLED" not in imap.capabilities, "IMAP login allowed in clear")
    check(imap_login(imap, "alice") == 1, "alice has exactly one message")
    check(b"UIDPLUS" in imap.capability()[1][0], "IMAP UIDPLUS after login")
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    check(typ == "OK" and data[0][1] == want, "IMAP BODY[] equals the delivered file")
    imap.logout()
    # IMAP STARTTLS and IMAPS, verified against the test CA (name check on 127.0.0.1).
    imap = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
    imap.starttls(verifying_ctx())
    check(imap_login(imap, "bob") >= 0, "IMAP STARTTLS login as bob")
    imap.logout()
    imap = imaplib.IMAP4_SSL(HOST, port("IMAPS"), ssl_context=verifying_ctx(), timeout=TIMEOUT)
    check(imap_login(imap, "carol") >= 0, "IMAPS login as carol")
    imap.logout()
    imap = imaplib.IMAP4_SSL(HOST, port("IMAPS"), ssl_context=verifying_ctx(), timeout=TIMEOUT)
    check(imap_login(imap, "user050") >= 0, "IMAPS login as user050")
    imap.logout()
    # A wrong password fails, promptly (no auth penalty; Dovecot answers failures within 0.5 s).
    for _ in range(3):
        start = time.monotonic()
        imap = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
        try:
            imap.login("alice", "wrong")
            check(False, "IMAP login with a wrong password must fail")
        except imaplib.IMAP4.error:
            pass
        check(time.monotonic() - start < 2, "IMAP wrong password fails within 2 s")
        imap.shutdown()
    # POP3, plain USER/PASS (no APOP needed): UIDL and STLS offered, RETR equals the file.
    pop = poplib.POP3(HOST, port("POP3"), timeout=TIMEOUT)
    capa = pop.capa()
    check("UIDL" in capa and "STLS" in capa and "USER" in capa, "POP3 CAPA has UIDL STLS USER")
    check(pop3_login(pop, "alice") == 1, "POP3 alice has one message")
    check(len(pop.uidl()[1]) == 1, "POP3 UIDL lists one message")
    lines = pop.retr(1)[1]
    check(b"\r\n".join(lines) + b"\r\n" == want, "POP3 RETR equals the delivered file")
    pop.quit()
    pop = poplib.POP3(HOST, port("POP3"), timeout=TIMEOUT)
    pop.stls(verifying_ctx())
    check(pop3_login(pop, "bob") >= 0, "POP3 STLS login as bob")
    pop.quit()
    pop = poplib.POP3_SSL(HOST, port("POP3S"), context=verifying_ctx(), timeout=TIMEOUT)
    check(pop3_login(pop, "carol") >= 0, "POP3S login as carol")
    pop.quit()
    # Bad certificates: verification fails for the right reason; with it off, mail works.
    for name, code in BAD_CERTS.items():
        for proto in ("IMAPS", "POP3S"):
            p = port("%s_%s" % (proto, name.upper()))
            try:
                with socket.create_connection((HOST, p), TIMEOUT) as sock:
                    verifying_ctx().wrap_socket(sock, server_hostname=HOST)
                check(False, "%s %s: verification must fail" % (proto, name))
            except ssl.SSLCertVerificationError as e:
                check(e.verify_code == code, "%s %s: verify code %s, want %s (%s)" %
                      (proto, name, e.verify_code, code, e.verify_message))
            if proto == "IMAPS":
                imap = imaplib.IMAP4_SSL(HOST, p, ssl_context=unverified_ctx(), timeout=TIMEOUT)
                check(imap_login(imap, "alice") == 1, "IMAPS %s unverified login" % name)
                imap.logout()
            else:
                pop = poplib.POP3_SSL(HOST, p, context=unverified_ctx(), timeout=TIMEOUT)
                check(pop3_login(pop, "alice") == 1, "POP3S %s unverified login" % name)
                pop.quit()
    print("probe: mail ok")


def delete(user):
    imap = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
    check(imap_login(imap, user) >= 2, "%s has at least two messages" % user)
    uid = imap.uid("SEARCH", "ALL")[1][0].split()[0]
    check(imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK", "UID STORE")
    check(imap.uid("EXPUNGE", uid)[0] == "OK", "UID EXPUNGE")
    imap.logout()
    pop = poplib.POP3(HOST, port("POP3"), timeout=TIMEOUT)
    pop3_login(pop, user)
    pop.dele(1)
    pop.quit()
    print("probe: delete ok")


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        check(chunk, "proxy closed the connection early")
        buf += chunk
    return buf


def socks5(proxy_port, dest, dest_port, auth=None):
    """Returns a socket connected through SOCKS5, or the failing step's name."""
    sock = socket.create_connection((HOST, proxy_port), TIMEOUT)
    sock.sendall(b"\x05\x01" + (b"\x02" if auth else b"\x00"))
    ver, method = recv_exact(sock, 2)
    if method == 0xFF:
        return "no acceptable method"
    if auth:
        user, pw = (s.encode() for s in auth)
        sock.sendall(bytes([1, len(user)]) + user + bytes([len(pw)]) + pw)
        if recv_exact(sock, 2)[1] != 0:
            return "authentication refused"
    if dest[0].isdigit():
        addr = b"\x01" + socket.inet_aton(dest)
    else:  # a host name: the proxy resolves it
        addr = b"\x03" + bytes([len(dest)]) + dest.encode()
    sock.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", dest_port))
    reply = recv_exact(sock, 4)
    if reply[1] != 0:
        return "CONNECT refused (%d)" % reply[1]
    recv_exact(sock, {1: 4, 4: 16}[reply[3]] + 2)
    return sock


def greeting(sock, prefix):
    line = sock.makefile("rb").readline()
    sock.close()
    return line.startswith(prefix)


def proxies():
    sp, ap = port("SOCKS"), port("SOCKS_AUTH")
    creds = (ENV["INBOXQ_TEST_SOCKS_AUTH_USER"], ENV["INBOXQ_TEST_SOCKS_AUTH_PASS"])
    s = socks5(sp, HOST, port("IMAP"))
    check(not isinstance(s, str) and greeting(s, b"* OK"), "SOCKS5 to IMAP: %s" % s)
    s = socks5(sp, "localhost", port("POP3"))
    check(not isinstance(s, str) and greeting(s, b"+OK"), "SOCKS5 by name to POP3: %s" % s)
    s = socks5(ap, HOST, port("POP3"), creds)
    check(not isinstance(s, str) and greeting(s, b"+OK"), "SOCKS5 with auth to POP3: %s" % s)
    check(socks5(ap, HOST, port("POP3"), (creds[0], "wrong")) == "authentication refused",
          "SOCKS5 with a wrong password is refused")
    check(socks5(ap, HOST, port("POP3")) == "no acceptable method",
          "SOCKS5 without auth is refused by the authenticating proxy")
    sock = socket.create_connection((HOST, port("HTTP_PROXY")), TIMEOUT)
    target = "%s:%d" % (HOST, port("IMAP"))
    sock.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
    f = sock.makefile("rb")
    status = f.readline()
    check(status.split()[1:2] == [b"200"], "HTTP CONNECT status: %r" % status)
    while f.readline() not in (b"\r\n", b"\n", b""):
        pass
    check(f.readline().startswith(b"* OK"), "IMAP greeting through HTTP CONNECT")
    sock.close()
    print("probe: proxies ok")


def main():
    args = sys.argv[1:]
    if args[:1] == ["mail"] and len(args) == 2:
        check_mail(args[1])
    elif args[:1] == ["delete"] and len(args) == 2:
        delete(args[1])
    elif args == ["proxies"]:
        proxies()
    elif args[:1] == ["login"] and len(args) == 2:
        imap = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
        print(imap_login(imap, args[1]))
        imap.logout()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, KeyError) as e:
        sys.exit("probe: FAIL: %s: %s" % (type(e).__name__, e))
