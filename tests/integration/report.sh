#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test of the accounts report on a real PostgreSQL: every filter and combinations,
# pagination at 0/1/30/31/61 accounts, CSV parsed back by Python's csv module, the PDF read by
# pdftotext, the HTML checked for escaping, pt-BR labels, exit codes, and report schedules.
set -euo pipefail
: "${INBOXQ_TEST_DIR:?start the harness first (tests/harness/start)}"
: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the directory with the built binaries}"
# shellcheck disable=SC1091
source "$INBOXQ_TEST_DIR/env"
PY=/usr/bin/python3
for tool in psql pdftotext "$PY"; do
	command -v "$tool" >/dev/null || { echo "report.sh: $tool is missing" >&2; exit 1; }
done

DB=iq_report_$$
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
	psql "$INBOXQ_PG_ADMIN_DSN" -Xq -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
psql "$INBOXQ_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB OWNER inboxq" >/dev/null
export INBOXQ_PG_DSN="${INBOXQ_PG_DSN%/*}/$DB"
export COLUMNS=100
# Under LeakSanitizer: fontconfig (behind cairo's font lookup) and Pango with GLib and HarfBuzz
# keep allocations they never free; that is the libraries', not ours.
printf 'leak:%s\n' libfontconfig.so libpango-1.0.so libpangocairo-1.0.so libpangoft2-1.0.so \
	libharfbuzz.so libglib-2.0.so libgobject-2.0.so >"$WORK/lsan.supp"
export LSAN_OPTIONS="suppressions=$WORK/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

