-- SPDX-License-Identifier: MIT
-- inboxq schema, version 8: an outbox event is kept as the JSON text the worker wrote (json, not
-- jsonb). The relay only reads it back as text for Kafka: parsing every event into jsonb on
-- insert and printing it back cost PostgreSQL about as much as storing the message's row, and
-- what reached Kafka was jsonb's re-formatting (keys reordered, spaces added) instead of the
-- worker's bytes. Rows are deleted once Kafka confirmed them (worker/relay.c); sent_at stays
-- for rows relayed by older workers and is no longer set.
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
