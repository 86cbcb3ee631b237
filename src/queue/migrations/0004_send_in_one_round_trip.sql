-- Up Migration

-- Sending a message, and accepting a checkout, each in one round trip and one
-- commit (docs/performance.md measured the accept path at 6 statements and 3
-- commits, most of its cost). Both are plpgsql functions so that the steps run
-- in order, each with a fresh snapshot (READ COMMITTED: every statement of a
-- volatile function takes a new one), inside the caller's single statement:
-- atomic, and one network exchange.

-- queue_send: claim the dedup id, then append the message to its group. The
-- same two steps, in the same lock order (dedup row, then group row, then the
-- message draws its sequence), as the statements src/queue/sql/ ran before:
-- - The dedup claim is an upsert on queue_dedup's primary key, so two
--   concurrent sends of one dedup id serialise on that row: the second waits
--   for the first to commit and then sees it as a duplicate (unless the
--   window has passed).
-- - The group row is locked (upserted) before the message draws its sequence
--   number, so sends of one group commit in sequence order, and a receiver can
--   never see seq 11 of a group while seq 10 is still uncommitted behind it.
CREATE FUNCTION queue_send(p_group_id text, p_dedup_id text, p_body text, p_dedup_window_sec integer)
RETURNS TABLE (message_id uuid, seq bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_message_id uuid;
  v_seq bigint;
BEGIN
  INSERT INTO queue_dedup AS d (dedup_id, message_id, seq, expires_at)
  VALUES (p_dedup_id, uuidv7(), NULL, now() + make_interval(secs => p_dedup_window_sec))
  ON CONFLICT (dedup_id) DO UPDATE
    SET message_id = excluded.message_id, seq = NULL, expires_at = excluded.expires_at
    WHERE d.expires_at <= now()
  RETURNING d.message_id INTO v_message_id;

  IF v_message_id IS NULL THEN
    -- A duplicate. This is a new statement, so it sees the original's committed row.
    RETURN QUERY SELECT d.message_id, d.seq, true FROM queue_dedup d WHERE d.dedup_id = p_dedup_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'queue_dedup row for % vanished inside its own lock', p_dedup_id;
    END IF;
    RETURN;
  END IF;

  INSERT INTO queue_group AS g (group_id, pending) VALUES (p_group_id, 1)
  ON CONFLICT (group_id) DO UPDATE SET pending = g.pending + 1;
  INSERT INTO queue_message AS m (message_id, group_id, dedup_id, body)
  VALUES (v_message_id, p_group_id, p_dedup_id, p_body)
  RETURNING m.seq INTO v_seq;
  UPDATE queue_dedup d SET seq = v_seq WHERE d.dedup_id = p_dedup_id;
  RETURN QUERY SELECT v_message_id, v_seq, false;
END
$$;

-- checkout_accept: what POST /v1/checkouts writes for a new checkout, in one
-- transaction: the intake row (status 'queued', with its acceptance sequence)
-- and the queue message (group = creator, dedup id = checkout id). Returns
-- accepted = false, writing nothing, when the checkout id already has an intake
-- row; the caller then reads it to tell a replay from a conflict.
--
-- Concurrent accepts of one checkout: neither sees the other's intake row at
-- first, both reach queue_send, and the second waits on the first's dedup row.
-- When the first commits, the second's send is a duplicate, and its next
-- statement sees the first's intake row: accepted = false, nothing written.
-- A duplicate send with no intake row (a message that something other than the
-- API sent with this dedup id) records the intake with the original message's
-- sequence, as the API did before.
CREATE FUNCTION checkout_accept(
  p_checkout_id text,
  p_creator_id text,
  p_request_hash text,
  p_body text,
  p_received_at timestamptz,
  p_dedup_window_sec integer
)
RETURNS TABLE (accepted boolean, queue_sequence text, received_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_sent record;
BEGIN
  IF EXISTS (SELECT 1 FROM checkout_intake i WHERE i.checkout_id = p_checkout_id) THEN
    RETURN QUERY SELECT false, NULL::text, NULL::timestamptz, NULL::timestamptz;
    RETURN;
  END IF;

  SELECT * INTO v_sent FROM queue_send(p_creator_id, p_checkout_id, p_body, p_dedup_window_sec);
  IF v_sent.duplicate AND EXISTS (SELECT 1 FROM checkout_intake i WHERE i.checkout_id = p_checkout_id) THEN
    RETURN QUERY SELECT false, NULL::text, NULL::timestamptz, NULL::timestamptz;
    RETURN;
  END IF;

  RETURN QUERY
  INSERT INTO checkout_intake AS i
    (checkout_id, creator_id, request_hash, status, queue_sequence, received_at, updated_at)
  VALUES
    (p_checkout_id, p_creator_id, p_request_hash, 'queued', v_sent.seq, p_received_at, p_received_at)
  RETURNING true, i.queue_sequence::text, i.received_at, i.updated_at;
END
$$;

-- Down Migration

DROP FUNCTION checkout_accept(text, text, text, text, timestamptz, integer);
DROP FUNCTION queue_send(text, text, text, integer);
