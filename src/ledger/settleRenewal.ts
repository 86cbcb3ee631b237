// What a renewal attempt's outcome does to its subscription. Runs inside the
// checkout's ledger transaction (commitOutcome), so the charge (or decline),
// the schedule's move and the events commit together or not at all; a
// redelivered message never gets here (the checkouts row already exists).
//
// - Charged: the schedule moves to the next period, exactly once: only the
//   attempt the schedule is waiting for (pending_checkout_id) moves it, and
//   moving it clears that. A past-due subscription becomes active again.
// - Declined: the same period is due again on the retry schedule
//   (settlementSchedule.ts); when the schedule is exhausted the subscription
//   becomes past due.
// - Canceled or paused meanwhile: the in-flight attempt still settles and the
//   schedule still records it; the status stays, so the scheduler claims
//   nothing more.

import type pg from 'pg';
import type { CheckoutMessage } from '../checkout/checkoutMessage.ts';
import { buildEvent, type OutboxEvent } from '../events/index.ts';
import type { ProviderOutcome } from './commitOutcome.ts';
import { exhaustsRetries, nextAttemptAt, periodStart, type Cadence } from './settlementSchedule.ts';

export type Renewal = NonNullable<CheckoutMessage['renewal']>;

export interface RenewalSettlement {
  readonly events: OutboxEvent[];
  /** Set when the schedule was not waiting for this attempt (it was left alone); recorded as a diagnostic. */
  readonly unexpected: string | null;
}

interface PendingRow {
  readonly status: 'active' | 'past_due' | 'paused' | 'canceled';
  readonly period: number;
  readonly attempt: number;
  readonly cadence: Cadence;
  readonly anchor_at: Date;
  readonly pending_checkout_id: string | null;
  readonly claimed_at: Date;
  readonly period_start: Date;
}

export async function settleRenewal(
  client: pg.ClientBase,
  m: CheckoutMessage,
  renewal: Renewal,
  outcome: ProviderOutcome,
): Promise<RenewalSettlement> {
  const res = await client.query<PendingRow>(
    `SELECT sub.status, s.period, s.attempt, s.cadence, s.anchor_at, s.pending_checkout_id,
            a.claimed_at, a.period_start
       FROM subscriptions sub
       JOIN settlement_schedules s ON s.subscription_id = sub.id
       JOIN renewal_attempts a ON a.subscription_id = sub.id AND a.checkout_id = $2
      WHERE sub.id = $1
      FOR UPDATE OF sub, s`,
    [renewal.subscriptionId, m.checkoutId],
  );
  const row = res.rows[0];
  if (!row || row.pending_checkout_id !== m.checkoutId) {
    // Only the scheduler writes renewal messages and it claims one attempt at a
    // time, so this is a bug somewhere. The money is still booked (the ledger
    // never refuses what the provider did); the schedule is not touched.
    return { events: [], unexpected: `renewal attempt ${m.checkoutId} is not the one its schedule awaits` };
  }
  if (row.period !== renewal.period || row.attempt !== renewal.attempt) {
    return {
      events: [],
      unexpected: `renewal message says period ${renewal.period} attempt ${renewal.attempt}, schedule has ${row.period}/${row.attempt}`,
    };
  }
  const base = { subscriptionId: renewal.subscriptionId, creatorId: m.creatorId };
  const events: OutboxEvent[] = [];

  if (outcome.kind === 'captured') {
    const nextStart = periodStart(row.anchor_at, row.cadence, row.period + 1);
    await client.query(
      `UPDATE settlement_schedules
          SET period = period + 1, attempt = 1, next_charge_at = $2, pending_checkout_id = NULL, updated_at = now()
        WHERE subscription_id = $1`,
      [renewal.subscriptionId, nextStart],
    );
    events.push(
      buildEvent('subscription.renewed', {
        ...base,
        checkoutId: m.checkoutId,
        period: row.period,
        periodStart: row.period_start.toISOString(),
        nextPeriodStart: nextStart.toISOString(),
      }),
    );
    if (row.status === 'past_due') {
      await setStatus(client, renewal.subscriptionId, 'active');
      events.push(
        buildEvent('subscription.restored', { ...base, checkoutId: m.checkoutId, period: row.period }),
      );
    }
    return { events, unexpected: null };
  }

  const nextAt = nextAttemptAt(row.claimed_at, row.attempt);
  await client.query(
    `UPDATE settlement_schedules
        SET attempt = attempt + 1, next_charge_at = $2, pending_checkout_id = NULL, updated_at = now()
      WHERE subscription_id = $1`,
    [renewal.subscriptionId, nextAt],
  );
  events.push(
    buildEvent('subscription.renewal_declined', {
      ...base,
      checkoutId: m.checkoutId,
      period: row.period,
      attempt: row.attempt,
      declineCode: outcome.declineCode,
      nextAttemptAt: nextAt.toISOString(),
    }),
  );
  if (row.status === 'active' && exhaustsRetries(row.attempt)) {
    await setStatus(client, renewal.subscriptionId, 'past_due');
    events.push(buildEvent('subscription.past_due', { ...base, period: row.period, attempts: row.attempt }));
  }
  return { events, unexpected: null };
}

async function setStatus(client: pg.ClientBase, subscriptionId: string, status: string): Promise<void> {
  await client.query(`UPDATE subscriptions SET status = $2 WHERE id = $1`, [subscriptionId, status]);
}
