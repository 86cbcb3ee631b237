-- Up Migration

-- One row per message group (a creator). It is the unit of locking: every
-- change to a group's messages first locks this row, so sends of one group get
-- their sequence numbers in commit order, and a receiver never races a delete,
-- a redrive or another receiver on the same group. Rows are kept when a group
-- empties: deleting them would race a concurrent send, and creators are few.
CREATE TABLE queue_group (
  group_id text PRIMARY KEY,
  -- Messages of the group that are waiting or in flight (dead letters excluded).
  pending integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
  -- When the group's head may next be delivered: in the past while the head
  -- waits; the head's visibility deadline while it is in flight. This one
  -- column is the head-of-line block: a group is never receivable while its
  -- head is invisible, whatever waits behind it.
  visible_at timestamptz NOT NULL DEFAULT now()
);

-- The receive scan: receivable groups, longest waiting first. Partial, so the
-- many idle creators cost nothing.
CREATE INDEX queue_group_receivable ON queue_group (visible_at) WHERE pending > 0;

CREATE SEQUENCE queue_message_seq AS bigint;

CREATE TABLE queue_message (
  message_id uuid PRIMARY KEY DEFAULT uuidv7(),
  group_id text NOT NULL REFERENCES queue_group (group_id),
  -- Position in the queue. Assigned under the group lock, so within a group it
  -- increases in commit order; a redrive assigns a new one (the tail).
  seq bigint NOT NULL DEFAULT nextval('queue_message_seq'),
  dedup_id text NOT NULL,
  body text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now(),
  receive_count integer NOT NULL DEFAULT 0,
  -- Secret of the current delivery: a receipt handle is valid only while it
  -- matches. Null before the first receive and once dead-lettered.
  receipt uuid,
  dead_lettered_at timestamptz
);

-- The head of a group: its lowest live seq.
CREATE UNIQUE INDEX queue_message_group_order ON queue_message (group_id, seq) WHERE dead_lettered_at IS NULL;
CREATE INDEX queue_message_dead_letters ON queue_message (dead_lettered_at, seq) WHERE dead_lettered_at IS NOT NULL;
-- Lets the checkout intake find the message of a checkout (dedup id = checkout id).
CREATE INDEX queue_message_dedup_id ON queue_message (dedup_id);

-- Deduplication window, SQS-style: a dedup id seen less than the window ago
-- is a duplicate even if its message has since been deleted.
CREATE TABLE queue_dedup (
  dedup_id text PRIMARY KEY,
  message_id uuid NOT NULL,
  -- Null only inside the sending transaction, before its message exists.
  seq bigint,
  expires_at timestamptz NOT NULL
);
CREATE INDEX queue_dedup_expiry ON queue_dedup (expires_at);

-- Down Migration

DROP TABLE queue_dedup;
DROP TABLE queue_message;
DROP SEQUENCE queue_message_seq;
DROP TABLE queue_group;
