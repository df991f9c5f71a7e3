// SPDX-License-Identifier: MIT
// The inboxq console: the accounts report, the account form and the inbox, over /api/v1.
// Data is only ever put on the page with textContent (never innerHTML), so a hostile account
// name (<script>, bidi controls, =HYPERLINK(...)) shows as the inert text it is.
"use strict";

const T = {
  "pt-BR": {
    title: "Configuração IMAP/POP3", language: "Idioma", signOut: "Sair", signInTitle: "Entrar",
    operatorName: "Operador", password: "Senha", signIn: "Entrar", new: "Novo", actions: "Ações",
    print: "Imprimir relatório", exportCsv: "Exportar CSV", schedule: "Agendar relatório",
    name: "Nome", secure: "Conexão segura", autoCheck: "Verificação automática",
    keepCopy: "Manter cópia", status: "Situação", all: "Todos", yes: "Sim", no: "Não",
    search: "Pesquisar", clear: "Limpar", code: "Código", secureType: "Tipo conexão",
    protocol: "Protocolo", port: "Porta", keepCopyServer: "Manter cópia no servidor",
    lastCheck: "Última verificação", previous: "Anterior", next: "Próxima",
    formTitle: "Cadastro de conta", requiredHint: "campo obrigatório", accountName: "Nome da conta",
    active: "Ativo", address: "Endereço", portHint: "Vazio: a porta padrão do protocolo",
    choose: "Selecione", useConnector: "Usar Network Connector",
    credential: "Credencial para autenticação", ignoreCert: "Ignorar certificado",
    useSecure: "Usar conexão segura", secureTypeLong: "Tipo de conexão segura",
    folder: "Pasta (IMAP)", interval: "Intervalo de verificação", save: "Salvar",
    cancel: "Cancelar", inbox: "Caixa de entrada", date: "Data", from: "De", subject: "Assunto",
    size: "Tamanho", inboxEmpty: "Nenhuma mensagem armazenada.", runs: "Verificações",
    started: "Início", outcome: "Resultado", newMessages: "Novas", error: "Erro", back: "Voltar",
    scheduleHint: "O relatório desta tela, com os mesmos filtros, gerado pelos workers nos horários do agendamento.", close: "Fechar",
    scheduleName: "Nome do agendamento", cron: "Quando (cron, UTC)", format: "Formato", scheduleSave: "Agendar",
    cronHint: "minuto hora dia mês dia-da-semana; por exemplo 0 7 * * 1 (segundas às 07:00 UTC) ou @daily",
    scheduled: "Relatório agendado ({n}); próxima execução: {w}.",
    edit: "Alterar conta", viewInbox: "Ver caixa de entrada", pageOf: "Página {p} de {n}",
    accounts: "{t} contas", never: "nunca", saved: "Conta salva.", created: "Conta criada.",
    stale: "Outra pessoa alterou esta conta enquanto você editava. Recarregue para ver a versão atual.",
    fixErrors: "Corrija os campos marcados.", signedOut: "Sessão encerrada.",
    badLogin: "Operador ou senha não reconhecidos.", throttled: "Muitas tentativas. Aguarde 15 minutos.",
    forbidden: "Seu perfil não permite esta ação.", failed: "A operação falhou",
    testConnection: "Testar conexão", checkNow: "Verificar agora", testResult: "Resultado do teste",
    testOk: "Conexão bem-sucedida: {m} mensagens, {b} bytes ({ms} ms).", testFailed: "Falhou ({c}): {e}",
    checkQueued: "Verificação enviada aos workers (job {j}).", saveFirst: "Salve a conta antes de testá-la.",
    stepNames: { "resolve host": "resolver o nome", connect: "conectar", "network connector": "Network Connector", tls: "TLS", capabilities: "capacidades", login: "login", mailbox: "caixa postal" },
    stateNames: { ok: "ok", FAILED: "FALHOU", "not reached": "não alcançado", skipped: "não se aplica" },
    none: "(nenhum)", editTitle: "Alterar conta", newTitle: "Nova conta", noConnectors: "(nenhum Network Connector cadastrado)",
  },
  en: {
    title: "IMAP/POP3 settings", language: "Language", signOut: "Sign out", signInTitle: "Sign in",
    operatorName: "Operator", password: "Password", signIn: "Sign in", new: "New", actions: "Actions",
    print: "Print report", exportCsv: "Export CSV", schedule: "Schedule report",
    name: "Name", secure: "Secure connection", autoCheck: "Automatic check",
    keepCopy: "Keep copy", status: "Active", all: "All", yes: "Yes", no: "No",
    search: "Search", clear: "Clear", code: "Code", secureType: "Connection type",
    protocol: "Protocol", port: "Port", keepCopyServer: "Keep copy on server",
    lastCheck: "Last check", previous: "Previous", next: "Next",
    formTitle: "Account", requiredHint: "required field", accountName: "Account name",
    active: "Active", address: "Address", portHint: "Empty: the protocol's standard port",
    choose: "Choose", useConnector: "Use Network Connector",
    credential: "Credential for authentication", ignoreCert: "Ignore certificate",
    useSecure: "Use secure connection", secureTypeLong: "Secure connection type",
    folder: "Folder (IMAP)", interval: "Check interval", save: "Save",
    cancel: "Cancel", inbox: "Inbox", date: "Date", from: "From", subject: "Subject",
    size: "Size", inboxEmpty: "No messages stored.", runs: "Checks",
    started: "Started", outcome: "Outcome", newMessages: "New", error: "Error", back: "Back",
    scheduleHint: "This screen's report, with the same filters, rendered by the workers at the schedule's times.", close: "Close",
    scheduleName: "Schedule name", cron: "When (cron, UTC)", format: "Format", scheduleSave: "Schedule",
    cronHint: "minute hour day month weekday; e.g. 0 7 * * 1 (Mondays at 07:00 UTC) or @daily",
    scheduled: "Report scheduled ({n}); next run: {w}.",
    edit: "Edit account", viewInbox: "View inbox", pageOf: "Page {p} of {n}",
    accounts: "{t} accounts", never: "never", saved: "Account saved.", created: "Account created.",
    stale: "Someone else changed this account while you were editing. Reload to see the current version.",
    fixErrors: "Fix the marked fields.", signedOut: "Signed out.",
    badLogin: "Operator or password not recognised.", throttled: "Too many attempts. Wait 15 minutes.",
    forbidden: "Your role does not allow this.", failed: "The operation failed",
    testConnection: "Test connection", checkNow: "Check now", testResult: "Test result",
    testOk: "Connected: {m} messages, {b} bytes ({ms} ms).", testFailed: "Failed ({c}): {e}",
    checkQueued: "Check sent to the workers (job {j}).", saveFirst: "Save the account before testing it.",
    stepNames: { "resolve host": "resolve host", connect: "connect", "network connector": "Network Connector", tls: "TLS", capabilities: "capabilities", login: "login", mailbox: "mailbox" },
    stateNames: { ok: "ok", FAILED: "FAILED", "not reached": "not reached", skipped: "skipped" },
    none: "(none)", editTitle: "Edit account", newTitle: "New account", noConnectors: "(no Network Connector registered)",
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("iq-lang") || "pt-BR";
if (!T[lang]) lang = "pt-BR";
let session = null; // {name, role, csrf}
let page = 1;
let editing = null; // {id, version} or {id: 0}
const rank = { auditor: 1, operator: 2, admin: 3 };

function t(key, vars) {
  let s = (T[lang] && T[lang][key]) || T.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", String(v));
  return s;
}

function applyLang() {
  document.documentElement.lang = lang;
  $("lang").value = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = t("title") + " — inboxq";
}

function notice(text, bad) {
  const n = $("notice");
  n.textContent = text || "";
  n.hidden = !text;
  n.classList.toggle("bad", !!bad);
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && session && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const r = await fetch(path, init);
  let data = null;
  if (r.status !== 204 && (r.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { data = await r.json(); } catch (e) { data = null; }
  }
  if (r.status === 401 && path !== "/api/v1/session") showSignIn();
  return { status: r.status, data, etag: r.headers.get("ETag") };
}

function errorText(res) {
  if (res.status === 403) return t("forbidden");
  const m = res.data && res.data.error && res.data.error.message;
  return t("failed") + (m ? ": " + m : " (" + res.status + ")");
}

function show(view) {
  // a view still loading when its operator signed out does not come back over the sign-in
  if (!session && view !== "signin-view") return;
  for (const v of ["signin-view", "report-view", "form-view", "inbox-view"]) $(v).hidden = v !== view;
  const signedIn = view !== "signin-view";
  $("who").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  if (signedIn && session) $("who").textContent = session.name + " (" + session.role + ")";
  const canWrite = session && rank[session.role] >= rank.operator;
  $("new-account").hidden = !canWrite;
  $("schedule").parentElement.hidden = !canWrite;
}

function showSignIn() {
  session = null;
  show("signin-view");
  $("si-name").focus();
}

// ---- the report ----

function filterParams() {
  const p = new URLSearchParams();
  const f = new FormData($("filters"));
  for (const [k, v] of f.entries()) if (v) p.set(k, v);
  return p;
}

function yesNo(v) {
  return v ? t("yes") : t("no");
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

async function loadReport() {
  const p = filterParams();
  p.set("page", String(page));
  const res = await api("GET", "/api/v1/accounts?" + p.toString());
  if (res.status !== 200) {
    if (res.status !== 401) notice(errorText(res), true);
    return;
  }
  const d = res.data;
  const tbody = $("rows");
  tbody.replaceChildren();
  for (const a of d.accounts) {
    const tr = document.createElement("tr");
    cell(tr, a.id, "num");
    cell(tr, a.name, "name");
    cell(tr, yesNo(a.secure));
    cell(tr, a.secure && a.secure_type ? a.secure_type.toUpperCase() : "");
    cell(tr, a.protocol ? a.protocol.toUpperCase() : "");
    cell(tr, a.port, "num");
    cell(tr, yesNo(a.auto_check));
    cell(tr, yesNo(a.keep_copy));
    cell(tr, a.last_status || t("never"), a.last_status ? "status-" + a.last_status : "");
    const td = cell(tr, "", "no-print");
    const box = document.createElement("div");
    box.className = "row-actions";
    const edit = document.createElement("button");
    edit.type = "button";
    edit.textContent = t("edit");
    edit.setAttribute("aria-label", t("edit") + " " + a.id);
    edit.addEventListener("click", () => { location.hash = "#/accounts/" + a.id + "/edit"; });
    const inbox = document.createElement("button");
    inbox.type = "button";
    inbox.textContent = t("viewInbox");
    inbox.setAttribute("aria-label", t("viewInbox") + " " + a.id);
    inbox.addEventListener("click", () => { location.hash = "#/accounts/" + a.id + "/inbox"; });
    box.append(edit, inbox);
    td.appendChild(box);
    tbody.appendChild(tr);
  }
  $("page-of").textContent = t("pageOf", { p: d.page, n: d.pages }) + " · " + t("accounts", { t: d.total });
  $("prev").disabled = d.page <= 1;
  $("next").disabled = d.page >= d.pages;
  const described = [];
  for (const [k, v] of filterParams().entries()) described.push(k + ": " + v);
  $("print-filters").textContent = described.length ? described.join("; ") : "";
}

// ---- the form ----

function setRadio(name, value) {
  for (const el of document.querySelectorAll('#account-form input[name="' + name + '"]')) el.checked = el.value === value;
}

function radio(name) {
  const el = document.querySelector('#account-form input[name="' + name + '"]:checked');
  return el ? el.value : null;
}

function syncConditional() {
  $("connector-field").hidden = radio("use_connector") !== "yes";
  $("secure-type-field").hidden = radio("secure") !== "yes";
}

function clearErrors() {
  for (const el of document.querySelectorAll("#account-form .error")) { el.textContent = ""; el.hidden = true; }
  for (const el of document.querySelectorAll("#account-form [aria-invalid]")) el.removeAttribute("aria-invalid");
}

function fieldError(field, message) {
  const box = document.querySelector('#account-form [data-field="' + field + '"]');
  const p = $("e-" + field);
  if (!box || !p) return false;
  p.textContent = message;
  p.hidden = false;
  const input = box.querySelector("input, select");
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  return true;
}

async function fillSelect(sel, path, key, emptyText) {
  const res = await api("GET", path);
  sel.replaceChildren();
  const first = document.createElement("option");
  first.value = "";
  first.textContent = emptyText;
  sel.appendChild(first);
  for (const item of (res.data && res.data[key]) || []) {
    const o = document.createElement("option");
    o.value = item.name;
    o.textContent = item.name;
    sel.appendChild(o);
  }
}

async function openForm(id) {
  clearErrors();
  $("form-error").hidden = true;
  $("test-result").hidden = true;
  await fillSelect($("a-credential"), "/api/v1/credentials", "credentials", t("choose"));
  await fillSelect($("a-connector"), "/api/v1/connectors", "connectors", t("none"));
  const f = $("account-form");
  f.reset();
  if (id) {
    const res = await api("GET", "/api/v1/accounts/" + id);
    if (res.status !== 200) { notice(errorText(res), true); location.hash = "#/accounts"; return; }
    const a = res.data;
    editing = { id: a.id, version: a.version };
    $("a-name").value = a.name;
    $("a-host").value = a.host;
    $("a-port").value = a.port_is_default ? "" : String(a.port);
    $("a-protocol").value = a.protocol;
    $("a-credential").value = a.credential || "";
    $("a-connector").value = a.connector || "";
    $("a-folder").value = a.folder || "";
    $("a-interval").value = a.check_interval || "";
    for (const k of ["keep_copy", "auto_check", "active", "use_connector", "ignore_certificate", "secure"]) setRadio(k, a[k] ? "yes" : "no");
    setRadio("secure_type", a.secure_type || "ssl");
    $("last-check").textContent = t("lastCheck") + ": " + (a.last_status ? a.last_status + " " + (a.last_check_at || "") + (a.last_error ? " — " + a.last_error : "") : t("never"));
    $("form-title").textContent = t("editTitle") + " " + a.id;
  } else {
    editing = { id: 0 };
    for (const [k, v] of [["keep_copy", "yes"], ["auto_check", "yes"], ["active", "yes"], ["use_connector", "no"], ["ignore_certificate", "no"], ["secure", "yes"], ["secure_type", "ssl"]]) setRadio(k, v);
    $("a-folder").value = "INBOX";
    $("a-interval").value = "5m";
    $("last-check").textContent = "";
    $("form-title").textContent = t("newTitle");
  }
  syncConditional();
  $("test-connection").hidden = !editing.id;
  $("check-now").hidden = !editing.id;
  show("form-view");
  $("a-name").focus();
}

async function saveForm(ev) {
  ev.preventDefault();
  clearErrors();
  $("form-error").hidden = true;
  const body = {
    name: $("a-name").value, host: $("a-host").value, port: $("a-port").value.trim(),
    protocol: $("a-protocol").value, credential: $("a-credential").value,
    folder: $("a-folder").value, check_interval: $("a-interval").value,
  };
  for (const k of ["keep_copy", "auto_check", "active", "use_connector", "ignore_certificate", "secure"]) body[k] = radio(k) === "yes";
  if (body.secure) body.secure_type = radio("secure_type") || "ssl";
  if (body.use_connector) body.connector = $("a-connector").value;
  let res;
  if (editing.id) {
    body.version = editing.version;
    res = await api("PATCH", "/api/v1/accounts/" + editing.id, body);
  } else {
    res = await api("POST", "/api/v1/accounts", body);
  }
  if (res.status === 200 || res.status === 201) {
    notice(editing.id ? t("saved") : t("created"));
    location.hash = "#/accounts";
    return;
  }
  const e = (res.data && res.data.error) || {};
  if (res.status === 409) {
    $("form-error").textContent = t("stale");
  } else if (res.status === 422 && e.field && fieldError(e.field, e.message)) {
    $("form-error").textContent = t("fixErrors");
  } else {
    $("form-error").textContent = errorText(res);
  }
  $("form-error").hidden = false;
}

async function testConnection() {
  const box = $("test-result");
  if (!editing || !editing.id) { notice(t("saveFirst"), true); return; }
  $("test-connection").disabled = true;
  const res = await api("POST", "/api/v1/accounts/" + editing.id + "/test");
  $("test-connection").disabled = false;
  if (res.status !== 200) { notice(errorText(res), true); return; }
  const d = res.data;
  const ol = $("test-steps");
  ol.replaceChildren();
  for (const s of d.steps) {
    const li = document.createElement("li");
    li.textContent = (T[lang].stepNames[s.step] || s.step) + ": " + (T[lang].stateNames[s.state] || s.state);
    li.className = s.state === "FAILED" ? "status-failed" : s.state === "ok" ? "status-ok" : "";
    ol.appendChild(li);
  }
  $("test-summary").textContent = d.ok
    ? t("testOk", { m: d.messages, b: d.bytes, ms: d.duration_ms })
    : t("testFailed", { c: d.error_class || "?", e: d.error || "" });
  box.hidden = false;
}

async function checkNow() {
  if (!editing || !editing.id) return;
  const res = await api("POST", "/api/v1/accounts/" + editing.id + "/check");
  if (res.status === 202) notice(t("checkQueued", { j: res.data.job_id }));
  else notice(errorText(res), true);
}

// ---- the inbox ----

async function openInbox(id) {
  const acct = await api("GET", "/api/v1/accounts/" + id);
  if (acct.status !== 200) { notice(errorText(acct), true); location.hash = "#/accounts"; return; }
  $("inbox-account").textContent = acct.data.name;
  const res = await api("GET", "/api/v1/accounts/" + id + "/inbox");
  const tbody = $("inbox-rows");
  tbody.replaceChildren();
  const msgs = (res.data && res.data.messages) || [];
  for (const m of msgs) {
    const tr = document.createElement("tr");
    cell(tr, m.date);
    cell(tr, m.from, "name");
    cell(tr, m.subject, "name");
    cell(tr, m.size, "num");
    tbody.appendChild(tr);
  }
  $("inbox-empty").hidden = msgs.length > 0;
  const runs = await api("GET", "/api/v1/accounts/" + id + "/runs");
  const rb = $("runs-rows");
  rb.replaceChildren();
  for (const r of (runs.data && runs.data.runs) || []) {
    const tr = document.createElement("tr");
    cell(tr, r.started_at);
    cell(tr, r.outcome, "status-" + r.outcome);
    cell(tr, r.messages_new, "num");
    cell(tr, r.error || "");
    rb.appendChild(tr);
  }
  show("inbox-view");
  $("inbox-back").focus();
}

// ---- routing ----

async function route() {
  if (!session) return;
  const h = location.hash || "#/accounts";
  let m;
  if ((m = h.match(/^#\/accounts\/(\d+)\/edit$/))) return openForm(Number(m[1]));
  if ((m = h.match(/^#\/accounts\/(\d+)\/inbox$/))) return openInbox(Number(m[1]));
  if (h === "#/accounts/new") return openForm(0);
  show("report-view");
  return loadReport();
}

// ---- Schedule report: this screen's filters, on a cron schedule ----

function clearScheduleErrors() {
  for (const el of document.querySelectorAll("#schedule-form .error")) { el.textContent = ""; el.hidden = true; }
  for (const el of document.querySelectorAll("#schedule-form [aria-invalid]")) el.removeAttribute("aria-invalid");
}

async function saveSchedule(ev) {
  ev.preventDefault();
  clearScheduleErrors();
  const filters = {};
  for (const [k, v] of filterParams().entries()) filters[k] = v;
  const body = { name: $("s-name").value.trim(), cron: $("s-cron").value.trim(), format: $("s-format").value, lang, filters };
  const res = await api("POST", "/api/v1/reports/schedules", body);
  if (res.status === 201) {
    $("schedule-dialog").close();
    notice(t("scheduled", { n: body.name, w: (res.data.next_runs || [])[0] || "?" }));
    return;
  }
  const e = (res.data && res.data.error) || {};
  const p = e.field && $("se-" + e.field);
  if (res.status === 422 && p) {
    p.textContent = e.message;
    p.hidden = false;
    const input = $("s-" + e.field);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  $("schedule-error").textContent = errorText(res);
  $("schedule-error").hidden = false;
}

function bind() {
  $("lang").addEventListener("change", () => {
    lang = $("lang").value;
    localStorage.setItem("iq-lang", lang);
    applyLang();
    route();
  });
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await api("POST", "/api/v1/session", { name: $("si-name").value, password: $("si-password").value });
    $("si-password").value = "";
    if (res.status === 200) {
      session = res.data;
      $("si-error").hidden = true;
      notice("");
      route();
      return;
    }
    $("si-error").textContent = res.status === 429 ? t("throttled") : res.status === 401 ? t("badLogin") : errorText(res);
    $("si-error").hidden = false;
  });
  $("signout").addEventListener("click", async () => {
    const res = await api("DELETE", "/api/v1/session");
    if (res.status !== 204 && res.status !== 401) { notice(errorText(res), true); return; }
    notice(t("signedOut"));
    showSignIn();
  });
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); page = 1; loadReport(); });
  $("filters").addEventListener("reset", () => { setTimeout(() => { page = 1; loadReport(); }, 0); });
  $("prev").addEventListener("click", () => { if (page > 1) { page--; loadReport(); } });
  $("next").addEventListener("click", () => { page++; loadReport(); });
  $("new-account").addEventListener("click", () => { location.hash = "#/accounts/new"; });
  const menu = $("actions-menu");
  $("actions-button").addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    $("actions-button").setAttribute("aria-expanded", String(!menu.hidden));
    if (!menu.hidden) menu.querySelector("button").focus();
  });
  menu.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { menu.hidden = true; $("actions-button").focus(); } });
  $("print").addEventListener("click", () => { menu.hidden = true; window.print(); });
  $("export-csv").addEventListener("click", () => {
    menu.hidden = true;
    const p = filterParams();
    p.set("lang", lang);
    const a = document.createElement("a");
    a.href = "/api/v1/accounts.csv?" + p.toString();
    a.download = "accounts.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
  $("schedule").addEventListener("click", () => {
    menu.hidden = true;
    clearScheduleErrors();
    $("schedule-dialog").showModal();
    $("s-name").focus();
  });
  $("schedule-cancel").addEventListener("click", () => { $("schedule-dialog").close(); });
  $("schedule-form").addEventListener("submit", saveSchedule);
  $("account-form").addEventListener("change", syncConditional);
  $("account-form").addEventListener("submit", saveForm);
  $("test-connection").addEventListener("click", testConnection);
  $("check-now").addEventListener("click", checkNow);
  $("form-cancel").addEventListener("click", () => { location.hash = "#/accounts"; });
  $("inbox-back").addEventListener("click", () => { location.hash = "#/accounts"; });
  window.addEventListener("hashchange", route);
}

async function start() {
  applyLang();
  bind();
  const res = await api("GET", "/api/v1/session");
  if (res.status === 200) {
    session = res.data;
    route();
  } else {
    showSignIn();
  }
}

document.addEventListener("DOMContentLoaded", start);
