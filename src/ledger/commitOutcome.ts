// The one ledger transaction per checkout. It protects these invariants:
// - at most one ledger row per checkout (checkouts.id is the message's checkout
//   id; a redelivered message finds the row and changes nothing),
// - a charge, its balanced journal entries, the subscription's settlement
//   schedule and the outbox event commit together or not at all (for a
//   renewal, settleRenewal.ts moves the schedule in this same transaction),
// - USD cents come from the FX snapshot stored with the charge, through the
//   single rounding rule in money/fx.ts.

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

async function insertCheckout(client: pg.ClientBase, input: CommitInput): Promise<bigint | null> {
  const { message: m, outcome } = input;
  const res = await client.query<{ commit_seq: string }>(
    `INSERT INTO checkouts (id, creator_id, customer_ref, plan_id, currency, amount_minor, status,
                            provider_ref, decline_code, queue_sequence, accepted_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (id) DO NOTHING
     RETURNING commit_seq`,
    [
      m.checkoutId,
      m.creatorId,
      m.customerRef,
      m.planId,
      m.currency,
      m.amountMinor,
      outcome.kind === 'captured' ? 'charged' : 'declined',
      outcome.kind === 'captured' ? outcome.captureId : outcome.providerRef,
      outcome.kind === 'declined' ? outcome.declineCode : null,
      input.queueSequence.toString(),
      m.acceptedAt,
    ],
  );
  const row = res.rows[0];
  return row ? BigInt(row.commit_seq) : null;
}

/** The latest FX snapshot that has a rate for this currency. */
async function currentFxRate(
  client: pg.ClientBase,
  currency: string,
): Promise<{ snapshotId: string; rate: string }> {
  const res = await client.query<{ snapshot_id: string; usd_per_unit: string }>(
    `SELECT snapshot_id, usd_per_unit::text FROM fx_rate_snapshots
      WHERE currency = $1 ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1`,
    [currency],
  );
  const row = res.rows[0];
  if (!row) throw new Error(`no FX snapshot has a rate for ${currency}; seed the ledger catalog first`);
  return { snapshotId: row.snapshot_id, rate: row.usd_per_unit };
}

async function insertChargeAndJournal(
  client: pg.ClientBase,
  m: CheckoutMessage,
  captureId: string,
): Promise<{ usdMinor: bigint; fxSnapshotId: string }> {
  if (!isCurrencyCode(m.currency)) throw new Error(`unsupported currency ${m.currency}`);
  const fx = await currentFxRate(client, m.currency);
  const usdMinor = toUsdMinor(BigInt(m.amountMinor), m.currency, fx.rate);
  const chargeId = randomUUID();
  const transactionId = randomUUID();
  await client.query(
    `INSERT INTO charges (id, checkout_id, creator_id, currency, amount_minor, usd_minor, fx_snapshot_id, provider_capture_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      chargeId,
      m.checkoutId,
      m.creatorId,
      m.currency,
      m.amountMinor,
      usdMinor.toString(),
      fx.snapshotId,
      captureId,
    ],
  );
  await client.query(`INSERT INTO ledger_transactions (id, charge_id) VALUES ($1, $2)`, [
    transactionId,
    chargeId,
  ]);
  // Double entry: the provider owes us the money (debit clearing); we owe it to the creator (credit payable).
  await client.query(
    `INSERT INTO ledger_entries (transaction_id, account, creator_id, debit_usd_minor, credit_usd_minor)
     VALUES ($1, 'psp_clearing', NULL, $2, 0), ($1, 'creator_payable', $3, 0, $2)`,
    [transactionId, usdMinor.toString(), m.creatorId],
  );
  return { usdMinor, fxSnapshotId: fx.snapshotId };
}

async function startSubscription(client: pg.ClientBase, m: CheckoutMessage): Promise<void> {
  if (m.planId === null) return;
  const plan = await client.query<{ cadence: Cadence }>(`SELECT cadence FROM plans WHERE id = $1`, [
    m.planId,
  ]);
  const cadence = plan.rows[0]?.cadence;
  if (!cadence) throw new Error(`plan ${m.planId} is not in the ledger; seed the ledger catalog first`);
  const subscriptionId = randomUUID();
  const anchor = new Date(m.acceptedAt);
  await client.query(
    `INSERT INTO subscriptions (id, creator_id, plan_id, customer_ref, status, started_checkout_id)
     VALUES ($1, $2, $3, $4, 'active', $5)`,
    [subscriptionId, m.creatorId, m.planId, m.customerRef, m.checkoutId],
  );
  await client.query(
    `INSERT INTO settlement_schedules (subscription_id, cadence, anchor_at, period, next_charge_at)
     VALUES ($1, $2, $3, 1, $4)`,
    [subscriptionId, cadence, anchor, periodStart(anchor, cadence, 1)],
  );
}

export async function insertOutboxEvent(
  client: pg.ClientBase,
  creatorId: string,
  event: OutboxEvent,
): Promise<void> {
  await client.query(
    `INSERT INTO outbox (event_id, creator_id, event_type, schema_version, payload) VALUES ($1, $2, $3, $4, $5)`,
    [randomUUID(), creatorId, event.type, event.schemaVersion, JSON.stringify(event.data)],
  );
}

/**
 * Records a provider outcome in one transaction. The caller passes a client
 * that is NOT in a transaction; this function owns BEGIN/COMMIT/ROLLBACK.
 */
export async function commitOutcome(client: pg.ClientBase, input: CommitInput): Promise<CommitResult> {
  const m = input.message;
  await client.query('BEGIN');
  try {
    const commitSeq = await insertCheckout(client, input);
    if (commitSeq === null) {
      await client.query('ROLLBACK');
      return { kind: 'already_recorded' };
    }
    let usdMinor: bigint | null = null;
    if (input.outcome.kind === 'captured') {
      const booked = await insertChargeAndJournal(client, m, input.outcome.captureId);
      usdMinor = booked.usdMinor;
      if (!m.renewal) await startSubscription(client, m);
      await insertOutboxEvent(
        client,
        m.creatorId,
        buildEvent('charge.captured', {
          checkoutId: m.checkoutId,
          creatorId: m.creatorId,
          amountMinor: m.amountMinor,
          currency: m.currency,
          usdMinor: usdMinor.toString(),
          fxSnapshotId: booked.fxSnapshotId,
          captureId: input.outcome.captureId,
        }),
      );
    } else {
      await insertOutboxEvent(
        client,
        m.creatorId,
        buildEvent('checkout.declined', {
          checkoutId: m.checkoutId,
          creatorId: m.creatorId,
          declineCode: input.outcome.declineCode,
        }),
      );
    }
    let detail = input.outcome.kind === 'declined' ? input.outcome.declineCode : null;
    if (m.renewal) {
      const settled = await settleRenewal(client, m, m.renewal, input.outcome);
      for (const event of settled.events) await insertOutboxEvent(client, m.creatorId, event);
      if (settled.unexpected) detail = `${detail ?? input.outcome.kind}; ${settled.unexpected}`.slice(0, 500);
    }
    await client.query(
      `INSERT INTO charge_attempts (checkout_id, receive_count, outcome, detail) VALUES ($1, $2, $3, $4)`,
      [m.checkoutId, input.receiveCount, input.outcome.kind, detail],
    );
    await client.query('COMMIT');
    return { kind: 'committed', commitSeq, usdMinor };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
