// The ledger writes of settled checkouts. Each checkout's writes are atomic and
// protect these invariants:
// - at most one ledger row per checkout (checkouts.id is the message's checkout
//   id; a redelivered message finds the row and changes nothing),
// - a charge, its balanced journal entries, the subscription's settlement
//   schedule and the outbox event commit together or not at all (for a
//   renewal, settleRenewal.ts moves the schedule in this same transaction),
// - USD cents come from the FX snapshot stored with the charge, through the
//   single rounding rule in money/fx.ts.
//
// Several checkouts are written by one statement (commitOutcomes): one
// data-modifying CTE inserts every row of every checkout from arrays, as one
// implicit transaction. A batch is therefore all or nothing; Ledger.commit
// retries the checkouts of a failed batch one by one, so one bad checkout never
// holds back the others. Why: one checkout written statement by statement cost
// ~12 round trips and a commit (docs/performance.md); a batch of k costs 2
// round trips and one commit in all. Every checkout of a batch is of a
// different creator (the queue has one message per creator in flight), so
// per-creator commit order is untouched.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { CheckoutMessage } from '../checkout/checkoutMessage.ts';
import { isCurrencyCode, toUsdMinor } from '../money/index.ts';
import { periodStart, type Cadence } from './settlementSchedule.ts';
import { buildEvent, type OutboxEvent } from '../events/index.ts';
import { settleRenewal } from './settleRenewal.ts';

export type ProviderOutcome =
  | { readonly kind: 'captured'; readonly captureId: string }
  | { readonly kind: 'declined'; readonly providerRef: string; readonly declineCode: string };

export interface CommitInput {
  readonly message: CheckoutMessage;
  readonly queueSequence: bigint;
  readonly receiveCount: number;
  readonly outcome: ProviderOutcome;
}

export type CommitResult =
  | { readonly kind: 'committed'; readonly commitSeq: bigint; readonly usdMinor: bigint | null }
  | { readonly kind: 'already_recorded' };

type Queryable = Pick<pg.ClientBase, 'query'>;

/** What booking needs from the ledger's reference data: the latest FX rate per currency, each plan's cadence. */
interface ReferenceData {
  readonly fx: ReadonlyMap<string, { readonly snapshotId: string; readonly rate: string }>;
  readonly cadence: ReadonlyMap<string, Cadence>;
}

/** One query for a whole batch: the latest FX snapshot with a rate for each currency, and the plans' cadences. */
async function readReferenceData(db: Queryable, inputs: readonly CommitInput[]): Promise<ReferenceData> {
  const currencies = new Set<string>();
  const plans = new Set<string>();
  for (const { message: m, outcome } of inputs) {
    if (outcome.kind !== 'captured') continue;
    currencies.add(m.currency);
    if (m.planId !== null && !m.renewal) plans.add(m.planId);
  }
  const fx = new Map<string, { snapshotId: string; rate: string }>();
  const cadence = new Map<string, Cadence>();
  if (currencies.size === 0 && plans.size === 0) return { fx, cadence };
  const res = await db.query<{ kind: 'fx' | 'plan'; key: string; a: string; b: string | null }>({
    name: 'ledger_reference_data',
    text: `SELECT 'fx' AS kind, latest.currency::text AS key, latest.snapshot_id AS a, latest.usd_per_unit::text AS b
       FROM (SELECT DISTINCT ON (currency) currency, snapshot_id, usd_per_unit FROM fx_rate_snapshots
              WHERE currency = ANY ($1::text[]) ORDER BY currency, taken_at DESC, snapshot_id DESC) latest
     UNION ALL
     SELECT 'plan', id::text, cadence, NULL FROM plans WHERE id = ANY ($2::uuid[])`,
    values: [[...currencies], [...plans]],
  });
  for (const row of res.rows) {
    if (row.kind === 'fx') fx.set(row.key, { snapshotId: row.a, rate: row.b ?? '' });
    else cadence.set(row.key, row.a as Cadence);
  }
  return { fx, cadence };
}

