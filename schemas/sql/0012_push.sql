-- SPDX-License-Identifier: MIT
-- inboxq schema, version 12: IMAP IDLE push (issue 16).
-- mail_accounts.push: auto (IDLE when the server advertises it, else polling), idle (always
-- try IDLE; a server without it is reported and polled), off (polling only). Polling goes on
-- for every account at its interval as the reconciliation sweep either way.
ALTER TABLE mail_accounts
    ADD COLUMN push text NOT NULL DEFAULT 'auto' CHECK (push IN ('auto', 'idle', 'off'));

-- Which worker holds an IDLE connection for an account right now. Written by the worker that
-- owns the account's check-topic partition (worker/push.c): a row when IDLE is established,
-- deleted when the connection ends or the partition is revoked. A worker that dies leaves its
-- rows; the partition's next owner replaces them (account_id is the key), and a row whose
-- worker stopped heartbeating (workers.heartbeat_at) is stale for display.
CREATE TABLE push_sessions (
    account_id bigint PRIMARY KEY REFERENCES mail_accounts (id) ON DELETE CASCADE,
    worker     text NOT NULL,
    since      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_sessions_worker ON push_sessions (worker);
