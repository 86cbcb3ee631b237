-- Up Migration

-- Reconciliation (src/reconcile/, docs/drills.md "row-rewrite and
-- reconciliation"). The write-ups' nightly job rewrote committed checkout rows
-- to status 'failed' with the retry flag set. Two defences:
--
-- 1. A guard (prevention): once written, the money rows of the ledger are
--    never rewritten. A checkout's outcome columns, a charge, a journal
--    transaction and its entries refuse UPDATE and DELETE, unless the
--    transaction has declared itself a deliberate repair with
--      SELECT set_config('firebreak.ledger_repair', '<why>', true)
--    which is what the reconciler does. This stops an accidental rewrite (a job,
--    a psql session); it is not a security boundary: the owner can disable a
--    trigger (ALTER TABLE ... DISABLE TRIGGER, session_replication_role), as
--    the nightly job's operator would, and the row-rewrite drill does.
--    Inserts are not touched, so the commit path pays nothing for it.
--    checkouts.amount_minor and the other descriptive columns are left out: the
--    provider's record is still checked against them by the reconciler.
--
-- 2. Detection and repair: the reconciler compares the ledger with the
--    provider's record, restores what was rewritten and writes one row here per
--    repaired checkout, in the same transaction as the repair. This table is
--    append-only for everyone, the reconciler included.

CREATE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('firebreak.ledger_repair', true), '') <> '' THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  RAISE EXCEPTION 'ledger rows are written once: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '55000',
          HINT = 'Committed money rows are corrected by the reconciler (src/reconcile), which restores them '
                 'from the provider''s record and logs each repair in reconciliation_repairs.';
END
$$;

CREATE TRIGGER checkouts_outcome_write_once
  BEFORE UPDATE OF status, retry, provider_ref, decline_code OR DELETE ON checkouts
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER charges_write_once
  BEFORE UPDATE OR DELETE ON charges
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER ledger_transactions_write_once
  BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER ledger_entries_write_once
  BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();

-- One row per repaired checkout: what was found, what the provider said, what
-- was written back, and when. `kinds` names each discrepancy repaired
-- (checkout_status, checkout_terms, charge_amount, journal; see
-- src/reconcile/truth.ts). `before` and `after` hold the checkout, charge and
-- journal entry rows as found and as restored.
CREATE TABLE reconciliation_repairs (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checkout_id          uuid NOT NULL REFERENCES checkouts (id),
  kinds                text[] NOT NULL CHECK (cardinality(kinds) > 0),
  provider_capture_id  text NOT NULL,
  provider_status      text NOT NULL CHECK (provider_status IN ('captured', 'declined')),
  before               jsonb NOT NULL,
  after                jsonb NOT NULL,
  -- When the reconciler's pass found the discrepancy (its clock), and when the repair committed.
  detected_at          timestamptz NOT NULL,
  repaired_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  repaired_by          text NOT NULL
);
CREATE INDEX reconciliation_repairs_checkout ON reconciliation_repairs (checkout_id);

CREATE FUNCTION reconciliation_repairs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'reconciliation_repairs is append-only: % refused', TG_OP USING ERRCODE = '55000';
END
$$;
CREATE TRIGGER reconciliation_repairs_append_only
  BEFORE UPDATE OR DELETE ON reconciliation_repairs
  FOR EACH ROW EXECUTE FUNCTION reconciliation_repairs_append_only();

-- Down Migration
DROP TABLE reconciliation_repairs;
DROP FUNCTION reconciliation_repairs_append_only();
DROP TRIGGER checkouts_outcome_write_once ON checkouts;
DROP TRIGGER charges_write_once ON charges;
DROP TRIGGER ledger_transactions_write_once ON ledger_transactions;
DROP TRIGGER ledger_entries_write_once ON ledger_entries;
DROP FUNCTION ledger_refuse_rewrite();
