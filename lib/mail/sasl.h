/* SPDX-License-Identifier: MIT */
/* OAuth2 SASL for the check: XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628),
 * over IMAP AUTHENTICATE (with SASL-IR, RFC 4959, when offered, else the continuation) and
 * POP3 AUTH (RFC 5034; the initial response on the command line only when the line stays
 * within 255 octets, else after the "+" continuation, the form Microsoft documents). The
 * lines are written to the stream here: a token is longer than libetpan's POP3 line buffer.
 * A server that refuses the token gets one fresh token and one retry, never more. */
#ifndef IQ_SASL_H
#define IQ_SASL_H

#include <stdbool.h>

#include <libetpan/libetpan.h>

#include "account.h"
#include "session.h"

/* The mechanism for the account's auth setting and the server's capabilities (IMAP
 * AUTH=NAME, POP3 CAPA SASL NAME): IQ_AUTH_XOAUTH2 or IQ_AUTH_OAUTHBEARER, or -1 after
 * recording the failure (the connection is not encrypted: IQ_ERR_CONFIG, a token is never
 * sent in clear; the server offers neither: IQ_ERR_AUTH). */
int iq_sasl_choose(iq_session *s, bool imap);

/* The client's first message, base64 (malloc'd; iq_secret_free). */
char *iq_sasl_initial(iq_auth_method mech, const char *user, const char *host, int port,
                      const char *token);

/* A server's base64 JSON failure status ({"status":"401","schemes":...,"scope":...}) as one
 * printable line (malloc'd); *retry_r tells whether the token itself was refused (401 or
 * invalid_token): the one case a fresh token may help. */
char *iq_sasl_status_text(const char *b64, bool *retry_r);

/* The login hooks of the IMAP and POP3 drivers, with s->oauth set: 0 logged in, or -1 with
 * the failure recorded (IQ_ERR_AUTH for a refusal, the token step's class when no token). */
int iq_sasl_imap_login(iq_session *s, mailimap *imap);
int iq_sasl_pop3_login(iq_session *s, MMAPString *line);

#endif
