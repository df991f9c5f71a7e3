#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""API tests of `inboxq serve` against a real server and PostgreSQL (run by console_api.sh).

Every endpoint of schemas/openapi.json: unauthenticated -> 401 (all but health and sign-in),
each role allowed or 403, responses validated against the document's schemas (jsonschema,
Draft 2020-12, which OpenAPI 3.1 uses), field-naming 422s, stale edits -> 409, ETags, paging
at 31 accounts, filters, injection-safe CSV, CSRF, session fixation, sign-out, throttling,
API tokens, the audit naming the operator, and 10,006 malformed or oversized requests -> 4xx with
the server alive.

  console_api.py BASE_URL OPENAPI_JSON   (passwords in IQ_PW_ADMIN, IQ_PW_OPERATOR, IQ_PW_AUDITOR;
                                          an API token in IQ_API_TOKEN)
"""
import http.client
import json
import os
import random
import socket
import sys
import urllib.parse

import jsonschema

BASE = urllib.parse.urlparse(sys.argv[1])
DOC = json.load(open(sys.argv[2]))
HOST, PORT = BASE.hostname, BASE.port
passed = 0
failures = []


def check(cond, what):
    global passed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failures.append(what)
        print("FAIL - " + what)


def validate(body, schema_name, what):
    schema = dict(DOC)
    schema["$ref"] = "#/components/schemas/" + schema_name
    try:
        jsonschema.Draft202012Validator(schema).validate(body)
        check(True, what + " matches " + schema_name)
    except jsonschema.ValidationError as e:
        check(False, "%s matches %s: %s" % (what, schema_name, e.message))


class Client:
    def __init__(self, token=None):
        self.cookie = None
        self.csrf = None
        self.token = token

    def req(self, method, path, body=None, headers=None, raw=None, ctype="application/json"):
        h = dict(headers or {})
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None and ctype and "Content-Type" not in h:
            h["Content-Type"] = ctype
        if self.cookie:
            h["Cookie"] = "iq_session=" + self.cookie
        if self.csrf and method not in ("GET", "HEAD") and "X-CSRF-Token" not in h:
            h["X-CSRF-Token"] = self.csrf
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        c = http.client.HTTPConnection(HOST, PORT, timeout=10)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        sc = r.getheader("Set-Cookie")
        if sc and sc.startswith("iq_session="):
            self.cookie = sc.split(";")[0].split("=", 1)[1] or None
        try:
            js = json.loads(text) if text and "json" in (r.getheader("Content-Type") or "") else None
        except ValueError:
            js = None
        return r.status, js, r, text

    def sign_in(self, name, password):
        st, js, r, _ = self.req("POST", "/api/v1/session", {"name": name, "password": password})
        if st == 200:
            self.csrf = js.get("csrf")
        return st, js, r


def err_field(js):
    return ((js or {}).get("error") or {}).get("field")


pw = {r: os.environ["IQ_PW_" + r.upper()] for r in ("admin", "operator", "auditor")}
anon = Client()

# ---- health and static files ----
st, _, r, text = anon.req("GET", "/healthz")
check(st == 200 and text == b"ok\n", "/healthz answers without a session")
st, _, r, text = anon.req("GET", "/")
csp = r.getheader("Content-Security-Policy") or ""
check(st == 200 and b"<html" in text.lower(), "/ serves the console's page")
check("default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
      "a strict Content-Security-Policy: " + csp)
check(r.getheader("X-Frame-Options") == "DENY" and r.getheader("X-Content-Type-Options") == "nosniff",
      "no framing, no sniffing")

# ---- unauthenticated: 401 everywhere but health and sign-in ----
n401 = 0
for path, item in DOC["paths"].items():
    if path == "/healthz":
        continue
    for method in ("get", "post", "patch", "delete"):
        if method not in item or (path == "/api/v1/session" and method == "post"):
            continue
        p = path.replace("{id}", "1")
        st, js, _, _ = anon.req(method.upper(), p, {} if method in ("post", "patch") else None)
        ok = st == 401 and js is not None
        if ok:
            validate(js, "Error", "401 of %s %s" % (method.upper(), p))
        check(ok, "unauthenticated %s %s -> 401 (got %d)" % (method.upper(), p, st))
        n401 += ok
check(n401 >= 17, "every protected endpoint was tried unauthenticated (%d)" % n401)

# ---- sign-in per role ----
clients = {}
for role in ("admin", "operator", "auditor"):
    c = Client()
    st, js, r = c.sign_in("iq-" + role, pw[role])
    check(st == 200, "%s signs in" % role)
    validate(js, "Session", "sign-in of " + role)
    sc = r.getheader("Set-Cookie") or ""
    check("HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc and "Max-Age=" in sc,
          "the session cookie is HttpOnly, SameSite=Strict: " + sc.split(";", 1)[1])
    check("Secure" not in sc, "no Secure flag on plain loopback HTTP")
    st, js, _, _ = c.req("GET", "/api/v1/session")
    check(st == 200 and js["role"] == role and js["csrf"] == c.csrf, "%s's session reads back" % role)
    clients[role] = c
adm, op, aud = clients["admin"], clients["operator"], clients["auditor"]

st, js, _ = Client().sign_in("iq-admin", "wrong password")
check(st == 401, "a wrong password -> 401")
validate(js, "Error", "a refused sign-in")
st, js, _ = Client().sign_in("nobody-here", "whatever1")
check(st == 401, "an unknown name -> 401, the same answer")
st, js, _, _ = Client().req("POST", "/api/v1/session", {"name": "iq-admin"})
check(st == 422 and err_field(js) == "password", "sign-in without password -> 422 naming it")

# ---- credentials (admin writes, secrets never shown) ----
secret = "s3cret-%08x" % random.getrandbits(32)
st, js, _, _ = op.req("POST", "/api/v1/credentials", {"name": "c2", "username": "u", "secret": secret})
check(st == 403, "operator may not add credentials -> 403")
st, js, _, _ = aud.req("POST", "/api/v1/credentials", {"name": "c2", "username": "u", "secret": secret})
check(st == 403, "auditor may not add credentials -> 403")
st, js, _, _ = adm.req("POST", "/api/v1/credentials", {"name": "c2", "username": "u", "secret": secret})
check(st == 201, "admin adds a credential -> 201")
validate(js, "Created", "credential created")
st, js, _, _ = adm.req("POST", "/api/v1/credentials", {"name": "c3", "username": "u"})
check(st == 422 and err_field(js) == "secret", "a credential without secret -> 422 naming secret")
for role, c in clients.items():
    st, js, _, text = c.req("GET", "/api/v1/credentials")
    check(st == 200 and secret.encode() not in text, "%s lists credentials, no secret in them" % role)
    validate(js, "CredentialList", "credentials of " + role)
    st, js, _, _ = c.req("GET", "/api/v1/connectors")
    check(st == 200, "%s lists connectors" % role)
    validate(js, "ConnectorList", "connectors")

# ---- accounts: add, validation, paging, filters ----
base = {"host": "mail.example.org", "protocol": "imap", "credential": "c1", "secure": True,
        "secure_type": "ssl"}
st, js, _, _ = aud.req("POST", "/api/v1/accounts", dict(base, name="nope"))
check(st == 403, "auditor may not add accounts -> 403")
validate(js, "Error", "403")
st, js, _, _ = op.req("POST", "/api/v1/accounts", dict(base, name="bad-port", port=99999))
check(st == 422 and err_field(js) == "port", "port 99999 -> 422 naming port: %s" % js)
validate(js, "Error", "422")
st, js, _, _ = op.req("POST", "/api/v1/accounts", dict(base, name="x", colour="red"))
check(st == 422 and err_field(js) == "colour", "an unknown field -> 422 naming it")
st, js, _, _ = op.req("POST", "/api/v1/accounts", {"name": "no-host", "protocol": "imap", "credential": "c1"})
check(st == 422 and err_field(js) == "host", "a missing host -> 422 naming host")
st, js, _, _ = op.req("POST", "/api/v1/accounts", raw=b"{not json")
check(st == 400, "a body that is not JSON -> 400")
st, js, _, _ = op.req("POST", "/api/v1/accounts", raw=b"name=x", ctype="application/x-www-form-urlencoded")
check(st == 415, "a form post -> 415 (JSON only)")

pre = aud.req("GET", "/api/v1/accounts")[1]["total"]  # the shell's accounts for Test connection
# (a bidi control such as U+202E is refused in names since issue 12 item 19: checked below)
hostile = "=HYPERLINK(\"http://evil/\",\"x\") <script>alert(1)</script> gnp.exe"
st, js, _, _ = op.req("POST", "/api/v1/accounts", dict(base, name="RTL \u202eevil"))
check(st == 422 and js["error"]["field"] == "name" and "U+202E" in js["error"]["message"],
      "a name with a bidi control -> 422 naming the field and the code point")
ids = []
for i in range(31):
    name = hostile if i == 0 else "acct-%02d" % i
    extra = {"auto_check": i % 2 == 0, "keep_copy": i % 3 != 0, "secure": i % 4 != 0}
    body = dict(base, name=name, **extra)
    if not extra["secure"]:
        body.pop("secure_type", None)
    st, js, r, _ = (op if i % 2 else adm).req("POST", "/api/v1/accounts", body)
    if st != 201:
        check(False, "add account %d: %d %s" % (i, st, js))
        break
    ids.append(js["id"])
check(len(ids) == 31, "31 accounts added through the API (operator and admin)")
check(r.getheader("Location") == "/api/v1/accounts/%d" % ids[-1], "201 carries Location")

for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/accounts")
    check(st == 200 and len(js["accounts"]) == 30 and js["total"] == pre + 31 and js["pages"] == 2,
          "%s: page 1 holds 30 of %d accounts" % (role, pre + 31))
    validate(js, "AccountPage", "page 1 for " + role)
st, js, _, _ = aud.req("GET", "/api/v1/accounts?page=2")
check(st == 200 and len(js["accounts"]) == pre + 1 and js["accounts"][-1]["id"] == ids[-1],
      "page 2 holds the rest, the last added last")
st, js, _, _ = aud.req("GET", "/api/v1/accounts")
cur = js["next_cursor"]
check(cur == str(js["accounts"][-1]["id"]), "page 1 gives next_cursor, the last code shown: %s" % cur)
by_number = [a["id"] for a in aud.req("GET", "/api/v1/accounts?page=2")[1]["accounts"]]
st, js, _, _ = aud.req("GET", "/api/v1/accounts?after=" + str(cur))
check(st == 200 and [a["id"] for a in js["accounts"]] == by_number and js["page"] is None
      and js["next_cursor"] is None and js["total"] == pre + 31,
      "after=next_cursor gives what page 2 gives, and no further cursor")
validate(js, "AccountPage", "a page by cursor")
st, js, _, _ = aud.req("GET", "/api/v1/accounts?after=%d&name=acct-0" % ids[3])
check(st == 200 and [a["name"] for a in js["accounts"]] == ["acct-%02d" % i for i in range(4, 10)],
      "a cursor with a filter: the matches after it, in code order")
for q in ("after=abc", "after=-1", "after=%s&page=2" % cur):
    st, js, _, _ = aud.req("GET", "/api/v1/accounts?" + q)
    check(st == 422 and err_field(js) == "after", "%s -> 422 naming after" % q)
st, js, _, _ = aud.req("GET", "/api/v1/accounts?name=acct-1")
check(st == 200 and js["total"] == 10, "name filter 'acct-1' -> 10 accounts (got %s)" % js.get("total"))
st, js, _, _ = aud.req("GET", "/api/v1/accounts?auto_check=yes&active=yes")
check(st == 200 and js["total"] == 16 and all(a["auto_check"] for a in js["accounts"]),
      "auto_check=yes -> the 16 even ones")
st, js, _, _ = aud.req("GET", "/api/v1/accounts?secure=maybe")
check(st == 422 and err_field(js) == "secure", "secure=maybe -> 422 naming secure")
st, js, _, _ = aud.req("GET", "/api/v1/accounts?page=0")
check(st == 422 and err_field(js) == "page", "page=0 -> 422 naming page")

st, _, r, text = aud.req("GET", "/api/v1/accounts.csv")
lines = text.decode().splitlines()
check(st == 200 and (r.getheader("Content-Type") or "").startswith("text/csv") and len(lines) == pre + 32,
      "CSV export: a header and every account")
check("attachment" in (r.getheader("Content-Disposition") or ""), "CSV comes as an attachment")
check(r.getheader("Transfer-Encoding") == "chunked", "CSV is streamed (chunked), not built whole first")
check(any("'=HYPERLINK" in l for l in lines) and not any(',=HYPERLINK' in l or l.startswith("=") for l in lines),
      "the hostile name is neutralised in CSV as the CLI does ('=...)")
st, _, r, text = aud.req("GET", "/api/v1/accounts.csv?name=acct-1&lang=pt-BR")
lines = text.decode("utf-8-sig").splitlines()
check(st == 200 and len(lines) == 11 and text.startswith(b"\xef\xbb\xbf") and ";" in lines[0],
      "a filtered CSV in pt-BR: 10 rows, the spreadsheet dialect (BOM, ';')")
st, js, _, _ = aud.req("GET", "/api/v1/accounts.csv?secure=maybe")
check(st == 422 and err_field(js) == "secure", "CSV with secure=maybe -> 422 naming secure")

# ---- show, ETag, edit, stale edit ----
aid = ids[1]
st, js, r, _ = aud.req("GET", "/api/v1/accounts/%d" % aid)
check(st == 200 and r.getheader("ETag") == '"v%d"' % js["version"], "show has ETag \"vN\"")
validate(js, "Account", "account")
v = js["version"]
st, js, _, _ = aud.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Archive", "version": v})
check(st == 403, "auditor may not edit -> 403")
st, js, _, _ = op.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Archive"})
check(st == 422 and err_field(js) == "version", "an edit without version -> 422 naming version")
st, js, _, _ = op.req("PATCH", "/api/v1/accounts/%d" % aid, {"port": "abc", "version": v})
check(st == 422 and err_field(js) == "port", "an edit with port 'abc' -> 422 naming port")
st, js, _, _ = op.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Archive", "version": v})
check(st == 200 and js["folder"] == "Archive" and js["version"] == v + 1, "operator edits -> 200, version+1")
validate(js, "Account", "edited account")
st, js, _, _ = adm.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Other", "version": v})
check(st == 409, "a stale edit (old version) -> 409")
validate(js, "Error", "409")
st, js, _, _ = adm.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Other"}, headers={"If-Match": '"v%d"' % v})
check(st == 409, "a stale If-Match -> 409")
st, js, _, _ = adm.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Other"}, headers={"If-Match": '"v%d"' % (v + 1)})
check(st == 200 and js["folder"] == "Other", "a fresh If-Match -> 200")
st, js, _, _ = aud.req("GET", "/api/v1/accounts/999999")
check(st == 404, "no such account -> 404")
validate(js, "Error", "404")
st, js, _, _ = aud.req("GET", "/api/v1/accounts/abc")
check(st == 404, "a non-numeric id -> 404")
st, js, _, _ = aud.req("PUT", "/api/v1/accounts/%d" % aid, {})
check(st in (403, 405), "PUT is not a method of accounts (%d)" % st)

# ---- inbox and runs (every role reads) ----
for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/accounts/%d/inbox" % aid)
    check(st == 200 and js["messages"] == [], "%s reads an (empty) inbox" % role)
    validate(js, "Inbox", "inbox")
    st, js, _, _ = c.req("GET", "/api/v1/accounts/%d/runs" % aid)
    check(st == 200 and js["runs"] == [], "%s reads the (empty) run history" % role)
    validate(js, "Runs", "runs")
st, js, _, _ = aud.req("GET", "/api/v1/accounts/999999/inbox")
check(st == 404, "the inbox of no account -> 404")

# ---- Test connection and Check now (operator) ----
mid = int(os.environ["IQ_MAILBOX_ID"])
st, js, _, _ = aud.req("POST", "/api/v1/accounts/%d/test" % mid)
check(st == 403, "auditor may not test a connection -> 403")
st, js, _, _ = op.req("POST", "/api/v1/accounts/%d/test" % mid)
check(st == 200 and js["ok"] is True and all(s["state"] in ("ok", "skipped") for s in js["steps"]),
      "operator tests the connection to the harness's Dovecot: every step ok: %s" % (js and js.get("steps")))
validate(js, "TestResult", "test result")
st, js, _, _ = op.req("POST", "/api/v1/accounts/%s/test" % os.environ["IQ_CLOSED_ID"])
check(st == 200 and js["ok"] is False and js["error_class"] and "FAILED" in [s["state"] for s in js["steps"]],
      "a test of a closed port names the failed step: %s" % (js and js.get("error_class")))
validate(js, "TestResult", "failed test result")
st, js, _, _ = op.req("POST", "/api/v1/accounts/999999/test")
check(st == 404, "testing no account -> 404")
st, js, _, _ = aud.req("POST", "/api/v1/accounts/%d/check" % mid)
check(st == 403, "auditor may not check now -> 403")
st, js, _, _ = op.req("POST", "/api/v1/accounts/%d/check" % mid)
check(st == 202, "operator asks for a check now -> 202")
validate(js, "CheckJob", "check job")
print("check-job " + (js or {}).get("job_id", ""))
st, js, _, _ = op.req("GET", "/api/v1/accounts/%d/check" % mid)
check(st == 405, "GET on check -> 405")

# ---- enable / disable / delete ----
for action, want in (("disable", False), ("enable", True)):
    st, js, _, _ = aud.req("POST", "/api/v1/accounts/%d/%s" % (aid, action))
    check(st == 403, "auditor may not %s -> 403" % action)
    st, js, _, _ = op.req("POST", "/api/v1/accounts/%d/%s" % (aid, action))
    check(st == 200 and js["active"] is want, "operator can %s" % action)
    validate(js, "Account", action)
st, js, _, _ = aud.req("DELETE", "/api/v1/accounts/%d" % ids[-1])
check(st == 403, "auditor may not delete -> 403")
st, js, _, _ = op.req("DELETE", "/api/v1/accounts/%d" % ids[-1])
check(st == 204, "operator deletes -> 204")
st, js, _, _ = op.req("DELETE", "/api/v1/accounts/%d" % ids[-1])
check(st == 404, "deleting it again -> 404")

# ---- status (every role) ----
for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/status")
    check(st == 200 and js["accounts"]["active"] == js["accounts"]["ok"] + js["accounts"]["failed"]
          + js["accounts"]["partial"] + js["accounts"]["never_checked"] and js["accounts"]["active"] >= 30,
          "%s reads the status: accounts by outcome add up (%s)" % (role, js and js.get("accounts")))
    validate(js, "Status", "status of " + role)
check(isinstance(js["workers"]["live"], list) and "available" in js["kafka"],
      "the status names live workers and the Kafka lag (or why not)")

# ---- reports: operator and admin render, every role reads ----
st, js, _, _ = aud.req("POST", "/api/v1/reports", {"format": "csv"})
check(st == 403, "auditor may not render a report -> 403")
for bad, field in (({"format": "docx"}, "format"), ({}, "format"), ({"format": "csv", "lang": "fr"}, "lang"),
                   ({"format": "csv", "filters": {"secure": "maybe"}}, "filters.secure"),
                   ({"format": "csv", "filters": {"colour": "red"}}, "filters.colour"),
                   ({"format": "csv", "filters": "active"}, "filters"),
                   ({"format": "csv", "direct": "yes"}, "direct"), ({"format": "csv", "copies": 2}, "copies")):
    st, js, _, _ = op.req("POST", "/api/v1/reports", bad)
    check(st == 422 and err_field(js) == field, "report %s -> 422 naming %s (%s)" % (bad, field, err_field(js)))
validate(js, "Error", "report 422")
st, js, r, text = op.req("POST", "/api/v1/reports", {"format": "csv", "direct": True, "filters": {"name": "acct-1"}})
lines = text.decode().splitlines()
check(st == 200 and (r.getheader("Content-Type") or "").startswith("text/csv") and len(lines) == 11
      and "attachment" in (r.getheader("Content-Disposition") or ""),
      "a direct CSV report of name 'acct-1': a header and 10 rows, as an attachment (%d lines)" % len(lines))
st, js, r, text = adm.req("POST", "/api/v1/reports", {"format": "html", "direct": True, "lang": "pt-BR",
                                                      "filters": {"name": "HYPERLINK"}})
check(st == 200 and (r.getheader("Content-Type") or "").startswith("text/html") and b"<script>alert" not in text
      and b"&lt;script&gt;" in text, "a direct HTML report shows the hostile name escaped")
st, js, r, text = op.req("POST", "/api/v1/reports", {"format": "pdf", "direct": True})
check(st == 200 and r.getheader("Content-Type") == "application/pdf" and text.startswith(b"%PDF-"),
      "a direct PDF report is a PDF")
st, js, r, _ = op.req("POST", "/api/v1/reports", {"format": "pdf", "lang": "pt-BR", "filters": {"active": "yes"}})
check(st == 202 and r.getheader("Location") == "/api/v1/reports/%s" % (js or {}).get("id"),
      "operator queues a PDF report job -> 202 with Location")
validate(js, "ReportJob", "report job")
report_id = (js or {}).get("id", 0)
print("report-job %s %s" % (report_id, (js or {}).get("job_id", "")))
for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/reports/%d" % report_id)
    check(st == 200 and js["status"] == "pending" and js["format"] == "pdf" and js["requested_by"] == "console:iq-operator",
          "%s reads the queued report: pending, requested by console:iq-operator" % role)
    validate(js, "Report", "report for " + role)
st, js, _, _ = aud.req("GET", "/api/v1/reports/%d/output" % report_id)
check(st == 409 and "not rendered yet" in js["error"]["message"], "the output of a pending report -> 409")
for path in ("/api/v1/reports/999999", "/api/v1/reports/999999/output", "/api/v1/reports/abc",
             "/api/v1/reports/%d/pages" % report_id):
    st, js, _, _ = aud.req("GET", path)
    check(st == 404, "GET %s -> 404" % path)
st, js, _, _ = aud.req("GET", "/api/v1/reports")
check(st == 405, "GET /api/v1/reports -> 405 (POST renders)")

# ---- report schedules ----
sched = {"name": "weekly-ops", "cron": "0 7 * * 1", "format": "pdf", "lang": "pt-BR",
         "filters": {"active": "yes", "name": "acct"}}
st, js, _, _ = aud.req("POST", "/api/v1/reports/schedules", sched)
check(st == 403, "auditor may not schedule a report -> 403")
for bad, field in ((dict(sched, cron="61 * * * *"), "cron"), (dict(sched, cron="every monday"), "cron"),
                   ({"cron": "@daily", "format": "csv"}, "name"), (dict(sched, name="a\tb"), "name"),
                   (dict(sched, format="xls"), "format"), (dict(sched, output_dir="reports"), "output_dir"),
                   (dict(sched, output_dir="/nonexistent/inboxq"), "output_dir"),
                   (dict(sched, filters={"keep_copy": "perhaps"}), "filters.keep_copy"),
                   (dict(sched, colour="red"), "colour")):
    st, js, _, _ = op.req("POST", "/api/v1/reports/schedules", bad)
    check(st == 422 and err_field(js) == field, "schedule with %s -> 422 naming %s (%s: %s)"
          % ({k: v for k, v in bad.items() if sched.get(k) != v}, field, err_field(js), js and js["error"]["message"]))
st, js, r, _ = op.req("POST", "/api/v1/reports/schedules", sched)
check(st == 201 and len(js["next_runs"]) == 3 and "T07:00:00" in js["next_runs"][0],
      "operator schedules a report -> 201 with its next runs (%s)" % js)
validate(js, "ScheduleCreated", "schedule created")
sid = (js or {}).get("id", 0)
st, js, _, _ = adm.req("POST", "/api/v1/reports/schedules", dict(sched, name="WEEKLY-ops"))
check(st == 422 and err_field(js) == "name" and "already exists" in js["error"]["message"],
      "a name taken (ignoring case) -> 422 naming name")
for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/reports/schedules")
    mine = [s for s in (js or {}).get("schedules", []) if s["id"] == sid]
    check(st == 200 and len(mine) == 1 and mine[0]["cron"] == "0 7 * * 1" and mine[0]["filters"].get("name") == "acct",
          "%s lists the schedule with its cron and filters" % role)
    validate(js, "ScheduleList", "schedules for " + role)
st, js, _, _ = aud.req("DELETE", "/api/v1/reports/schedules/%d" % sid)
check(st == 403, "auditor may not delete a schedule -> 403")
st, js, _, _ = adm.req("DELETE", "/api/v1/reports/schedules/%d" % sid)
check(st == 204, "admin deletes the schedule -> 204")
st, js, _, _ = adm.req("DELETE", "/api/v1/reports/schedules/%d" % sid)
check(st == 404, "deleting it again -> 404")
validate(js, "Error", "schedule 404")
st, js, _, _ = aud.req("GET", "/api/v1/audit?entity=schedule&entity_id=%d" % sid)
check(st == 200 and {(a["action"], a["actor"]) for a in js["audit"]} ==
      {("create", "console:iq-operator"), ("delete", "console:iq-admin")},
      "the schedule's audit names who added and who deleted it")

# ---- CSRF ----
for hdr in ({"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": aud.csrf}):
    st, js, _, _ = op.req("PATCH", "/api/v1/accounts/%d" % aid, {"folder": "Evil", "version": 99}, headers=hdr)
    check(st == 403 and "X-CSRF-Token" in js["error"]["message"],
          "a state change with a wrong CSRF token -> 403")
nocsrf = Client()
nocsrf.cookie = op.cookie
st, js, _, _ = nocsrf.req("POST", "/api/v1/accounts/%d/disable" % aid)
check(st == 403, "a state change with the cookie and no CSRF token -> 403")
st, js, _, _ = aud.req("GET", "/api/v1/accounts/%d" % aid)
check(js["folder"] == "Other" and js["active"] is True, "nothing changed by the refused requests")

# ---- audit ----
for role, c in clients.items():
    st, js, _, _ = c.req("GET", "/api/v1/audit?entity=account&entity_id=%d" % aid)
    check(st == 200, "%s reads the audit" % role)
    validate(js, "AuditList", "audit")
actors = {row["actor"] for row in js["audit"]}
check({"console:iq-operator", "console:iq-admin"} <= actors, "the audit names the operators: %s" % actors)
st, js, _, _ = aud.req("GET", "/api/v1/audit?entity_id=x")
check(st == 422 and err_field(js) == "entity_id", "entity_id=x -> 422")

# ---- operators (admin only) ----
st, js, _, _ = adm.req("GET", "/api/v1/operators")
check(st == 200 and len(js["operators"]) >= 3, "admin lists operators")
validate(js, "OperatorList", "operators")
for role in ("operator", "auditor"):
    st, js, _, _ = clients[role].req("GET", "/api/v1/operators")
    check(st == 403, "%s may not list operators -> 403" % role)

# ---- connectors: admin writes, every role reads ----
conn = {"name": "proxy-1", "type": "socks5", "host": "127.0.0.1", "port": 1080}
for role in ("operator", "auditor"):
    st, js, _, _ = clients[role].req("POST", "/api/v1/connectors", conn)
    check(st == 403, "%s may not add a connector -> 403" % role)
for bad, field in ((dict(conn, type="ftp"), "type"), (dict(conn, port=0), "port"), (dict(conn, colour="red"), "colour"),
                   ({"type": "http", "host": "h", "port": 3128}, "name"), (dict(conn, credential="no-such-cred"), "credential")):
    st, js, _, _ = adm.req("POST", "/api/v1/connectors", bad)
    check(st == 422 and err_field(js) == field, "connector %s -> 422 naming %s (%s)" % (bad, field, js and js["error"]["message"]))
st, js, r, _ = adm.req("POST", "/api/v1/connectors", dict(conn, credential="c1"))
check(st == 201 and js["credential"] == "c1" and r.getheader("Location") == "/api/v1/connectors/%s" % js.get("id"),
      "admin adds a connector -> 201 with Location")
validate(js, "Connector", "connector created")
cid, cv = (js or {}).get("id", 0), (js or {}).get("version", 0)
st, js, _, _ = adm.req("POST", "/api/v1/connectors", dict(conn, name="PROXY-1"))
check(st == 422 and err_field(js) == "name" and "already exists" in js["error"]["message"], "a taken connector name -> 422")
for role, c in clients.items():
    st, js, r, _ = c.req("GET", "/api/v1/connectors/%d" % cid)
    check(st == 200 and js["name"] == "proxy-1" and r.getheader("ETag") == '"v%d"' % cv, "%s reads the connector with its ETag" % role)
    validate(js, "Connector", "connector for " + role)
st, js, _, _ = op.req("PATCH", "/api/v1/connectors/%d" % cid, {"port": 1081, "version": cv})
check(st == 403, "operator may not edit a connector -> 403")
st, js, _, _ = adm.req("PATCH", "/api/v1/connectors/%d" % cid, {"port": 1081})
check(st == 422 and err_field(js) == "version", "a connector edit without version -> 422 naming version")
st, js, _, _ = adm.req("PATCH", "/api/v1/connectors/%d" % cid, {"port": "x", "version": cv})
check(st == 422 and err_field(js) == "port", "a connector edit with port 'x' -> 422 naming port")
st, js, _, _ = adm.req("PATCH", "/api/v1/connectors/%d" % cid, {"port": 1081, "credential": None, "version": cv})
check(st == 200 and js["port"] == 1081 and js["credential"] is None and js["version"] == cv + 1,
      "admin edits the connector (port, login removed) -> 200, version+1")
st, js, _, _ = adm.req("PATCH", "/api/v1/connectors/%d" % cid, {"port": 1082, "version": cv})
check(st == 409, "a stale connector edit -> 409")
st, js, _, _ = adm.req("PATCH", "/api/v1/connectors/%d" % cid, {"host": "127.0.0.2"}, headers={"If-Match": '"v%d"' % (cv + 1)})
check(st == 200 and js["host"] == "127.0.0.2", "a connector edit with a fresh If-Match -> 200")
st, js, _, _ = op.req("POST", "/api/v1/accounts", dict(base, name="via-proxy", use_connector=True, connector="proxy-1"))
check(st == 201, "an account uses the connector")
st, js, _, _ = adm.req("DELETE", "/api/v1/connectors/%d" % cid)
check(st == 409 and "via-proxy" in js["error"]["message"], "deleting a connector in use -> 409 naming the account")
st, js, _, _ = op.req("DELETE", "/api/v1/connectors/%d" % cid)
check(st == 403, "operator may not delete a connector -> 403")
st, js, _, _ = adm.req("POST", "/api/v1/connectors", dict(conn, name="proxy-2", type="http", port=3128))
cid2 = (js or {}).get("id", 0)
st, js, _, _ = adm.req("DELETE", "/api/v1/connectors/%d" % cid2)
check(st == 204, "admin deletes an unused connector -> 204")
st, js, _, _ = adm.req("DELETE", "/api/v1/connectors/%d" % cid2)
check(st == 404, "deleting it again -> 404")
st, js, _, _ = aud.req("GET", "/api/v1/connectors/999999")
check(st == 404, "no such connector -> 404")
st, js, _, _ = aud.req("GET", "/api/v1/audit?entity=connector&entity_id=%d" % cid)
check(st == 200 and {a["actor"] for a in js["audit"]} == {"console:iq-admin"} and len(js["audit"]) == 3,
      "the connector's audit: created and edited twice by console:iq-admin")

# ---- operators: admin adds, changes roles, disables, deletes; never a hash ----
newop = {"name": "iq-new", "role": "operator", "password": "long enough pw %d" % random.getrandbits(20)}
st, js, _, _ = op.req("POST", "/api/v1/operators", newop)
check(st == 403, "operator may not add operators -> 403")
for bad, field in ((dict(newop, password="short"), "password"), (dict(newop, name="bad name"), "name"),
                   (dict(newop, role="root"), "role"), ({"name": "x1", "role": "auditor"}, "password"),
                   (dict(newop, pw_hash="$argon2id$"), "pw_hash")):
    st, js, _, _ = adm.req("POST", "/api/v1/operators", bad)
    check(st == 422 and err_field(js) == field, "operator %s -> 422 naming %s (%s)" % (
        {k: v for k, v in bad.items() if k != "password"}, field, err_field(js)))
st, js, r, _ = adm.req("POST", "/api/v1/operators", newop)
check(st == 201 and r.getheader("Location") == "/api/v1/operators/%s" % (js or {}).get("id"), "admin adds an operator -> 201")
validate(js, "Created", "operator created")
nid = (js or {}).get("id", 0)
st, js, _, _ = adm.req("POST", "/api/v1/operators", newop)
check(st == 409 and err_field(js) == "name", "a taken operator name -> 409 naming name")
st, js, _, text = adm.req("GET", "/api/v1/operators")
check(st == 200 and any(o["name"] == "iq-new" and o["role"] == "operator" for o in js["operators"])
      and b"argon2" not in text and newop["password"].encode() not in text, "the list shows it, never a hash or password")
newc = Client()
st, js, _ = newc.sign_in("iq-new", newop["password"])
check(st == 200 and js["role"] == "operator", "the new operator signs in")
st, js, _, _ = adm.req("PATCH", "/api/v1/operators/%d" % nid, {"role": "auditor"})
check(st == 200 and js["role"] == "auditor" and js["active"] is True, "admin makes it an auditor -> 200")
validate(js, "Operator", "operator changed")
st, js, _, _ = newc.req("GET", "/api/v1/session")
check(st == 200 and js["role"] == "auditor", "its live session has the new role at once")
st, js, _, _ = newc.req("POST", "/api/v1/accounts/%d/disable" % aid)
check(st == 403, "... and may no longer change accounts")
for bad, field in (({"role": "boss"}, "role"), ({"active": "no"}, "active"), ({}, "role"), ({"password": "newpassword"}, "password")):
    st, js, _, _ = adm.req("PATCH", "/api/v1/operators/%d" % nid, bad)
    check(st == 422 and err_field(js) == field, "operator change %s -> 422 naming %s" % (list(bad), field))
st, js, _, _ = adm.req("PATCH", "/api/v1/operators/%d" % nid, {"active": False})
check(st == 200 and js["active"] is False, "admin disables it -> 200")
st, js, _, _ = newc.req("GET", "/api/v1/session")
check(st == 401, "a disabled operator is signed out at once")
st, js, _ = Client().sign_in("iq-new", newop["password"])
check(st == 401, "... and cannot sign in")
me = [o for o in adm.req("GET", "/api/v1/operators")[1]["operators"] if o["name"] == "iq-admin"][0]["id"]
st, js, _, _ = adm.req("PATCH", "/api/v1/operators/%d" % me, {"role": "auditor"})
check(st == 409, "an admin cannot demote itself -> 409")
st, js, _, _ = adm.req("DELETE", "/api/v1/operators/%d" % me)
check(st == 409, "an admin cannot delete itself -> 409")
st, js, _, _ = aud.req("DELETE", "/api/v1/operators/%d" % nid)
check(st == 403, "auditor may not delete operators -> 403")
st, js, _, _ = adm.req("DELETE", "/api/v1/operators/%d" % nid)
check(st == 204, "admin deletes the operator -> 204")
st, js, _, _ = adm.req("GET", "/api/v1/operators/%d" % nid)
check(st == 404, "it is gone -> 404")
st, js, _, text = aud.req("GET", "/api/v1/audit?entity=operator&entity_id=%d" % nid)
check(st == 200 and [a["action"] for a in js["audit"]] == ["delete", "update", "update", "create"]
      and {a["actor"] for a in js["audit"]} == {"console:iq-admin"} and b"password" not in text and b"argon2" not in text,
      "the operator's audit: created, changed twice, deleted by console:iq-admin, no password or hash")

# ---- API token ----
tok = Client(token=os.environ["IQ_API_TOKEN"])
st, js, _, _ = tok.req("GET", "/api/v1/session")
check(st == 200 and js["role"] == "operator" and "csrf" not in js, "an API token signs in with its role, no CSRF")
st, js, _, _ = tok.req("POST", "/api/v1/accounts/%d/disable" % aid)
check(st == 200, "a Bearer token changes state without a CSRF token")
st, js, _, _ = tok.req("POST", "/api/v1/credentials", {"name": "c9", "username": "u", "secret": "x"})
check(st == 403, "the operator-scoped token may not add credentials")
st, js, _, _ = Client(token="iqt_" + "0" * 64).req("GET", "/api/v1/session")
check(st == 401, "an unknown token -> 401")

# ---- session fixation, sign-out ----
fix = Client()
fix.cookie = "a" * 64  # a token the attacker chose
st, js, r = fix.sign_in("iq-auditor", pw["auditor"])
check(st == 200 and fix.cookie != "a" * 64, "sign-in issues a new token, never the one presented")
stale = Client()
stale.cookie = "a" * 64
st, _, _, _ = stale.req("GET", "/api/v1/session")
check(st == 401, "the presented token is not a session")
again = Client()
again.sign_in("iq-auditor", pw["auditor"])
first = again.cookie
again.csrf = None
st, js, _ = again.sign_in("iq-auditor", pw["auditor"])
check(st == 200 and again.cookie != first, "signing in again over a live cookie gives a new session")
stale.cookie = first
st, _, _, _ = stale.req("GET", "/api/v1/session")
check(st == 401, "... and ends the one the cookie held")
old_cookie = aud.cookie
st, js, r, _ = aud.req("DELETE", "/api/v1/session")
check(st == 204 and "Max-Age=0" in (r.getheader("Set-Cookie") or ""), "sign-out -> 204, cookie cleared")
replay = Client()
replay.cookie = old_cookie
st, _, _, _ = replay.req("GET", "/api/v1/accounts")
check(st == 401, "the signed-out session no longer works")

# ---- throttling ----
for i in range(5):
    Client().sign_in("iq-victim", "wrong-%d" % i)
st, js, r = Client().sign_in("iq-victim", os.environ["IQ_PW_VICTIM"])
check(st == 429 and r.getheader("Retry-After"), "after 5 failures the right password is throttled -> 429")
validate(js, "Error", "429")

# ---- malformed and oversized requests ----
rng = random.Random(15)
junk = [b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"a" * 40000 + b"\r\n\r\n",
        b"POST /api/v1/session HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{",
        b"POST /api/v1/session HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n\x00\xff{[\"",
        b"PATCH /api/v1/accounts/1 HTTP/1.1\r\nContent-Length: 3\r\n\r\n{}}",
        b"GET /api/v1/" + b"a/" * 3000 + b" HTTP/1.1\r\n\r\n",
        b"GET /%00%ff/../../etc/passwd HTTP/1.1\r\n\r\n"]
for i in range(5000):
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    junk.append(b"POST /api/v1/session HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    junk.append(b"POST /api/v1/accounts HTTP/1.1\r\nContent-Type: application/json\r\nCookie: iq_session=%s\r\nX-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n"
                % (op.cookie.encode(), op.csrf.encode(), len(body)) + body)
bad = 0
for j in junk:
    s = socket.create_connection((HOST, PORT), timeout=10)
    try:
        s.sendall(j)
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                break
    except OSError:
        pass
    s.close()
    if out and not (out.startswith(b"HTTP/1.1 4") or out.startswith(b"HTTP/1.1 200")):
        bad += 1
        print("  unexpected answer: %r" % out[:80])
check(bad == 0, "%d malformed or oversized requests: each a 4xx or nothing, never a 5xx" % len(junk))
st, _, _, text = anon.req("GET", "/healthz")
check(st == 200, "the server still answers after them")
s = socket.create_connection((HOST, PORT), timeout=10)
s.sendall(b"POST /api/v1/session HTTP/1.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % (2 << 20))
answer = s.recv(4096)
s.close()
check(answer.startswith(b"HTTP/1.1 413 "), "a 2 MiB body is refused before it is read -> 413")

print("%d passed, %d failed" % (passed, len(failures)))
sys.exit(1 if failures else 0)
