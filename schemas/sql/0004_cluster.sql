-- SPDX-License-Identifier: MIT
-- inboxq schema, version 4: what the cluster needs beyond the tables of version 1.

-- Failed checks in a row: the scheduler backs off transient failures (exponentially, with
-- jitter, bounded) and authentication failures (long waits, no lockouts) from this count.
ALTER TABLE mail_accounts ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;

-- Live workers: each process upserts its row every few seconds; `inboxq status` lists the
-- ones seen recently.
CREATE TABLE workers (
    name            text PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    concurrency     integer NOT NULL,
    jobs_in_flight  integer NOT NULL DEFAULT 0,
    jobs_done       bigint NOT NULL DEFAULT 0
);

-- Who asked for a check (scheduler, cli:<user>), for `inboxq runs`.
ALTER TABLE check_runs ADD COLUMN requested_by text;
