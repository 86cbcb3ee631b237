-- Up Migration

-- The intake records the queue's sequence number as the per-creator acceptance
-- order. The Postgres queue's sequences are bigint, but Amazon SQS FIFO
-- sequence numbers are 128-bit decimal strings (up to 39 digits), which bigint
-- cannot hold. numeric(39, 0) holds both exactly; the ledger's
-- checkouts.queue_sequence has the same type. The code passes the number as a
-- decimal string and reads it back as one (node-postgres returns numeric as a
-- string), so no precision is lost on the way.
ALTER TABLE checkout_intake ALTER COLUMN queue_sequence TYPE numeric(39, 0);

-- Down Migration

ALTER TABLE checkout_intake ALTER COLUMN queue_sequence TYPE bigint;
