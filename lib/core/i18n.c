/* SPDX-License-Identifier: MIT */
/* Report labels: English by default, the seed's pt-BR wording with --lang pt-BR. */
#include "i18n.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Indexed by iq_msg; the pt-BR column uses the seed's own labels wherever it has one. */
static const char *const messages[IQ_MSG__COUNT][2] = {
    [IQ_MSG_TITLE] = {"IMAP/POP3 settings", "Configuração IMAP/POP3"},
    [IQ_MSG_COL_CODE] = {"Code", "Código"},
    [IQ_MSG_COL_NAME] = {"Name", "Nome"},
    [IQ_MSG_COL_SECURE] = {"Secure connection", "Conexão segura"},
    [IQ_MSG_COL_SECURE_TYPE] = {"Connection type", "Tipo conexão"},
    [IQ_MSG_COL_PROTOCOL] = {"Protocol", "Protocolo"},
    [IQ_MSG_COL_PORT] = {"Port", "Porta"},
    [IQ_MSG_COL_AUTO_CHECK] = {"Automatic check", "Verificação automática"},
    [IQ_MSG_COL_KEEP_COPY] = {"Keep copy on server", "Manter cópia no servidor"},
    [IQ_MSG_COL_LAST_STATUS] = {"Last check", "Última verificação"},
    [IQ_MSG_COL_ACTIVE] = {"Active", "Ativo"},
    [IQ_MSG_FILTER_LAST_CHECK] = {"Last check", "Última verificação"},
    [IQ_MSG_YES] = {"Yes", "Sim"},
    [IQ_MSG_NO] = {"No", "Não"},
    [IQ_MSG_ALL] = {"All", "Todos"},
    [IQ_MSG_STATUS_OK] = {"OK", "OK"},
    [IQ_MSG_STATUS_FAILED] = {"Failed", "Falhou"},
    [IQ_MSG_STATUS_NEVER] = {"Never", "Nunca"},
    [IQ_MSG_FILTERS] = {"Filters", "Filtros"},
    [IQ_MSG_FILTERS_NONE] = {"none (all accounts)", "nenhum (todas as contas)"},
    [IQ_MSG_FILTER_NAME] = {"Name", "Nome"},
    [IQ_MSG_FILTER_SECURE] = {"Secure connection", "Conexão segura"},
    [IQ_MSG_FILTER_AUTO_CHECK] = {"Automatic check", "Verificação automática"},
    [IQ_MSG_FILTER_KEEP_COPY] = {"Keep copy", "Manter cópia"},
    [IQ_MSG_FILTER_ACTIVE] = {"Active", "Situação"},
    [IQ_MSG_GENERATED] = {"Generated", "Gerado em"},
    [IQ_MSG_PAGE] = {"Page", "Página"},
    [IQ_MSG_OF] = {"of", "de"},
    [IQ_MSG_ACCOUNT] = {"account", "conta"},
    [IQ_MSG_ACCOUNTS] = {"accounts", "contas"},
    [IQ_MSG_NO_ROWS] = {"No accounts match the filters.",
                        "Nenhuma conta encontrada com estes filtros."},
    [IQ_MSG_NEXT_PAGE] = {"next page", "próxima página"},
    [IQ_MSG_LAST_PAGE] = {"last page", "última página"},
};

int iq_lang_parse(const char *s, iq_lang *lang_r)
{
    if (!s || !*s || iq_str_eq_nocase(s, "en") || iq_str_eq_nocase(s, "en-US") ||
        iq_str_eq_nocase(s, "en_US")) {
        *lang_r = IQ_LANG_EN;
        return 0;
    }
    if (iq_str_eq_nocase(s, "pt-BR") || iq_str_eq_nocase(s, "pt_BR") || iq_str_eq_nocase(s, "pt")) {
        *lang_r = IQ_LANG_PT_BR;
        return 0;
    }
    return -1;
}

const char *iq_lang_tag(iq_lang lang)
{
    return lang == IQ_LANG_PT_BR ? "pt-BR" : "en";
}

const char *iq_msg_get(iq_lang lang, iq_msg msg)
{
    if ((unsigned)msg >= IQ_MSG__COUNT)
        return "";
    const char *s = messages[msg][lang == IQ_LANG_PT_BR ? 1 : 0];
    return s ? s : "";
}

void iq_i18n_page_of(iq_lang lang, int64_t page, int64_t pages, char *buf, size_t size)
{
    snprintf(buf, size, "%s %lld %s %lld", iq_msg_get(lang, IQ_MSG_PAGE), (long long)page,
             iq_msg_get(lang, IQ_MSG_OF), (long long)pages);
}

void iq_i18n_time(iq_lang lang, int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return;
    }
    char iso[96];
    snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    iq_i18n_time_text(lang, iso, buf, size);
}

void iq_time_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "?");
}

void iq_i18n_time_text(iq_lang lang, const char *s, char *buf, size_t size)
{
    if (!s || !*s) {
        snprintf(buf, size, "-");
        return;
    }
    /* "YYYY-MM-DDTHH:MM..." by position: digits where digits belong */
    static const char shape[] = "dddd-dd-ddTdd:dd";
    bool ok = strlen(s) >= sizeof(shape) - 1;
    for (size_t i = 0; ok && i < sizeof(shape) - 1; i++)
        ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9')
                             : (s[i] == shape[i] || (shape[i] == 'T' && s[i] == ' '));
    if (ok) {
#define NUM2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
        int y = NUM2(s) * 100 + NUM2(s + 2), mo = NUM2(s + 5), d = NUM2(s + 8), h = NUM2(s + 11),
            mi = NUM2(s + 14);
#undef NUM2
        if (lang == IQ_LANG_PT_BR)
            snprintf(buf, size, "%02d/%02d/%04d %02d:%02d UTC", d, mo, y, h, mi);
        else
            snprintf(buf, size, "%04d-%02d-%02d %02d:%02d UTC", y, mo, d, h, mi);
        return;
    }
    snprintf(buf, size, "%s", s);
}
