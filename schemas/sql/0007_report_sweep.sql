-- SPDX-License-Identifier: MIT
-- inboxq schema, version 7: reports whose job was lost are published again, and a report is
-- rendered by one worker at a time.
--
-- A crash (or Kafka being away) between committing a reports row and the broker confirming its
-- job leaves the row pending with no job anywhere. The scheduler's sweeper publishes the job of
-- a report that stayed pending (or running on a worker that stopped heartbeating) again, with
-- the same job_id, counts that here, and marks the report failed after report_sweep_attempts.
ALTER TABLE reports ADD COLUMN republished integer NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN republished_at timestamptz;

-- A worker claims a report only while it is pending (one conditional UPDATE: one winner), with
-- a token of its own, and stores its result only while the row still carries that token; a
-- duplicate job (the original arriving late beside a republished one) finds it taken and skips.
ALTER TABLE reports ADD COLUMN claimed_by text;   -- workers.name of the claiming process
ALTER TABLE reports ADD COLUMN claimed_at timestamptz;
ALTER TABLE reports ADD COLUMN claim uuid;

-- What the sweeper scans each tick.
CREATE INDEX reports_unfinished ON reports (created_at) WHERE status IN ('pending', 'running');