/** Every row one checkout writes, as the columns of the batch statement take them. */
interface BookedCheckout {
  readonly input: CommitInput;
  readonly usdMinor: bigint | null;
  readonly fxSnapshotId: string | null;
  readonly chargeId: string | null;
  readonly transactionId: string | null;
  readonly subscriptionId: string | null;
  readonly cadence: Cadence | null;
  readonly nextChargeAt: string | null;
  readonly event: OutboxEvent;
  readonly attemptDetail: string | null;
}

/** Works out one checkout's rows; throws when the ledger lacks what it needs (an FX rate, a plan). */
function book(input: CommitInput, ref: ReferenceData): BookedCheckout {
  const { message: m, outcome } = input;
  if (outcome.kind === 'declined') {
    return {
      input,
      usdMinor: null,
      fxSnapshotId: null,
      chargeId: null,
      transactionId: null,
      subscriptionId: null,
      cadence: null,
      nextChargeAt: null,
      event: buildEvent('checkout.declined', {
        checkoutId: m.checkoutId,
        creatorId: m.creatorId,
        declineCode: outcome.declineCode,
      }),
      attemptDetail: outcome.declineCode,
    };
  }
  if (!isCurrencyCode(m.currency)) throw new Error(`unsupported currency ${m.currency}`);
  const fx = ref.fx.get(m.currency);
  if (!fx) throw new Error(`no FX snapshot has a rate for ${m.currency}; seed the ledger catalog first`);
  const usdMinor = toUsdMinor(BigInt(m.amountMinor), m.currency, fx.rate);
  let subscription: Pick<BookedCheckout, 'subscriptionId' | 'cadence' | 'nextChargeAt'> = {
    subscriptionId: null,
    cadence: null,
    nextChargeAt: null,
  };
  if (m.planId !== null && !m.renewal) {
    const cadence = ref.cadence.get(m.planId);
    if (!cadence) throw new Error(`plan ${m.planId} is not in the ledger; seed the ledger catalog first`);
    subscription = {
      subscriptionId: randomUUID(),
      cadence,
      nextChargeAt: periodStart(new Date(m.acceptedAt), cadence, 1).toISOString(),
    };
  }
  return {
    input,
    usdMinor,
    fxSnapshotId: fx.snapshotId,
    chargeId: randomUUID(),
    transactionId: randomUUID(),
    ...subscription,
    event: buildEvent('charge.captured', {
      checkoutId: m.checkoutId,
      creatorId: m.creatorId,
      amountMinor: m.amountMinor,
      currency: m.currency,
      usdMinor: usdMinor.toString(),
      fxSnapshotId: fx.snapshotId,
      captureId: outcome.captureId,
    }),
    attemptDetail: null,
  };
}

