/* SPDX-License-Identifier: MIT */
/* HTTPS form POSTs for the OAuth2 token and device endpoints (libcurl): the server verified as
 * mail servers are (the system store or ca_file), through a SOCKS5 or HTTP proxy when given,
 * bounded in time and in the size of the answer. Nothing here logs; request bodies (which hold
 * secrets) are wiped. */
#ifndef IQ_HTTP_H
#define IQ_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define IQ_HTTP_MAX_RESPONSE (64u * 1024) /* a token response is a few KiB */

typedef enum { IQ_HTTP_PROXY_NONE = 0, IQ_HTTP_PROXY_SOCKS5, IQ_HTTP_PROXY_HTTP } iq_http_proxy;

typedef struct iq_http_opts {
    const char *ca_file; /* PEM bundle; NULL or "": the system store */
    iq_http_proxy proxy;
    const char *proxy_host;
    int proxy_port;
    const char *proxy_user; /* NULL: none */
    const char *proxy_pass;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;  /* the whole request */
    size_t max_response; /* 0: IQ_HTTP_MAX_RESPONSE */
} iq_http_opts;

typedef struct iq_http_response {
    long status;
    char *body; /* NUL-terminated; wiped and freed by iq_http_response_release */
    size_t len;
} iq_http_response;

void iq_http_response_release(iq_http_response *r);

/* POSTs fields (name, value, name, value, ..., NULL) form-encoded to url (https only, no
 * redirects). 0 with *r (any HTTP status), or -1 with *class_r (IQ_ERR_DNS, _CONNECT, _PROXY,
 * _TLS_HANDSHAKE, _TLS_VERIFY, _TIMEOUT, _SIZE_LIMIT) and *error_r naming the host. */
int iq_http_post_form(const char *url, const char *const *fields, const iq_http_opts *o,
                      iq_http_response *r, iq_err *class_r, char **error_r);

#endif