iq() { "$IQ_BIN_DIR/inboxq" "$@"; }
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$INBOXQ_PG_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
# expect_rc CODE CMD...: runs CMD (stdout to $WORK/out, stderr to $WORK/err), checks its exit code.
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[[ $rc == "$want" ]] || fail "'$*' exited $rc, expected $want; stderr: $(cat "$WORK/err")"
	if [[ $want != 0 ]]; then
		[[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "'$*' should print one error line: $(cat "$WORK/err")"
	fi
}
# The ids in a JSON document (account list --format json) or array, comma-separated.
json_ids() {
	"$PY" -c 'import json,sys
d = json.load(sys.stdin)
a = d["accounts"] if isinstance(d, dict) else d
print(",".join(str(x["id"]) for x in a))'
}

iq migrate >/dev/null
CRED=$(sql "INSERT INTO credentials (name, username, secret_nonce, secret_tag, secret_ct, key_id)
	VALUES ('report-test', 'u', '\\x000102030405060708090a0b', '\\x000102030405060708090a0b0c0d0e0f',
	'\\x00', 'test') RETURNING id")

# set_accounts N: exactly N accounts with ids 1..N and settings that vary with the id.
set_accounts() {
	sql "TRUNCATE mail_accounts RESTART IDENTITY CASCADE" >/dev/null
	sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
		keep_copy, auto_check, active, last_status)
		SELECT format('Acct-%s %s', lpad(g::text, 3, '0'), CASE WHEN g % 2 = 0 THEN 'Alpha' ELSE 'BETA' END),
		'mail.example.test', CASE WHEN g % 3 = 0 THEN 143 ELSE 993 END,
		CASE WHEN g % 2 = 0 THEN 'imap' ELSE 'pop3' END, $CRED, g % 3 <> 0,
		CASE WHEN g % 3 <> 0 THEN CASE WHEN g % 2 = 0 THEN 'ssl' ELSE 'tls' END END,
		g % 4 = 0, g % 5 <> 0, g % 7 <> 0, CASE g % 3 WHEN 0 THEN 'ok' WHEN 1 THEN 'failed' END
		FROM generate_series(1, $1) AS g" >/dev/null
}

# ---- pagination: 0, 1, 30, 31 and 61 accounts ----
for n in 0 1 30 31 61; do
	set_accounts "$n"
	pages=$(((n + 29) / 30))
	((pages == 0)) && pages=1
	expect_rc 0 iq account list
	word=accounts
	((n == 1)) && word=account
	grep -qx "page 1 of $pages, $n $word" "$WORK/out" || fail "$n accounts: footer: $(tail -3 "$WORK/out")"
	rows=$(grep -cE '^ *[0-9]+ +Acct-' "$WORK/out" || true)
	want=$((n < 30 ? n : 30))
	((rows == want)) || fail "$n accounts: page 1 shows $rows rows, expected $want"
	if ((n == 0)); then
		grep -q "No accounts match the filters." "$WORK/out" || fail "0 accounts: no empty-report line"
	fi
	if ((pages > 1)); then
		next=$(sed -n 's/^next page: //p' "$WORK/out")
		[[ $next == "inboxq account list --page 2" ]] || fail "$n accounts: next page command '$next'"
	else
		! grep -q '^next page:' "$WORK/out" || fail "$n accounts: a next page on the last page"
	fi
	total=0
	for ((p = 1; p <= pages; p++)); do
		expect_rc 0 iq account list --format json --page "$p"
		got=$("$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["page"], d["pages"], d["total"], len(d["accounts"]), d["next_page_command"])' <"$WORK/out")
		left=$((n - (p - 1) * 30))
		cnt=$((left < 30 ? left : 30))
		nextcmd=None
		((p < pages)) && nextcmd="inboxq account list --format json --page $((p + 1))"
		[[ $got == "$p $pages $n $cnt $nextcmd" ]] || fail "$n accounts, page $p: json says '$got'"
		total=$((total + cnt))
	done
	((total == n)) || fail "$n accounts: pages hold $total accounts"
	# the machine formats export every matching row unless a page is asked for (item 18)
	expect_rc 0 iq account list --format json
	got=$("$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["page"], d["pages"], d["total"], len(d["accounts"]), d["next_page_command"])' <"$WORK/out")
	[[ $got == "1 1 $n $n None" ]] || fail "$n accounts, json without --page: '$got'"
	expect_rc 0 iq account list --format csv
	got=$("$PY" -c 'import csv,sys; print(len(list(csv.reader(sys.stdin))) - 1)' <"$WORK/out")
	((got == n)) || fail "$n accounts, csv without --page: $got rows"
	expect_rc 0 iq account list --format csv --page 1
	got=$("$PY" -c 'import csv,sys; print(len(list(csv.reader(sys.stdin))) - 1)' <"$WORK/out")
	((got == (n < 30 ? n : 30))) || fail "$n accounts, csv --page 1: $got rows"
	expect_rc 64 iq account list --page $((pages + 1))
	grep -q -- "--page $((pages + 1)) is past the last page" "$WORK/err" || fail "past-the-end message: $(cat "$WORK/err")"
done
# 31 accounts: the second page holds exactly account 31.
set_accounts 31
expect_rc 0 iq account list --page 2
grep -qE '^ *31 +Acct-031 BETA' "$WORK/out" && grep -qx "page 2 of 2, 31 accounts" "$WORK/out" ||
	fail "31 accounts, page 2: $(cat "$WORK/out")"
# --per-page and the next-page command carry the filters (run it as printed).
set_accounts 61
expect_rc 0 iq account list --secure yes --per-page 7 --lang pt-BR
next=$(sed -n 's/^próxima página: //p' "$WORK/out")
[[ $next == "inboxq account list --secure yes --per-page 7 --lang pt-BR --page 2" ]] || fail "next: '$next'"
grep -qx "página 1 de 6, 41 contas" "$WORK/out" || fail "pt-BR footer: $(tail -2 "$WORK/out")"
eval "\"\$IQ_BIN_DIR/\"$next" >"$WORK/page2"
grep -qx "página 2 de 6, 41 contas" "$WORK/page2" || fail "running the next-page command"
pass "pagination at 0, 1, 30, 31, 61 accounts"

# ---- filters, each and combined: account list ids == the same WHERE in SQL ----
check_filter() {
	local where=$1
	shift
	local want got
	want=$(sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM mail_accounts WHERE $where")
	expect_rc 0 iq account list --format json --per-page 10000 "$@"
	got=$(json_ids <"$WORK/out")
	[[ $got == "$want" ]] || fail "filter $*: got [$got], expected [$want]"
	# The report module applies the same filters (CSV codes).
	expect_rc 0 iq report --format csv --output "$WORK/f.csv" --direct "$@"
	got=$("$PY" -c 'import csv,sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    print(",".join(r[0] for r in list(csv.reader(f))[1:]))' "$WORK/f.csv")
	[[ $got == "$want" ]] || fail "report filter $*: got [$got], expected [$want]"
}
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type)
	VALUES ('100% real_name', 'h', 995, 'pop3', $CRED, true, 'ssl'),
	       ('1000 realXname', 'h', 995, 'pop3', $CRED, true, 'ssl'),
	       ('back\\slash', 'h', 143, 'imap', $CRED, false, NULL)" >/dev/null
check_filter "true"
check_filter "name ILIKE '%alpha%'" --name alpha
check_filter "name ILIKE '%beta%'" --name Beta
check_filter "name ILIKE '%acct-01%'" --name ACCT-01
check_filter "name = '100% real_name'" --name '0% real_'
check_filter "name = 'back\\slash'" --name 'k\s'
check_filter "false" --name 'no such account'
check_filter "secure" --secure yes
check_filter "NOT secure" --secure no
check_filter "auto_check" --auto-check yes
check_filter "NOT auto_check" --auto-check no
check_filter "keep_copy" --keep-copy yes
check_filter "NOT keep_copy" --keep-copy no
check_filter "active" --active yes
check_filter "NOT active" --active no
check_filter "true" --active all
check_filter "secure AND NOT auto_check" --secure yes --auto-check no
check_filter "name ILIKE '%alpha%' AND keep_copy AND active" --name alpha --keep-copy yes --active yes
check_filter "name ILIKE '%beta%' AND NOT secure AND auto_check AND NOT keep_copy AND NOT active" \
	--name beta --secure no --auto-check yes --keep-copy no --active no
# the last check: ok, not ok (failed or partial), never (item 25)
sql "UPDATE mail_accounts SET last_status = 'partial' WHERE id = (SELECT max(id) FROM mail_accounts WHERE last_status = 'failed')" >/dev/null
check_filter "last_status = 'ok'" --last-check ok
check_filter "last_status IS NOT NULL AND last_status <> 'ok'" --last-check failed
check_filter "last_status IS NULL" --last-check never
check_filter "last_status IS NOT NULL AND last_status <> 'ok' AND active" --last-check failed --active yes
expect_rc 64 iq account list --last-check sometimes
grep -q -- "--last-check must be ok, failed or never" "$WORK/err" || fail "--last-check message: $(cat "$WORK/err")"
# the table has the Active column, and the filters carry into the next-page command
expect_rc 0 iq account list --last-check never --per-page 5
head -2 "$WORK/out" | grep -q "Active" || fail "account list lacks the Active column: $(head -3 "$WORK/out")"
grep -q -- "^next page: inboxq account list --last-check never --per-page 5 --page 2" "$WORK/out" ||
	fail "next page lacks --last-check: $(tail -2 "$WORK/out")"
expect_rc 0 iq report --format html --last-check failed --output "$WORK/lc.html" --direct
grep -q "Last check: Failed" "$WORK/lc.html" || fail "the report header does not describe --last-check"
pass "filters: name (case-insensitive, wildcards literal), secure, auto-check, keep-copy, active, last check, combinations"

# ---- bad values: exit 64 naming the option ----
expect_rc 64 iq account list --secure maybe
grep -q -- "--secure" "$WORK/err" || fail "bad --secure message"
expect_rc 64 iq account list --active sometimes
expect_rc 64 iq account list --page 0
grep -q -- "--page" "$WORK/err" || fail "bad --page message"
expect_rc 64 iq account list --per-page 0
expect_rc 64 iq account list --per-page x
expect_rc 64 iq account list --format pdf
expect_rc 64 iq account list --lang fr
expect_rc 64 iq account list --bogus
expect_rc 64 iq account list --name
expect_rc 64 iq report --format xlsx --output "$WORK/x" --direct
expect_rc 64 iq report --format csv --direct
expect_rc 64 iq report --output "$WORK/x" --direct
expect_rc 64 iq report --format csv --output "$WORK/x"
grep -q "needs --wait" "$WORK/err" || fail "a job's --output without --wait: $(cat "$WORK/err")"
pass "bad values exit 64 (a job's --output needs --wait)"

# ---- the table fits the terminal ----
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type)
	VALUES ('a very long account name that cannot possibly fit in a narrow terminal window at all', 'h', 993, 'imap', $CRED, true, 'ssl')" >/dev/null
for cols in 72 80 100 132 pt-BR:80 pt-BR:100; do
	lang=en
	[[ $cols == pt-BR:* ]] && lang=pt-BR cols=${cols#pt-BR:}
	COLUMNS=$cols iq account list --page 3 --lang $lang >"$WORK/out"
	"$PY" -c 'import sys
w = int(sys.argv[1])
for line in open(sys.argv[2], encoding="utf-8"):
    line = line.rstrip("\n")
    if len(line) > w:
        sys.exit("%d > %d: %s" % (len(line), w, line))' "$cols" "$WORK/out" || fail "table wider than $cols"
done
grep -qE '^ *[0-9]+ +a very.*…' "$WORK/out" || fail "long name not cut with an ellipsis"
pass "the table fits 72/80/100/132 columns (en, pt-BR), the name cut with an ellipsis"

# ---- CSV parsed back equals the data, hostile names neutralised ----
set_accounts 0
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type,
	keep_copy, auto_check, active, last_status) VALUES
	('=HYPERLINK(\"http://x\",\"y\")', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, 'ok'),
	('+1+1', 'h', 110, 'pop3', $CRED, false, NULL, false, false, false, 'failed'),
	('-2', 'h', 995, 'pop3', $CRED, true, 'tls', true, false, true, NULL),
	('@SUM(1)', 'h', 143, 'imap', $CRED, false, NULL, false, true, false, NULL),
	(E'\\tleading tab', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	(E'\\rleading CR', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	(E'two\\r\\nlines', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	('say \"hi\", ok', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	('<script>alert(1)</script>', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	('\"><img src=x onerror=alert(1)>', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	('Conta São Paulo – ação 日本 😀', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL),
	('plain', 'h', 993, 'imap', $CRED, true, 'ssl', true, true, true, NULL)" >/dev/null
sql "SELECT json_agg(json_build_object('id', id, 'name', name, 'secure', secure, 'secure_type', secure_type,
	'protocol', protocol, 'port', port, 'auto_check', auto_check, 'keep_copy', keep_copy, 'active', active,
	'last_status', last_status) ORDER BY id) FROM mail_accounts" >"$WORK/data.json"
for lang in en pt-BR; do
	expect_rc 0 iq report --format csv --lang "$lang" --output "$WORK/all.csv" --direct
	"$PY" - "$WORK/all.csv" "$WORK/data.json" "$lang" <<'PY' || fail "CSV ($lang) does not match the data"
import csv, json, sys
path, data, lang = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
raw = open(path, "rb").read()
assert raw.count(b"\r\n") >= len(data) + 1, "lines must end in CRLF"
# pt-BR is for a spreadsheet in Portuguese: byte-order mark and ';' (item 26); en is RFC 4180
bom = raw.startswith(b"\xef\xbb\xbf")
assert bom == (lang == "pt-BR"), "BOM" if bom else "no BOM"
sep = ";" if lang == "pt-BR" else ","
L = {"en": dict(yes="Yes", no="No", ok="OK", failed="Failed", never="Never",
                head=["Code", "Name", "Secure connection", "Connection type", "Protocol", "Port",
                      "Automatic check", "Keep copy on server", "Active", "Last check"]),
     "pt-BR": dict(yes="Sim", no="Não", ok="OK", failed="Falhou", never="Nunca",
                   head=["Código", "Nome", "Conexão segura", "Tipo conexão", "Protocolo", "Porta",
                         "Verificação automática", "Manter cópia no servidor", "Ativo",
                         "Última verificação"])}[lang]
with open(path, newline="", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f, strict=True, delimiter=sep))
assert rows[0] == L["head"], rows[0]
assert len(rows) == len(data) + 1, (len(rows), len(data))
yn = lambda b: L["yes"] if b else L["no"]
for row, d in zip(rows[1:], data):
    name = d["name"]
    if name[:1] in ("=", "+", "-", "@", "\t", "\r"):
        name = "'" + name
    want = [str(d["id"]), name, yn(d["secure"]),
            (d["secure_type"] or "").upper() if d["secure"] else "",
            d["protocol"].upper(), str(d["port"]), yn(d["auto_check"]), yn(d["keep_copy"]),
            yn(d["active"]), {"ok": L["ok"], "failed": L["failed"], None: L["never"]}[d["last_status"]]]
    assert row == want, (row, want)
    for cell in row:
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell
PY
done
pass "CSV parsed back by Python's csv module equals the data (en, pt-BR); formulas neutralised"

# ---- HTML: escaped, paginated, labelled ----
expect_rc 0 iq report --format html --output "$WORK/hostile.html" --direct
! grep -q '<script' "$WORK/hostile.html" || fail "HTML contains an unescaped <script"
! grep -q '<img' "$WORK/hostile.html" || fail "HTML contains an unescaped <img"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$WORK/hostile.html" || fail "HTML lost the escaped name"
grep -q '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;' "$WORK/hostile.html" || fail "HTML attribute breakout"
! grep -qiE '(src|href)=.(https?:)?//' "$WORK/hostile.html" || fail "HTML loads an external resource"
set_accounts 61
for lang in en pt-BR; do
	expect_rc 0 iq report --format html --lang "$lang" --output "$WORK/r-$lang.html" --direct
	"$PY" - "$WORK/r-$lang.html" "$lang" <<'PY' || fail "HTML ($lang) structure"
import sys
from html.parser import HTMLParser
path, lang = sys.argv[1], sys.argv[2]
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.pages = []; self.in_body = self.in_head = False; self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("class") == "page":
            self.pages.append({"rows": 0, "heads": 0, "th": []})
        elif tag == "thead": self.pages[-1]["heads"] += 1; self.in_head = True
        elif tag == "tbody": self.in_body = True
        elif tag == "tr" and self.in_body: self.pages[-1]["rows"] += 1
        elif tag in ("script", "img", "link", "iframe"): sys.exit("unexpected <%s>" % tag)
    def handle_endtag(self, tag):
        if tag == "thead": self.in_head = False
        if tag == "tbody": self.in_body = False
    def handle_data(self, data):
        self.text.append(data)
        if self.in_head and data.strip(): self.pages[-1]["th"].append(data.strip())
p = P(); p.feed(open(path, encoding="utf-8").read())
text = "".join(p.text)
assert [x["rows"] for x in p.pages] == [30, 30, 1], [x["rows"] for x in p.pages]
assert all(x["heads"] == 1 for x in p.pages)
first = {"en": ["Code", "Name", "Secure connection", "Connection type", "Protocol", "Port",
                "Automatic check", "Keep copy on server", "Active", "Last check"],
         "pt-BR": ["Código", "Nome", "Conexão segura", "Tipo conexão", "Protocolo", "Porta",
                   "Verificação automática", "Manter cópia no servidor", "Ativo",
                   "Última verificação"]}[lang]
assert all(x["th"] == first for x in p.pages), p.pages[0]["th"]
fmt = {"en": "Page %d of 3", "pt-BR": "Página %d de 3"}[lang]
for i in (1, 2, 3):
    assert fmt % i in text, fmt % i
title = {"en": "IMAP/POP3 settings", "pt-BR": "Configuração IMAP/POP3"}[lang]
assert title in text and ("UTC" in text)
assert ("Filters" if lang == "en" else "Filtros") in text
PY
done
grep -q 'page-break-after' "$WORK/r-en.html" && grep -q '@page' "$WORK/r-en.html" || fail "no print CSS"
pass "HTML: hostile names escaped, 30 rows per page with the header, page X of Y, en and pt-BR"

# ---- PDF: pdftotext finds the header and 30 rows on page one ----
for lang in en pt-BR; do
	expect_rc 0 iq report --format pdf --lang "$lang" --output "$WORK/r-$lang.pdf" --direct
	[[ $(head -c 5 "$WORK/r-$lang.pdf") == "%PDF-" ]] || fail "not a PDF"
	pages=$(pdftotext -layout "$WORK/r-$lang.pdf" - | grep -c $'\f' || true)
	((pages == 3)) || fail "PDF ($lang) has $pages pages, expected 3"
	for p in 1 2 3; do
		pdftotext -layout -f $p -l $p "$WORK/r-$lang.pdf" "$WORK/p$p.txt"
	done
	rows1=$(grep -cE '^ *[0-9]+ +Acct-[0-9]{3} ' "$WORK/p1.txt" || true)
	rows3=$(grep -cE '^ *[0-9]+ +Acct-[0-9]{3} ' "$WORK/p3.txt" || true)
	((rows1 == 30 && rows3 == 1)) || fail "PDF ($lang): $rows1 rows on page 1, $rows3 on page 3"
	if [[ $lang == en ]]; then
		for w in "IMAP/POP3 settings" Code Name Secure Protocol Port Automatic "Keep copy" "Page 1 of 3" Generated Filters; do
			grep -q "$w" "$WORK/p1.txt" || fail "PDF page 1 lacks '$w'"
		done
		grep -q "Page 3 of 3" "$WORK/p3.txt" && grep -q "Code" "$WORK/p3.txt" || fail "PDF page 3 header/number"
		grep -qE '^ *1 +Acct-001 BETA +Yes +TLS +POP3 +993 +Yes +No +Yes +Failed' "$WORK/p1.txt" || fail "PDF row 1: $(grep -m1 Acct "$WORK/p1.txt")"
	else
		for w in "Configuração IMAP/POP3" Código Nome Conexão Protocolo Porta Verificação "Manter cópia" "Página 1 de 3" "Gerado em" Filtros; do
			grep -q "$w" "$WORK/p1.txt" || fail "PDF (pt-BR) page 1 lacks '$w'"
		done
		grep -qE '^ *1 +Acct-001 BETA +Sim +TLS +POP3 +993 +Sim +Não +Sim +Falhou' "$WORK/p1.txt" || fail "PDF pt-BR row 1"
	fi
done
expect_rc 0 iq report --format pdf --name 'no such' --output "$WORK/empty.pdf" --direct
pdftotext -layout "$WORK/empty.pdf" - | grep -q "No accounts match the filters." || fail "empty PDF"
pdftotext -layout "$WORK/empty.pdf" - | grep -q 'Page 1 of 1' || fail "empty PDF page number"
pass "PDF: A4 pages of 30 rows with the header, page X of Y, en and pt-BR"

# ---- any name prints in the PDF: Pango's font fallback for CJK and emoji (item 20) ----
set_accounts 0
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure_type) VALUES
	('São Paulo 東京 😀', 'h', 993, 'imap', $CRED, 'ssl'), ('שלום עולם', 'h', 993, 'imap', $CRED, 'ssl')" >/dev/null
expect_rc 0 iq report --format pdf --output "$WORK/intl.pdf" --direct
pdftotext -layout "$WORK/intl.pdf" - | grep -qF 'São Paulo 東京 😀' ||
	fail "the PDF text lacks 'São Paulo 東京 😀': $(pdftotext -layout "$WORK/intl.pdf" - | grep -m1 Paulo)"
pdffonts "$WORK/intl.pdf" >"$WORK/intl.fonts"
# DejaVu Sans has neither CJK nor emoji: without a fallback font they were missing-glyph boxes
grep -vE '^(name|---)' "$WORK/intl.fonts" | grep -qv DejaVu ||
	fail "no fallback font in the PDF (CJK and emoji drawn as boxes): $(cat "$WORK/intl.fonts")"
awk 'NR > 2 && $(NF - 4) != "yes" {bad = 1} END {exit bad}' "$WORK/intl.fonts" ||
	fail "a font is not embedded: $(cat "$WORK/intl.fonts")"
pass "PDF: CJK, emoji and right-to-left names print (fallback fonts embedded)"
set_accounts 61

# ---- one time format for people in the report header: en and pt-BR (item 26) ----
expect_rc 0 iq report --format html --output "$WORK/t-en.html" --direct
grep -qE 'Generated[^0-9]*20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9] UTC' "$WORK/t-en.html" ||
	fail "en header time: $(grep -o 'Generated.\{0,60\}' "$WORK/t-en.html" | head -1)"
expect_rc 0 iq report --format html --lang pt-BR --output "$WORK/t-pt.html" --direct
grep -qE 'Gerado em[^0-9]*[0-3][0-9]/[01][0-9]/20[0-9]{2} [0-2][0-9]:[0-5][0-9] UTC' "$WORK/t-pt.html" ||
	fail "pt-BR header time: $(grep -o 'Gerado em.\{0,60\}' "$WORK/t-pt.html" | head -1)"
pass "report header times: YYYY-MM-DD HH:MM UTC, dd/mm/aaaa HH:MM UTC in pt-BR"

# ---- pt-BR labels in the table and CSV ----
expect_rc 0 iq account list --lang pt-BR
for w in Código Nome Conexão segura Tipo conexão Protocolo Porta Verificação automática Manter cópia "no servidor" Sim Não; do
	grep -q "$w" "$WORK/out" || fail "pt-BR table lacks '$w'"
done
expect_rc 0 iq account list --lang pt-BR --format csv --per-page 2
head -1 "$WORK/out" | grep -q "^"$'\xef\xbb\xbf'"Código;Nome;Conexão segura;Tipo conexão;Protocolo;Porta;Verificação automática;Manter cópia no servidor;Ativo;Última verificação" || fail "pt-BR CSV header"
# the dialect on its own: excel-pt in English, rfc4180 in Portuguese
expect_rc 0 iq account list --lang pt-BR --format csv --per-page 2 --csv-dialect rfc4180
head -1 "$WORK/out" | grep -q "^Código,Nome," || fail "pt-BR CSV in rfc4180: $(head -1 "$WORK/out")"
expect_rc 0 iq report --format csv --csv-dialect excel-pt --output "$WORK/xp.csv" --direct
head -1 "$WORK/xp.csv" | grep -q "^"$'\xef\xbb\xbf'"Code;Name;" || fail "excel-pt CSV: $(head -1 "$WORK/xp.csv")"
expect_rc 64 iq report --format csv --csv-dialect excel-pt
grep -q "follows its --lang" "$WORK/err" || fail "a job with another dialect: $(cat "$WORK/err")"
expect_rc 64 iq report --format pdf --csv-dialect excel-pt --output "$WORK/x.pdf" --direct
pass "pt-BR labels in the table and CSV"

# ---- output files: atomic, exit 73 when they cannot be created ----
expect_rc 73 iq report --format csv --output "$WORK/missing-dir/r.csv" --direct
[[ ! -e $WORK/missing-dir ]] || fail "created something in a missing dir"
mkdir "$WORK/out-dir"
expect_rc 73 iq report --format csv --output "$WORK/out-dir" --direct
echo "previous" >"$WORK/keep.csv"
INBOXQ_PG_DSN="postgresql://inboxq@127.0.0.1:1/none" expect_rc 69 iq report --format csv --output "$WORK/keep.csv" --direct
[[ $(cat "$WORK/keep.csv") == previous ]] || fail "a failed run changed the existing output"
leftover=$(find "$WORK" -name '*.tmp.*' | wc -l)
((leftover == 0)) || fail "temporary files left behind: $(find "$WORK" -name '*.tmp.*')"
expect_rc 0 iq report --format csv --output "$WORK/keep.csv" --direct
head -1 "$WORK/keep.csv" | grep -q '^Code,Name' || fail "the output was not replaced"
pass "output written atomically; 73 when it cannot be created; nothing half-written"
# - is standard output, never a file named '-'; a directory is not a file to write
rm -f -- ./-
expect_rc 0 iq report --format csv --output - --direct
head -1 "$WORK/out" | grep -q '^Code,Name' || fail "--output - did not write the report to standard output"
[ ! -e ./- ] || fail "--output - wrote a file named '-'"
expect_rc 73 iq report --format csv --output "$WORK/" --direct
grep -q "is a directory; give a file name in it" "$WORK/err" || fail "--output DIR/: $(cat "$WORK/err")"
expect_rc 73 iq report --format csv --output "$WORK" --direct
pass "--output - is standard output; a directory is refused by name"

# ---- report schedules ----
rdir="$WORK/reports" # where the workers write the files: it must exist
mkdir -p "$rdir"
expect_rc 73 iq report schedule add --name nowhere --cron @daily --format csv --output-dir "$WORK/missing"
grep -q "output-dir $WORK/missing is not a directory here; create it first" "$WORK/err" || fail "missing output dir message: $(cat "$WORK/err")"
expect_rc 0 iq report schedule add --name weekly-pdf --cron '0 6 * * mon' --format pdf --lang pt-BR \
	--secure yes --filter-name alpha --output-dir "$rdir"
id=$(head -1 "$WORK/out")
[[ $id =~ ^[0-9]+$ ]] || fail "schedule add printed '$id' first"
[[ $(grep -c '^next run: 20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] 06:00 UTC$' "$WORK/out") == 3 ]] || fail "next runs: $(cat "$WORK/out")"
for d in $(sed -n 's/^next run: \([0-9-]*\) .*/\1/p' "$WORK/out"); do
	[[ $(date -u -d "$d" +%u) == 1 ]] || fail "next run $d is not a Monday"
done
[[ $(sql "SELECT filters::text, lang, format, output_dir FROM report_schedules WHERE id = $id") == \
	'{"name": "alpha", "secure": true}|pt-BR|pdf|'"$rdir" ]] || fail "stored schedule: $(sql "SELECT filters, lang, format, output_dir FROM report_schedules WHERE id = $id")"
expect_rc 0 iq report schedule add --name Daily --cron @daily --format csv
expect_rc 65 iq report schedule add --name DAILY --cron @daily --format csv
grep -q "already exists" "$WORK/err" || fail "duplicate schedule message"
expect_rc 65 iq report schedule add --name bad --cron '0 25 * * *' --format csv
grep -q "hour field '25'" "$WORK/err" || fail "bad cron message: $(cat "$WORK/err")"
expect_rc 65 iq report schedule add --name bad --cron '* * * *' --format csv
expect_rc 65 iq report schedule add --name bad --cron '0 0 31 2 *' --format csv
expect_rc 64 iq report schedule add --name bad --cron @daily --format xlsx
expect_rc 64 iq report schedule add --name bad --format csv
expect_rc 65 iq report schedule add --name bad --cron @daily --format csv --output-dir relative/dir
expect_rc 0 iq report schedule list
grep -qE "^$id +weekly-pdf +0 6 \* \* mon +pdf +pt-BR +20[0-9-]+ 06:00 UTC +Name: \"alpha\"; Secure connection: Yes -> $rdir" "$WORK/out" || fail "schedule list: $(cat "$WORK/out")"
grep -q "Daily" "$WORK/out" || fail "schedule list lacks Daily"
expect_rc 0 iq report schedule delete daily
expect_rc 0 iq report schedule delete "$id"
expect_rc 66 iq report schedule delete "$id"
expect_rc 66 iq report schedule delete nothing-here
[[ $(sql "SELECT count(*) FROM report_schedules") == 0 ]] || fail "schedules left"
[[ $(sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'schedule'") == create,create,delete,delete ]] ||
	fail "audit rows: $(sql "SELECT action, entity_id, changes FROM audit_log WHERE entity = 'schedule'")"
pass "report schedules: add (3 next runs), list, delete by name and id, validation, audit rows"

echo "report.sh: all passed"
