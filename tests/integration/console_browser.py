#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The console in a real browser (Debian's chromium, headless, through chromium-driver and
python3-selenium), against a real `inboxq serve` (run by console_browser.sh).

Sign in, the report (30 rows, paging, a filter), a hostile account name shown inert, the form
with a validation error shown inline and then a success, a stale edit refused, the conditional
fields, Test connection step by step, Check now, the inbox, CSV export, sign out. Screenshots of the report and the form go to ART_DIR.

  console_browser.py BASE_URL ART_DIR   (IQ_PW_OPERATOR; the hostile name's account id in
                                         IQ_HOSTILE_ID, the inbox account's in IQ_INBOX_ID)
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, ART = sys.argv[1], sys.argv[2]
PW = os.environ["IQ_PW_OPERATOR"]
HOSTILE_ID = int(os.environ["IQ_HOSTILE_ID"])
INBOX_ID = int(os.environ["IQ_INBOX_ID"])
HOSTILE = os.environ["IQ_HOSTILE_NAME"]
passed, failures = 0, []


def check(cond, what):
    global passed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failures.append(what)
        print("FAIL - " + what)


def api(method, path, body=None, cookie=None, csrf=None):
    u = urllib.parse.urlparse(BASE)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {"Content-Type": "application/json"}
    if cookie:
        h["Cookie"] = "iq_session=" + cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    sc = r.getheader("Set-Cookie") or ""
    return r.status, (json.loads(data) if data else None), sc


downloads = os.path.join(ART, "downloads")
os.makedirs(downloads, exist_ok=True)
opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,1000", "--lang=pt-BR", "--no-first-run"):
    opts.add_argument(a)
opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                       "download.prompt_for_download": False})
opts.binary_location = "/usr/bin/chromium"
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
wait = WebDriverWait(drv, 15)
alerts = []


def visible(id_):
    return wait.until(EC.visibility_of_element_located((By.ID, id_)))


def rows():
    return drv.find_elements(By.CSS_SELECTOR, "#rows tr")


def wait_rows(n):
    try:
        WebDriverWait(drv, 10).until(lambda d: len(rows()) == n)
        return True
    except Exception:
        return False


def no_alert():
    try:
        drv.switch_to.alert.dismiss()
        alerts.append(1)
    except Exception:
        pass


