-- Up Migration

-- The ledger is Firebreak's system of record. Money is bigint minor units;
-- the double-entry journal is in USD cents. See docs/architecture.md.

CREATE TABLE creators (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plans (
  id            uuid PRIMARY KEY,
  creator_id    uuid NOT NULL REFERENCES creators (id),
  name          text NOT NULL,
  currency      char(3) NOT NULL,
  amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
  cadence       text NOT NULL CHECK (cadence IN ('weekly', 'monthly', 'yearly')),
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- USD per one whole unit of a currency, kept forever: every charge points at
-- the snapshot it was converted with, so it can be re-derived to the cent.
CREATE TABLE fx_rate_snapshots (
  snapshot_id   text NOT NULL,
  currency      char(3) NOT NULL,
  usd_per_unit  numeric(21, 12) NOT NULL CHECK (usd_per_unit > 0),
  taken_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (snapshot_id, currency)
);

CREATE TABLE subscriptions (
  id                   uuid PRIMARY KEY,
  creator_id           uuid NOT NULL REFERENCES creators (id),
  plan_id              uuid NOT NULL REFERENCES plans (id),
  customer_ref         text NOT NULL,
  status               text NOT NULL CHECK (status IN ('active', 'past_due', 'paused', 'canceled')),
  started_checkout_id  uuid NOT NULL UNIQUE,
  created_at           timestamptz NOT NULL DEFAULT now()
);

-- Exactly one next settlement per subscription (UNIQUE subscription_id).
CREATE TABLE settlement_schedules (
  subscription_id  uuid PRIMARY KEY REFERENCES subscriptions (id),
  cadence          text NOT NULL CHECK (cadence IN ('weekly', 'monthly', 'yearly')),
  anchor_at        timestamptz NOT NULL,
  period           integer NOT NULL CHECK (period >= 1),
  next_charge_at   timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per checkout that reached a terminal outcome in the ledger.
-- commit_seq orders commits; queue_sequence is the acceptance order the
-- auditor compares it with (numeric: SQS FIFO sequence numbers are 128-bit).
CREATE TABLE checkouts (
  id              uuid PRIMARY KEY,
  creator_id      uuid NOT NULL REFERENCES creators (id),
  customer_ref    text NOT NULL,
  plan_id         uuid REFERENCES plans (id),
  currency        char(3) NOT NULL,
  amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
  status          text NOT NULL CHECK (status IN ('charged', 'declined', 'failed')),
  retry           boolean NOT NULL DEFAULT false,
  provider_ref    text NOT NULL,
  decline_code    text,
  queue_sequence  numeric(39, 0) NOT NULL,
  accepted_at     timestamptz NOT NULL,
  commit_seq      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  committed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkouts_creator_commit ON checkouts (creator_id, commit_seq);

-- Every call to the provider that returned (captured, declined, or failed).
CREATE TABLE charge_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checkout_id   uuid NOT NULL,
  receive_count integer NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('captured', 'declined', 'provider_error')),
  detail        text,
  attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charge_attempts_checkout ON charge_attempts (checkout_id);

CREATE TABLE charges (
  id                   uuid PRIMARY KEY,
  checkout_id          uuid NOT NULL UNIQUE REFERENCES checkouts (id),
  creator_id           uuid NOT NULL REFERENCES creators (id),
  currency             char(3) NOT NULL,
  amount_minor         bigint NOT NULL CHECK (amount_minor > 0),
  usd_minor            bigint NOT NULL CHECK (usd_minor >= 0),
  fx_snapshot_id       text NOT NULL,
  provider_capture_id  text NOT NULL UNIQUE,
  created_at           timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (fx_snapshot_id, currency) REFERENCES fx_rate_snapshots (snapshot_id, currency)
);

CREATE TABLE ledger_transactions (
  id          uuid PRIMARY KEY,
  charge_id   uuid NOT NULL UNIQUE REFERENCES charges (id),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id    uuid NOT NULL REFERENCES ledger_transactions (id),
  account           text NOT NULL CHECK (account IN ('psp_clearing', 'creator_payable')),
  creator_id        uuid REFERENCES creators (id),
  debit_usd_minor   bigint NOT NULL DEFAULT 0 CHECK (debit_usd_minor >= 0),
  credit_usd_minor  bigint NOT NULL DEFAULT 0 CHECK (credit_usd_minor >= 0),
  CHECK ((debit_usd_minor = 0) <> (credit_usd_minor = 0) OR (debit_usd_minor = 0 AND credit_usd_minor = 0))
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- A journal transaction that does not balance cannot commit.
CREATE FUNCTION ledger_assert_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  debits bigint;
  credits bigint;
BEGIN
  SELECT coalesce(sum(debit_usd_minor), 0), coalesce(sum(credit_usd_minor), 0)
    INTO debits, credits
    FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
  IF debits <> credits THEN
    RAISE EXCEPTION 'ledger transaction % does not balance: debits %, credits %', NEW.transaction_id, debits, credits
      USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced
  AFTER INSERT OR UPDATE ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_assert_balanced();

-- Events leave only through here, after commit (the relay publishes them).
CREATE TABLE outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  creator_id      uuid NOT NULL,
  event_type      text NOT NULL,
  schema_version  integer NOT NULL,
  payload         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Down Migration
DROP TABLE outbox, ledger_entries, ledger_transactions, charges, charge_attempts, checkouts,
  settlement_schedules, subscriptions, fx_rate_snapshots, plans, creators CASCADE;
DROP FUNCTION ledger_assert_balanced();