// One statement writes every row of every checkout in the arrays. Rows are
// written only for checkouts whose checkouts row is new (fresh); a redelivered
// checkout's row already exists and it changes nothing. Foreign keys between
// the rows (charges → checkouts, entries → transactions, schedules →
// subscriptions) are checked at the end of the statement, when all exist; the
// journal's balance trigger runs at commit, as before.
const INSERT_BOOKED = `WITH input AS (
  SELECT * FROM unnest(
    $1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::bigint[], $7::text[], $8::text[],
    $9::text[], $10::numeric[], $11::timestamptz[], $12::integer[], $13::text[], $14::text[], $15::uuid[],
    $16::uuid[], $17::bigint[], $18::text[], $19::uuid[], $20::text[], $21::timestamptz[], $22::text[],
    $23::integer[], $24::text[]
  ) WITH ORDINALITY AS t (
    checkout_id, creator_id, customer_ref, plan_id, currency, amount_minor, status, provider_ref,
    decline_code, queue_sequence, accepted_at, receive_count, attempt_outcome, attempt_detail, charge_id,
    transaction_id, usd_minor, fx_snapshot_id, subscription_id, cadence, next_charge_at, event_type,
    schema_version, payload, ord
  )
), new_checkout AS (
  INSERT INTO checkouts (id, creator_id, customer_ref, plan_id, currency, amount_minor, status,
                         provider_ref, decline_code, queue_sequence, accepted_at)
  SELECT checkout_id, creator_id, customer_ref, plan_id, currency, amount_minor, status,
         provider_ref, decline_code, queue_sequence, accepted_at
  FROM input ORDER BY ord
  ON CONFLICT (id) DO NOTHING
  RETURNING id, commit_seq
), fresh AS MATERIALIZED (
  SELECT i.*, n.commit_seq FROM input i JOIN new_checkout n ON n.id = i.checkout_id
), charge AS (
  INSERT INTO charges (id, checkout_id, creator_id, currency, amount_minor, usd_minor, fx_snapshot_id,
                       provider_capture_id)
  SELECT charge_id, checkout_id, creator_id, currency, amount_minor, usd_minor, fx_snapshot_id, provider_ref
  FROM fresh WHERE charge_id IS NOT NULL
), journal AS (
  INSERT INTO ledger_transactions (id, charge_id)
  SELECT transaction_id, charge_id FROM fresh WHERE charge_id IS NOT NULL
), entry AS (
  -- Double entry: the provider owes us the money (debit clearing); we owe it to the creator (credit payable).
  INSERT INTO ledger_entries (transaction_id, account, creator_id, debit_usd_minor, credit_usd_minor)
  SELECT f.transaction_id, e.account, e.creator_id, e.debit, e.credit
  FROM fresh f
  CROSS JOIN LATERAL (VALUES ('psp_clearing', NULL::uuid, f.usd_minor, 0::bigint),
                             ('creator_payable', f.creator_id, 0::bigint, f.usd_minor))
    AS e (account, creator_id, debit, credit)
  WHERE f.charge_id IS NOT NULL
), subscription AS (
  INSERT INTO subscriptions (id, creator_id, plan_id, customer_ref, status, started_checkout_id)
  SELECT subscription_id, creator_id, plan_id, customer_ref, 'active', checkout_id
  FROM fresh WHERE subscription_id IS NOT NULL
), schedule AS (
  INSERT INTO settlement_schedules (subscription_id, cadence, anchor_at, period, next_charge_at)
  SELECT subscription_id, cadence, accepted_at, 1, next_charge_at FROM fresh WHERE subscription_id IS NOT NULL
), event AS (
  INSERT INTO outbox (event_id, creator_id, event_type, schema_version, payload)
  SELECT gen_random_uuid(), creator_id, event_type, schema_version, payload::jsonb FROM fresh ORDER BY ord
), attempt AS (
  INSERT INTO charge_attempts (checkout_id, receive_count, outcome, detail)
  SELECT checkout_id, receive_count, attempt_outcome, attempt_detail FROM fresh ORDER BY ord
)
SELECT checkout_id::text, commit_seq::text FROM fresh`;

/** Runs INSERT_BOOKED; returns the commit sequence of each checkout that was new. */
async function insertBooked(db: Queryable, booked: readonly BookedCheckout[]): Promise<Map<string, bigint>> {
  const column = <T>(pick: (b: BookedCheckout) => T): T[] => booked.map(pick);
  const res = await db.query<{ checkout_id: string; commit_seq: string }>({
    name: 'ledger_insert_booked',
    text: INSERT_BOOKED,
    values: [
      column((b) => b.input.message.checkoutId),
      column((b) => b.input.message.creatorId),
      column((b) => b.input.message.customerRef),
      column((b) => b.input.message.planId),
      column((b) => b.input.message.currency),
      column((b) => b.input.message.amountMinor),
      column((b) => (b.input.outcome.kind === 'captured' ? 'charged' : 'declined')),
      column((b) =>
        b.input.outcome.kind === 'captured' ? b.input.outcome.captureId : b.input.outcome.providerRef,
      ),
      column((b) => (b.input.outcome.kind === 'declined' ? b.input.outcome.declineCode : null)),
      column((b) => b.input.queueSequence.toString()),
      column((b) => b.input.message.acceptedAt),
      column((b) => b.input.receiveCount),
      column((b) => b.input.outcome.kind),
      column((b) => b.attemptDetail),
      column((b) => b.chargeId),
      column((b) => b.transactionId),
      column((b) => b.usdMinor?.toString() ?? null),
      column((b) => b.fxSnapshotId),
      column((b) => b.subscriptionId),
      column((b) => b.cadence),
      column((b) => b.nextChargeAt),
      column((b) => b.event.type),
      column((b) => b.event.schemaVersion),
      column((b) => JSON.stringify(b.event.data)),
    ],
  });
  return new Map(res.rows.map((r) => [r.checkout_id, BigInt(r.commit_seq)]));
}

