-- Up Migration

-- The relay's own table in the ledger database (applied by the relay at
-- start-up, recorded in outbox_migrations). An outbox row that fails
-- validation on the way out (unknown type, unknown schema version, payload
-- that does not match its schema) is parked here instead of published: it
-- stays unpublished in the outbox (published_at NULL) so nothing pretends it
-- went out, and the relay skips it so one bad row does not stop every
-- creator's events. Deleting a row here makes the relay try it again
-- (docs/events.md, "Invalid events").
CREATE TABLE outbox_parked (
  outbox_id  bigint PRIMARY KEY,
  event_id   uuid NOT NULL,
  reason     text NOT NULL,
  parked_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE outbox_parked;
