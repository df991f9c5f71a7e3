-- SPDX-License-Identifier: MIT
-- inboxq schema, version 10: OAuth2 sign-in (XOAUTH2, OAUTHBEARER).
-- A credential is a password (as before) or OAuth2. An OAuth2 credential keeps what is not
-- secret in `oauth` (provider, tenant, token endpoint, client id, grant, scope, the service
-- account's e-mail and key id, the client certificate's thumbprint) and its secrets (client
-- secret, client key, refresh token, service-account key) sealed together in the secret_*
-- columns as one JSON object, so rekey and the tamper checks cover them unchanged.
ALTER TABLE credentials
    ADD COLUMN type text NOT NULL DEFAULT 'password' CHECK (type IN ('password', 'oauth2')),
    ADD COLUMN oauth jsonb,
    ADD CONSTRAINT credentials_oauth_type CHECK ((type = 'oauth2') = (oauth IS NOT NULL));

-- How an account logs in: auto (the credential's type and the server's capabilities decide),
-- password, or one of the OAuth2 SASL mechanisms.
ALTER TABLE mail_accounts
    ADD COLUMN auth text NOT NULL DEFAULT 'auto'
        CHECK (auth IN ('auto', 'password', 'xoauth2', 'oauthbearer'));

-- The access token every worker shares, sealed with the master key (associated data
-- "inboxq-token:<credential id>"), with its expiry. One row per credential; the worker that
-- refreshes it holds the row lock (SELECT ... FOR UPDATE) meanwhile, so the others wait for
-- its result instead of asking the token endpoint too.
CREATE TABLE oauth_tokens (
    credential_id bigint PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    token_nonce   bytea CHECK (length(token_nonce) = 12),
    token_tag     bytea CHECK (length(token_tag) = 16),
    token_ct      bytea,
    key_id        text,
    expires_at    timestamptz,
    scope         text,                       -- as granted (the endpoint's "scope")
    obtained_at   timestamptz,
    requests      bigint NOT NULL DEFAULT 0,  -- token endpoint calls made for it
    last_error    text,                       -- the endpoint's last refusal, never a secret
    last_error_class text,                    -- its class (oauth, connect, timeout, ...)
    failed_at     timestamptz                 -- when; the others reuse it for a while
);