function resultOf(b: BookedCheckout, fresh: ReadonlyMap<string, bigint>): CommitResult {
  const commitSeq = fresh.get(b.input.message.checkoutId);
  return commitSeq === undefined
    ? { kind: 'already_recorded' }
    : { kind: 'committed', commitSeq, usdMinor: b.usdMinor };
}

/**
 * Records the provider outcomes of several first checkouts (not renewals) in
 * one statement, all or nothing. Returns one settled result per input: a
 * checkout the ledger cannot book (no FX rate, unknown plan) is rejected alone
 * before anything is written; a failed statement throws for the whole batch.
 * Each checkout id must appear once.
 */
export async function commitOutcomes(
  db: Queryable,
  inputs: readonly CommitInput[],
): Promise<PromiseSettledResult<CommitResult>[]> {
  for (const input of inputs) {
    if (input.message.renewal)
      throw new Error('commitOutcomes takes first checkouts; commit renewals with commitOutcome');
  }
  const ref = await readReferenceData(db, inputs);
  const results: (PromiseSettledResult<CommitResult> | undefined)[] = [];
  const booked: BookedCheckout[] = [];
  for (const input of inputs) {
    try {
      booked.push(book(input, ref));
      results.push(undefined); // filled in once the statement has run
    } catch (err) {
      results.push({ status: 'rejected', reason: err });
    }
  }
  const fresh = booked.length > 0 ? await insertBooked(db, booked) : new Map<string, bigint>();
  let next = 0;
  return results.map((r) => r ?? { status: 'fulfilled', value: resultOf(booked[next++]!, fresh) });
}

export async function insertOutboxEvent(
  client: Queryable,
  creatorId: string,
  event: OutboxEvent,
): Promise<void> {
  await client.query(
    `INSERT INTO outbox (event_id, creator_id, event_type, schema_version, payload) VALUES ($1, $2, $3, $4, $5)`,
    [randomUUID(), creatorId, event.type, event.schemaVersion, JSON.stringify(event.data)],
  );
}

/**
 * Records one provider outcome in one transaction, renewals included (a
 * renewal also moves its subscription's schedule, settleRenewal.ts). The
 * caller passes a client that is NOT in a transaction; this function owns
 * BEGIN/COMMIT/ROLLBACK.
 */
export async function commitOutcome(client: pg.ClientBase, input: CommitInput): Promise<CommitResult> {
  const m = input.message;
  await client.query('BEGIN');
  try {
    const b = book(input, await readReferenceData(client, [input]));
    const result = resultOf(b, await insertBooked(client, [b]));
    if (result.kind === 'already_recorded') {
      await client.query('ROLLBACK');
      return result;
    }
    if (m.renewal) {
      const settled = await settleRenewal(client, m, m.renewal, input.outcome);
      for (const event of settled.events) await insertOutboxEvent(client, m.creatorId, event);
      if (settled.unexpected) {
        // The attempt row was written with the outcome alone; the diagnostic goes with it.
        const detail = `${b.attemptDetail ?? input.outcome.kind}; ${settled.unexpected}`.slice(0, 500);
        await client.query(
          `UPDATE charge_attempts SET detail = $2
            WHERE checkout_id = $1 AND outcome <> 'provider_error'`,
          [m.checkoutId, detail],
        );
      }
    }
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
