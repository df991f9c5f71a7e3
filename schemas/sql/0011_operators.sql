-- SPDX-License-Identifier: MIT
-- inboxq schema, version 11: the people who sign in to `inboxq serve` (the web console and its
-- HTTP API). An operator has a role (auditor reads everything and the audit; operator also
-- edits accounts and runs checks and reports; admin also manages credentials, connectors and
-- operators) and an argon2id password hash (libsodium's crypto_pwhash_str text). Sessions live
-- here so that several `inboxq serve` processes behind a load balancer share nothing else: the
-- cookie carries a random token, the table only its SHA-256 (a database read does not hand out
-- live sessions). Sign-in failures are kept a short while to throttle per account and address.
-- An operator's changes are audited as "console:NAME" (audit_log.actor), so the audit's entity
-- list gains 'operator'.
CREATE TABLE operators (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    pw_hash     text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_sessions (
    token_hash   bytea PRIMARY KEY,          -- SHA-256 of the cookie's token
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf         text NOT NULL,              -- the token every state change must echo
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    peer         text NOT NULL DEFAULT ''
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at);

-- API tokens for integrators: hashed like sessions, scoped to a role no higher than their
-- operator's, revocable.
CREATE TABLE operator_tokens (
    id           bigserial PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE signin_failures (
    id    bigserial PRIMARY KEY,
    name  text NOT NULL,
    peer  text NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_failures_name ON signin_failures (name, at);
CREATE INDEX signin_failures_peer ON signin_failures (peer, at);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check
    CHECK (entity IN ('account', 'credential', 'connector', 'schedule', 'operator'));
