-- SPDX-License-Identifier: MIT
-- inboxq schema, version 1: vault, connectors, accounts, mailbox state, messages, runs,
-- outbox, reports and audit. Applied by `inboxq migrate` inside one transaction.

CREATE TABLE credentials (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    username      text NOT NULL,
    -- AES-256-GCM of the secret; the credential id is the associated data.
    secret_nonce  bytea NOT NULL CHECK (length(secret_nonce) = 12),
    secret_tag    bytea NOT NULL CHECK (length(secret_tag) = 16),
    secret_ct     bytea NOT NULL,
    key_id        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX credentials_name_ci ON credentials (lower(name));

CREATE TABLE network_connectors (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    type          text NOT NULL CHECK (type IN ('socks5', 'http')),
    host          text NOT NULL,
    port          integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    credential_id bigint REFERENCES credentials (id) ON DELETE RESTRICT,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX network_connectors_name_ci ON network_connectors (lower(name));

CREATE TABLE mail_accounts (
    id                 bigserial PRIMARY KEY,          -- "Código"
    name               text NOT NULL,                  -- Nome da conta
    keep_copy          boolean NOT NULL DEFAULT true,  -- Manter cópia no servidor
    auto_check         boolean NOT NULL DEFAULT true,  -- Verificação automática
    active             boolean NOT NULL DEFAULT true,  -- Ativo
    host               text NOT NULL,                  -- Endereço
    port               integer NOT NULL CHECK (port BETWEEN 1 AND 65535), -- Porta (resolved)
    port_is_default    boolean NOT NULL DEFAULT true,
    protocol           text NOT NULL CHECK (protocol IN ('imap', 'pop3')),
    use_connector      boolean NOT NULL DEFAULT false, -- Usar Network Connector
    connector_id       bigint REFERENCES network_connectors (id) ON DELETE RESTRICT,
    credential_id      bigint NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    ignore_certificate boolean NOT NULL DEFAULT false, -- Ignorar certificado
    secure             boolean NOT NULL DEFAULT true,  -- Usar conexão segura
    secure_type        text CHECK (secure_type IN ('tls', 'ssl')), -- tls = STARTTLS, ssl = implicit
    folder             text NOT NULL DEFAULT 'INBOX',
    apop               boolean NOT NULL DEFAULT false,
    check_interval_s   integer NOT NULL DEFAULT 300 CHECK (check_interval_s BETWEEN 5 AND 604800),
    next_check_at      timestamptz NOT NULL DEFAULT now(),
    last_check_at      timestamptz,
    last_status        text,                           -- ok | failed | null (never checked)
    last_error_class   text,
    last_error         text,
    last_success_at    timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    CHECK (secure OR secure_type IS NULL),
    CHECK (NOT secure OR secure_type IS NOT NULL),
    CHECK (use_connector = (connector_id IS NOT NULL))
);
CREATE UNIQUE INDEX mail_accounts_name_ci ON mail_accounts (lower(name));
CREATE INDEX mail_accounts_due ON mail_accounts (next_check_at) WHERE active AND auto_check;

CREATE TABLE mailbox_state (
    account_id   bigint NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    mailbox      text NOT NULL,
    uidvalidity  bigint,          -- IMAP only
    highest_uid  bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, mailbox)
);

CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    mailbox       text NOT NULL,
    -- server identity: IMAP "UIDVALIDITY:UID", POP3 the UIDL
    server_id     text NOT NULL,
    uidvalidity   bigint,
    uid           bigint,
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    message_id    text,
    from_addr     text,
    to_addr       text,
    subject       text,
    sent_at       timestamptz,
    size          bigint NOT NULL,
    flags         text,
    raw           bytea NOT NULL,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    deleted_on_server_at timestamptz,
    UNIQUE (account_id, mailbox, server_id)
);
-- finds the same content again after a UIDVALIDITY change (matched, not inserted twice)
CREATE INDEX messages_content ON messages (account_id, mailbox, sha256);
CREATE INDEX messages_listing ON messages (account_id, sent_at DESC NULLS LAST, id DESC);

CREATE TABLE check_runs (
    id                bigserial PRIMARY KEY,
    job_id            uuid NOT NULL UNIQUE,
    account_id        bigint NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    worker            text NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz,
    outcome           text CHECK (outcome IN ('ok', 'failed', 'partial')),
    error_class       text,
    error             text,
    messages_new      integer NOT NULL DEFAULT 0,
    messages_deleted  integer NOT NULL DEFAULT 0,
    messages_skipped  integer NOT NULL DEFAULT 0,
    bytes             bigint NOT NULL DEFAULT 0,
    tls_version       text,
    tls_cipher        text,
    tls_fingerprint   text,
    duration_ms       bigint
);
CREATE INDEX check_runs_account ON check_runs (account_id, started_at DESC);

-- Transactional outbox of new-mail events: written with the message, relayed to Kafka.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE report_schedules (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    cron          text NOT NULL,
    format        text NOT NULL CHECK (format IN ('csv', 'html', 'pdf')),
    lang          text NOT NULL DEFAULT 'en',
    filters       jsonb NOT NULL DEFAULT '{}',
    output_dir    text,
    active        boolean NOT NULL DEFAULT true,
    next_run_at   timestamptz NOT NULL,
    last_run_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX report_schedules_name_ci ON report_schedules (lower(name));

CREATE TABLE reports (
    id            bigserial PRIMARY KEY,
    job_id        uuid UNIQUE,
    schedule_id   bigint REFERENCES report_schedules (id) ON DELETE SET NULL,
    format        text NOT NULL CHECK (format IN ('csv', 'html', 'pdf')),
    lang          text NOT NULL DEFAULT 'en',
    filters       jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error         text,
    rows          integer,
    output        bytea,
    output_path   text,
    requested_by  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    entity       text NOT NULL CHECK (entity IN ('account', 'credential', 'connector', 'schedule')),
    entity_id    bigint NOT NULL,
    changes      jsonb NOT NULL DEFAULT '{}'   -- {"field": {"old": .., "new": ..}}; never secrets
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at);
