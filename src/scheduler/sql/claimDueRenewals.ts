// Step 1 of a renewal: in one ledger transaction, claim the due schedules —
// write each one's attempt (with the exact queue message) to renewal_attempts
// and mark the schedule as waiting for it. Nothing is sent yet: the claim is
// durable first, then sendClaimedRenewals.ts sends (the outbox pattern, since
// the queue lives in another database and no transaction spans both).
//
// Two schedulers split the work: FOR UPDATE ... SKIP LOCKED hands each row to
// one of them, and a row the other one claimed meanwhile no longer matches
// `pending_checkout_id IS NULL` when it is re-checked. The subscription row is
// locked too, so a cancel or pause either happens before the claim (nothing
// is claimed) or waits for it (the claimed attempt settles).

import type pg from 'pg';
import { CheckoutMessageSchema, encodeCheckoutMessage } from '../../checkout/checkoutMessage.ts';
import { periodStart, type Cadence } from '../../ledger/settlementSchedule.ts';
import { renewalCheckoutId } from '../renewalCheckoutId.ts';

export interface ClaimedRenewal {
  readonly checkoutId: string;
  readonly subscriptionId: string;
  readonly creatorId: string;
  readonly period: number;
  readonly attempt: number;
  readonly dueAt: Date;
  readonly periodStart: Date;
}

interface DueRow {
  readonly subscription_id: string;
  readonly period: number;
  readonly attempt: number;
  readonly cadence: Cadence;
  readonly anchor_at: Date;
  readonly next_charge_at: Date;
  readonly creator_id: string;
  readonly customer_ref: string;
  readonly plan_id: string;
  readonly currency: string;
  readonly amount_minor: string;
}

/** Runs inside the caller's transaction; returns what it claimed (at most `limit`). */
export async function claimDueRenewals(
  client: pg.ClientBase,
  now: Date,
  limit: number,
): Promise<ClaimedRenewal[]> {
  const due = await client.query<DueRow>(
    `SELECT s.subscription_id, s.period, s.attempt, s.cadence, s.anchor_at, s.next_charge_at,
            sub.creator_id, sub.customer_ref, sub.plan_id, p.currency, p.amount_minor::text
       FROM settlement_schedules s
       JOIN subscriptions sub ON sub.id = s.subscription_id
       JOIN plans p ON p.id = sub.plan_id
      WHERE s.next_charge_at <= $1
        AND s.pending_checkout_id IS NULL
        AND sub.status IN ('active', 'past_due')
      ORDER BY s.next_charge_at, s.subscription_id
      LIMIT $2
      FOR UPDATE OF s, sub SKIP LOCKED`,
    [now, limit],
  );
  if (due.rows.length === 0) return [];

  const claimed = due.rows.map((r) => {
    const checkoutId = renewalCheckoutId(r.subscription_id, r.period, r.attempt);
    // The plan's price now: a renewal charges what the plan costs when it renews.
    const message = CheckoutMessageSchema.parse({
      v: 1,
      checkoutId,
      creatorId: r.creator_id,
      customerRef: r.customer_ref,
      planId: r.plan_id,
      amountMinor: r.amount_minor,
      currency: r.currency,
      acceptedAt: now.toISOString(),
      renewal: { subscriptionId: r.subscription_id, period: r.period, attempt: r.attempt },
    });
    return {
      checkoutId,
      subscriptionId: r.subscription_id,
      creatorId: r.creator_id,
      period: r.period,
      attempt: r.attempt,
      dueAt: r.next_charge_at,
      periodStart: periodStart(r.anchor_at, r.cadence, r.period),
      body: encodeCheckoutMessage(message),
    };
  });
  // No ON CONFLICT: an attempt row that already exists for a schedule not
  // waiting on it would be a bug, and a loud failure beats guessing.
  await client.query(
    `INSERT INTO renewal_attempts
       (subscription_id, period, attempt, checkout_id, creator_id, period_start, due_at, claimed_at, message)
     SELECT u.sub, u.period, u.attempt, u.checkout, u.creator, u.start, u.due, $9, u.message
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::uuid[], $6::timestamptz[],
                   $7::timestamptz[], $8::text[])
            AS u(sub, period, attempt, checkout, creator, start, due, message)`,
    [
      claimed.map((c) => c.subscriptionId),
      claimed.map((c) => c.period),
      claimed.map((c) => c.attempt),
      claimed.map((c) => c.checkoutId),
      claimed.map((c) => c.creatorId),
      claimed.map((c) => c.periodStart),
      claimed.map((c) => c.dueAt),
      claimed.map((c) => c.body),
      now,
    ],
  );
  await client.query(
    `UPDATE settlement_schedules s SET pending_checkout_id = u.checkout, updated_at = now()
       FROM unnest($1::uuid[], $2::uuid[]) AS u(sub, checkout)
      WHERE s.subscription_id = u.sub`,
    [claimed.map((c) => c.subscriptionId), claimed.map((c) => c.checkoutId)],
  );
  return claimed;
}