try:
    # ---- sign in ----
    drv.get(BASE + "/")
    visible("signin-view")
    check(drv.find_element(By.ID, "signin-title").text == "Entrar", "pt-BR first: 'Entrar'")
    drv.find_element(By.ID, "si-name").send_keys("iq-operator")
    drv.find_element(By.ID, "si-password").send_keys("wrong password")
    drv.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    err = visible("si-error")
    check("não reconhecidos" in err.text, "a wrong password is refused on the page")
    drv.find_element(By.ID, "si-password").send_keys(PW)
    drv.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    visible("report-view")
    check(wait_rows(30), "the report shows 30 rows")
    cookies = {c["name"]: c for c in drv.get_cookies()}
    check(cookies.get("iq_session", {}).get("httpOnly") is True, "the session cookie is HttpOnly")
    check(drv.execute_script("return document.cookie").find("iq_session") < 0,
          "scripts cannot read the session cookie")
    heads = [th.text for th in drv.find_elements(By.CSS_SELECTOR, "#report thead th")]
    check(heads[:8] == ["Código", "Nome", "Conexão segura", "Tipo conexão", "Protocolo", "Porta",
                        "Verificação automática", "Manter cópia no servidor"],
          "the seed's eight columns, in order: %s" % heads[:8])
    drv.save_screenshot(os.path.join(ART, "report.png"))

    # ---- paging and a filter ----
    drv.find_element(By.ID, "next").click()
    check(wait_rows(2), "page 2 holds the 2 remaining accounts")
    check("Página 2 de 2" in drv.find_element(By.ID, "page-of").text, "page 2 of 2 shown")
    # ---- the hostile name, inert ----
    no_alert()
    cell = drv.find_element(By.XPATH, "//tbody[@id='rows']/tr[td[1][normalize-space()='%d']]/td[2]" % HOSTILE_ID)
    check(drv.execute_script("return arguments[0].textContent", cell) == HOSTILE,
          "the hostile name shows as its exact text")
    check(drv.execute_script("return document.querySelectorAll('script').length") == 1 and
          drv.execute_script("return document.querySelectorAll('#rows a, #rows script, #rows img').length") == 0,
          "no element came out of the hostile name")
    check(not alerts and drv.execute_script("return typeof window.pwned") == "undefined",
          "no script of the hostile name ran")

    drv.find_element(By.ID, "f-name").send_keys("acct-1")
    drv.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    check(wait_rows(10), "name filter 'acct-1' leaves 10 rows")
    Select(drv.find_element(By.ID, "f-auto")).select_by_value("yes")
    drv.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    time.sleep(0.5)
    check(all(r.find_elements(By.TAG_NAME, "td")[6].text == "Sim" for r in rows()) and len(rows()) > 0,
          "automatic check = Sim keeps only those")
    drv.find_element(By.CSS_SELECTOR, "#filters button[type=reset]").click()
    check(wait_rows(30), "clearing the filters shows page 1 again")

    # ---- CSV export ----
    drv.find_element(By.ID, "actions-button").click()
    drv.find_element(By.ID, "export-csv").click()
    path = os.path.join(downloads, "accounts.csv")
    for _ in range(50):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
        time.sleep(0.2)
    csv_text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    check(len(csv_text.splitlines()) == 33, "Export CSV downloads all 32 accounts and a header")
    check("'=HYPERLINK" in csv_text, "the CSV neutralises the formula in the hostile name")

    # ---- Schedule report: a bad cron refused inline, then a schedule of this screen's filters ----
    drv.find_element(By.ID, "f-name").send_keys("acct-1")
    drv.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_rows(10)
    drv.find_element(By.ID, "actions-button").click()
    drv.find_element(By.ID, "schedule").click()
    visible("s-name").send_keys("weekly-acct-1")
    cron = drv.find_element(By.ID, "s-cron")
    cron.clear()
    cron.send_keys("61 * * * *")
    drv.find_element(By.ID, "schedule-save").click()
    e = visible("se-cron")
    check("cron" in e.text and cron.get_attribute("aria-invalid") == "true" and
          drv.find_element(By.ID, "schedule-dialog").is_displayed(),
          "a bad cron is refused inline, the dialog stays open: %s" % e.text)
    cron.clear()
    cron.send_keys("0 7 * * 1")
    drv.find_element(By.ID, "schedule-save").click()
    WebDriverWait(drv, 10).until(lambda d: not d.find_element(By.ID, "schedule-dialog").is_displayed())
    check("agendado" in drv.find_element(By.ID, "notice").text, "Schedule report says it is scheduled")
    st, js, _ = api("GET", "/api/v1/reports/schedules", cookie=drv.get_cookie("iq_session")["value"])
    mine = [x for x in (js or {}).get("schedules", []) if x["name"] == "weekly-acct-1"]
    check(st == 200 and len(mine) == 1 and mine[0]["cron"] == "0 7 * * 1" and mine[0]["lang"] == "pt-BR"
          and mine[0]["format"] == "pdf" and mine[0]["filters"].get("name") == "acct-1",
          "the schedule was created with this screen's filter: %s" % mine)
    drv.find_element(By.CSS_SELECTOR, "#filters button[type=reset]").click()
    wait_rows(30)

    # ---- edit: a validation error inline, then success ----
    drv.find_element(By.XPATH, "//tbody[@id='rows']/tr[td[1][normalize-space()='%d']]//button[1]" % INBOX_ID).click()
    visible("form-view")
    check(not drv.find_element(By.ID, "connector-field").is_displayed(),
          "the Network Connector picker is hidden while 'use' is Não")
    drv.find_element(By.CSS_SELECTOR, "input[name=use_connector][value=yes]").click()
    check(drv.find_element(By.ID, "connector-field").is_displayed(), "... and shown when Sim")
    drv.find_element(By.CSS_SELECTOR, "input[name=use_connector][value=no]").click()
    drv.find_element(By.CSS_SELECTOR, "input[name=secure][value=no]").click()
    check(not drv.find_element(By.ID, "secure-type-field").is_displayed(),
          "the secure connection type is hidden when secure is Não")
    drv.find_element(By.CSS_SELECTOR, "input[name=secure][value=yes]").click()
    check(drv.find_element(By.ID, "secure-type-field").is_displayed(), "... and shown when Sim")
    cred = Select(drv.find_element(By.ID, "a-credential"))
    check(cred.first_selected_option.text == "c1" and "pw-" not in drv.page_source,
          "the credential is picked by name from the vault, its secret nowhere")
    port = drv.find_element(By.ID, "a-port")
    port.clear()
    port.send_keys("99999")
    drv.find_element(By.CSS_SELECTOR, "#account-form button[type=submit]").click()
    e = visible("e-port")
    check("port" in e.text and port.get_attribute("aria-invalid") == "true",
          "port 99999: the error shows under Porta: " + e.text)
    drv.save_screenshot(os.path.join(ART, "form.png"))
    port.clear()
    port.send_keys("993")
    drv.find_element(By.CSS_SELECTOR, "#account-form button[type=submit]").click()
    visible("report-view")
    check("salva" in drv.find_element(By.ID, "notice").text, "a valid edit is saved")
    st, js, _ = api("GET", "/api/v1/accounts/%d" % INBOX_ID, cookie=drv.get_cookie("iq_session")["value"])
    check(js["port"] == 993, "the edit reached the database")

    # ---- a stale edit is refused ----
    drv.get(BASE + "/#/accounts/%d/edit" % INBOX_ID)
    visible("form-view")
    time.sleep(0.3)
    st, js, sc = api("POST", "/api/v1/session", {"name": "iq-operator", "password": PW})
    other = sc.split(";")[0].split("=", 1)[1]
    st, cur, _ = api("GET", "/api/v1/accounts/%d" % INBOX_ID, cookie=other)
    st, _, _ = api("PATCH", "/api/v1/accounts/%d" % INBOX_ID, {"folder": "Elsewhere", "version": cur["version"]},
                   cookie=other, csrf=js["csrf"])
    check(st == 200, "someone else edits the account meanwhile")
    f = drv.find_element(By.ID, "a-folder")
    f.clear()
    f.send_keys("Mine")
    drv.find_element(By.CSS_SELECTOR, "#account-form button[type=submit]").click()
    fe = visible("form-error")
    check("Outra pessoa alterou" in fe.text, "the stale edit is refused with a clear message")

    # ---- Test connection, Check now ----
    drv.get(BASE + "/#/accounts/%s/edit" % os.environ["IQ_TEST_ID"])
    visible("form-view")
    time.sleep(0.3)
    drv.find_element(By.ID, "test-connection").click()
    visible("test-result")
    steps = [li.text for li in drv.find_elements(By.CSS_SELECTOR, "#test-steps li")]
    check(len(steps) == 7 and "login: ok" in steps and "Network Connector: não se aplica" in steps,
          "Test connection shows each step: %s" % steps)
    check("Conexão bem-sucedida" in drv.find_element(By.ID, "test-summary").text,
          "... and the mailbox it found")
    drv.save_screenshot(os.path.join(ART, "test-connection.png"))
    drv.find_element(By.ID, "check-now").click()
    WebDriverWait(drv, 15).until(lambda d: "job" in d.find_element(By.ID, "notice").text)
    check("Verificação enviada" in drv.find_element(By.ID, "notice").text, "Check now sends a job")

    # ---- the inbox ----
    drv.get(BASE + "/#/accounts")
    visible("report-view")
    wait_rows(30)
    drv.find_element(By.XPATH, "//tbody[@id='rows']/tr[td[1][normalize-space()='%d']]//button[2]" % INBOX_ID).click()
    visible("inbox-view")
    subjects = [r.find_elements(By.TAG_NAME, "td")[2].text for r in drv.find_elements(By.CSS_SELECTOR, "#inbox-rows tr")]
    check(subjects == ["<b>second</b>", "first"], "the inbox lists headers newest first, inert: %s" % subjects)
    drv.save_screenshot(os.path.join(ART, "inbox.png"))

    # ---- English ----
    Select(drv.find_element(By.ID, "lang")).select_by_value("en")
    check(drv.find_element(By.ID, "inbox-back").text == "Back", "English labels on switching")
    Select(drv.find_element(By.ID, "lang")).select_by_value("pt-BR")

    # ---- sign out ----
    drv.find_element(By.ID, "signout").click()
    visible("signin-view")
    status = drv.execute_script(
        "const r = await fetch('/api/v1/accounts'); return r.status;")
    check(status == 401, "after sign-out the API answers 401")
    drv.save_screenshot(os.path.join(ART, "signed-out.png"))
    logs = drv.get_log("browser") if hasattr(drv, "get_log") else []
    csp = [l for l in logs if "Content Security Policy" in l.get("message", "")]
    check(not csp, "no Content-Security-Policy violation: %s" % csp[:1])
except Exception:
    drv.save_screenshot(os.path.join(ART, "failure.png"))
    print("notice: %r; url: %s" % (drv.find_element(By.ID, "notice").text, drv.current_url))
    for entry in drv.get_log("browser"):
        print("  browser: %s" % entry.get("message"))
    raise
finally:
    drv.quit()

print("%d passed, %d failed" % (passed, len(failures)))
sys.exit(1 if failures else 0)
