-- Up Migration

-- The checkout intake (src/intake/PostgresIntake.ts). It lives in the queue's
-- database, under the queue's migration history, because the API writes both
-- without ever touching the ledger, and because get() reads a checkout's
-- dead-letter state straight from queue_message (dedup id = checkout id).
CREATE TABLE checkout_intake (
  checkout_id text PRIMARY KEY,
  creator_id text NOT NULL,
  -- sha256 of the canonical request body; a replay must match it forever.
  request_hash text NOT NULL,
  status text NOT NULL DEFAULT 'received'
    CHECK (status IN ('received', 'queued', 'charged', 'declined', 'dead_lettered')),
  -- The queue's sequence at acceptance: the per-creator order the auditor checks.
  queue_sequence bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  detail text
);

CREATE INDEX checkout_intake_creator_order ON checkout_intake (creator_id, queue_sequence);

-- Down Migration

DROP TABLE checkout_intake;
