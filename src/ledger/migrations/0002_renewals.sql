-- Up Migration

-- Recurring settlements (docs/renewals.md). A subscription's settlement
-- schedule names the next period to bill (`period`), which attempt at it comes
-- next (`attempt`: 1 is the charge on the period's start, 2.. are retries after
-- declines) and when (`next_charge_at`). While an attempt is claimed and not
-- yet settled, `pending_checkout_id` holds its checkout id: the scheduler never
-- claims a subscription that has one, so at most one attempt per subscription
-- is ever in flight, and the ledger transaction that settles it is the only
-- thing that clears it (and, on a charge, moves `period` on by exactly one).
ALTER TABLE settlement_schedules
  ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  ADD COLUMN pending_checkout_id uuid UNIQUE;

-- The scheduler's scan: due and not in flight.
CREATE INDEX settlement_schedules_due ON settlement_schedules (next_charge_at)
  WHERE pending_checkout_id IS NULL;
-- The past-due gauge.
CREATE INDEX subscriptions_past_due ON subscriptions (id) WHERE status = 'past_due';

-- One row per claimed renewal attempt, written in the scheduler's claim
-- transaction, before the message exists: this table is the scheduler's
-- outbox towards the payment queue (a separate database, so no transaction
-- spans both). The checkout id is derived from (subscription, period,
-- attempt), and `message` is the exact queue body, so a re-send after a crash
-- is byte-identical and the queue's dedup and the checkouts primary key make
-- it harmless. The outcome of an attempt is its row in `checkouts`.
CREATE TABLE renewal_attempts (
  subscription_id   uuid NOT NULL REFERENCES subscriptions (id),
  period            integer NOT NULL CHECK (period >= 1),
  attempt           integer NOT NULL CHECK (attempt >= 1),
  checkout_id       uuid NOT NULL UNIQUE,
  creator_id        uuid NOT NULL REFERENCES creators (id),
  period_start      timestamptz NOT NULL,
  -- The scheduler's clock (injectable): when the attempt was due and when it was claimed.
  due_at            timestamptz NOT NULL,
  claimed_at        timestamptz NOT NULL,
  message           text NOT NULL,
  -- Wall-clock time the queue acknowledged the send; NULL = claimed, not (known to be) sent.
  enqueued_at       timestamptz,
  queue_message_id  text,
  PRIMARY KEY (subscription_id, period, attempt)
);
CREATE INDEX renewal_attempts_unsent ON renewal_attempts (claimed_at) WHERE enqueued_at IS NULL;

-- Down Migration
DROP TABLE renewal_attempts;
DROP INDEX settlement_schedules_due, subscriptions_past_due;
ALTER TABLE settlement_schedules DROP COLUMN pending_checkout_id, DROP COLUMN attempt;
