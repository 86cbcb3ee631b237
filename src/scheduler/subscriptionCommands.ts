// Cancel, pause and resume a subscription. Each is one ledger transaction that
// locks the subscription row, changes its status and writes the event.
//
// The scheduler claims only active and past-due subscriptions, and locks the
// subscription row while it claims, so a command either lands before a claim
// (nothing more is claimed) or waits for it to commit (the claimed attempt is
// in flight). An attempt in flight is never lost: its message is in the queue,
// the worker charges it, and the ledger settles it (settleRenewal.ts) whatever
// the status is by then. The result says which attempt, if any, was in flight.

import { fbError } from '../errors/index.ts';
import { buildEvent } from '../events/index.ts';
import { insertOutboxEvent } from '../ledger/commitOutcome.ts';
import type { Ledger } from '../ledger/index.ts';
import {
  firstPeriodFrom,
  periodStart,
  RENEWAL_ATTEMPTS_BEFORE_PAST_DUE,
  type Cadence,
} from '../ledger/settlementSchedule.ts';
import type pg from 'pg';

export type SubscriptionStatus = 'active' | 'past_due' | 'paused' | 'canceled';

export interface CommandResult {
  readonly subscriptionId: string;
  readonly status: SubscriptionStatus;
  /** False when the subscription already was in the requested state (the command is idempotent). */
  readonly changed: boolean;
  /** The renewal attempt claimed before the command and still awaiting its outcome; it will settle. */
  readonly inFlightCheckoutId: string | null;
}

interface LockedRow {
  readonly status: SubscriptionStatus;
  readonly creator_id: string;
  readonly period: number;
  readonly attempt: number;
  readonly cadence: Cadence;
  readonly anchor_at: Date;
  readonly pending_checkout_id: string | null;
}

async function lockSubscription(client: pg.ClientBase, subscriptionId: string): Promise<LockedRow> {
  const res = await client.query<LockedRow>(
    `SELECT sub.status, sub.creator_id, s.period, s.attempt, s.cadence, s.anchor_at, s.pending_checkout_id
       FROM subscriptions sub JOIN settlement_schedules s ON s.subscription_id = sub.id
      WHERE sub.id = $1
      FOR UPDATE OF sub, s`,
    [subscriptionId],
  );
  const row = res.rows[0];
  if (!row) throw fbError('FB_NOT_FOUND', `subscription ${subscriptionId} does not exist`);
  return row;
}

async function setStatus(client: pg.ClientBase, id: string, status: SubscriptionStatus): Promise<void> {
  await client.query(`UPDATE subscriptions SET status = $2 WHERE id = $1`, [id, status]);
}

/** Stops all future periods for good. Idempotent. */
export async function cancelSubscription(ledger: Ledger, subscriptionId: string): Promise<CommandResult> {
  return ledger.transaction(async (client) => {
    const row = await lockSubscription(client, subscriptionId);
    const inFlightCheckoutId = row.pending_checkout_id;
    if (row.status === 'canceled') {
      return { subscriptionId, status: row.status, changed: false, inFlightCheckoutId };
    }
    await setStatus(client, subscriptionId, 'canceled');
    await insertOutboxEvent(
      client,
      row.creator_id,
      buildEvent('subscription.canceled', { subscriptionId, creatorId: row.creator_id, inFlightCheckoutId }),
    );
    return { subscriptionId, status: 'canceled', changed: true, inFlightCheckoutId };
  });
}

/** Stops future periods until resumed. Idempotent; a canceled subscription stays canceled. */
export async function pauseSubscription(ledger: Ledger, subscriptionId: string): Promise<CommandResult> {
  return ledger.transaction(async (client) => {
    const row = await lockSubscription(client, subscriptionId);
    const inFlightCheckoutId = row.pending_checkout_id;
    if (row.status === 'paused' || row.status === 'canceled') {
      return { subscriptionId, status: row.status, changed: false, inFlightCheckoutId };
    }
    await setStatus(client, subscriptionId, 'paused');
    await insertOutboxEvent(
      client,
      row.creator_id,
      buildEvent('subscription.paused', { subscriptionId, creatorId: row.creator_id, inFlightCheckoutId }),
    );
    return { subscriptionId, status: 'paused', changed: true, inFlightCheckoutId };
  });
}

/**
 * Resumes a paused subscription at `now`. Periods that started while it was
 * paused are waived, not billed (like Stripe's pause_collection "void"): the
 * next period billed is the first starting at or after `now`, on the same
 * anchor. A period that was already owed when it was paused (declined
 * attempts, or an attempt still in flight) stays owed and is billed first.
 * The status returns to past due if that period had exhausted its retries.
 */
export async function resumeSubscription(
  ledger: Ledger,
  subscriptionId: string,
  now: Date,
): Promise<CommandResult & { readonly nextPeriod: number; readonly waivedPeriods: number }> {
  return ledger.transaction(async (client) => {
    const row = await lockSubscription(client, subscriptionId);
    const inFlightCheckoutId = row.pending_checkout_id;
    if (row.status !== 'paused') {
      return {
        subscriptionId,
        status: row.status,
        changed: false,
        inFlightCheckoutId,
        nextPeriod: row.period,
        waivedPeriods: 0,
      };
    }
    const owed = row.attempt > 1 || inFlightCheckoutId !== null;
    const nextPeriod = owed
      ? row.period
      : Math.max(row.period, firstPeriodFrom(row.anchor_at, row.cadence, now));
    const status: SubscriptionStatus = row.attempt > RENEWAL_ATTEMPTS_BEFORE_PAST_DUE ? 'past_due' : 'active';
    const waivedPeriods = nextPeriod - row.period;
    if (waivedPeriods > 0) {
      await client.query(
        `UPDATE settlement_schedules SET period = $2, attempt = 1, next_charge_at = $3, updated_at = now()
          WHERE subscription_id = $1`,
        [subscriptionId, nextPeriod, periodStart(row.anchor_at, row.cadence, nextPeriod)],
      );
    }
    const next = await client.query<{ next_charge_at: Date }>(
      `SELECT next_charge_at FROM settlement_schedules WHERE subscription_id = $1`,
      [subscriptionId],
    );
    await setStatus(client, subscriptionId, status);
    await insertOutboxEvent(
      client,
      row.creator_id,
      buildEvent('subscription.resumed', {
        subscriptionId,
        creatorId: row.creator_id,
        status,
        nextPeriod,
        nextChargeAt: next.rows[0]!.next_charge_at.toISOString(),
        waivedPeriods,
      }),
    );
    return { subscriptionId, status, changed: true, inFlightCheckoutId, nextPeriod, waivedPeriods };
  });
}
