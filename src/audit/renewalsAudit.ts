// The renewals audit (docs/renewals.md), read from the ledger database
// directly, like the rest of the auditor: each (subscription, period) is
// charged at most once, at the plan's price; at a given scheduler time nothing
// due is left unbilled and nothing is stuck in flight; and a subscription that
// was never declined has been billed exactly the periods that had started.
// Provider-side exactness (one capture per charge, cent-exact USD) is the
// main audit's (invariants.ts), which covers renewal checkouts like any other.

import pg from 'pg';
import { periodStart, type Cadence } from '../ledger/settlementSchedule.ts';

export interface RenewalsVerdicts {
  readonly subscriptions: number;
  readonly renewalsCharged: number;
  readonly renewalsDeclined: number;
  /** (subscription, period) pairs charged more than once. */
  readonly periodsBilledTwice: number;
  /** Renewal charges whose amount or currency is not the plan's. */
  readonly wrongAmount: number;
  /** Active or past-due subscriptions due at `asOf` with no attempt in flight. */
  readonly dueUnbilled: number;
  /** Subscriptions with an attempt claimed and not yet settled. */
  readonly inFlight: number;
  /** Never-declined active subscriptions whose billed periods differ from those started by `asOf`. */
  readonly periodsMissing: number;
  readonly violations: string[];
}

interface ScheduleRow {
  subscription_id: string;
  cadence: Cadence;
  anchor_at: Date;
  period: number;
  next_charge_at: Date;
  pending_checkout_id: string | null;
  status: 'active' | 'past_due' | 'paused' | 'canceled';
}

/** Audits renewals as of `asOf`, the scheduler's clock (a drill may have moved it forward). */
export async function auditRenewals(ledgerUrl: string, asOf: Date): Promise<RenewalsVerdicts> {
  const client = new pg.Client({ connectionString: ledgerUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const periods = await client.query<{
      subscription_id: string;
      period: number;
      charged: number;
      declined: number;
    }>(
      `SELECT ra.subscription_id, ra.period,
              count(*) FILTER (WHERE c.status = 'charged')::int charged,
              count(*) FILTER (WHERE c.status = 'declined')::int declined
         FROM renewal_attempts ra LEFT JOIN checkouts c ON c.id = ra.checkout_id
        GROUP BY ra.subscription_id, ra.period`,
    );
    const wrong = await client.query<{ id: string; amount: string; expected: string }>(
      `SELECT c.id, c.amount_minor || ' ' || c.currency amount, p.amount_minor || ' ' || p.currency expected
         FROM renewal_attempts ra
         JOIN checkouts c ON c.id = ra.checkout_id AND c.status = 'charged'
         JOIN subscriptions s ON s.id = ra.subscription_id
         JOIN plans p ON p.id = s.plan_id
        WHERE c.amount_minor <> p.amount_minor OR c.currency <> p.currency`,
    );
    const schedules = await client.query<ScheduleRow>(
      `SELECT s.subscription_id, s.cadence, s.anchor_at, s.period, s.next_charge_at, s.pending_checkout_id, sub.status
         FROM settlement_schedules s JOIN subscriptions sub ON sub.id = s.subscription_id`,
    );
    await client.query('COMMIT');
    return judge(periods.rows, wrong.rows, schedules.rows, asOf);
  } finally {
    await client.end();
  }
}

function judge(
  periods: readonly { subscription_id: string; period: number; charged: number; declined: number }[],
  wrong: readonly { id: string; amount: string; expected: string }[],
  schedules: readonly ScheduleRow[],
  asOf: Date,
): RenewalsVerdicts {
  const violations: string[] = [];
  let periodsBilledTwice = 0;
  const chargedPeriods = new Map<string, number>();
  const declinedSubs = new Set<string>();
  for (const p of periods) {
    if (p.charged > 1) {
      periodsBilledTwice++;
      violations.push(
        `renewals: subscription ${p.subscription_id} period ${p.period} charged ${p.charged} times`,
      );
    }
    if (p.charged > 0)
      chargedPeriods.set(p.subscription_id, (chargedPeriods.get(p.subscription_id) ?? 0) + 1);
    if (p.declined > 0) declinedSubs.add(p.subscription_id);
  }
  for (const w of wrong)
    violations.push(`renewals: renewal ${w.id} charged ${w.amount}, the plan says ${w.expected}`);

  let dueUnbilled = 0;
  let inFlight = 0;
  let periodsMissing = 0;
  for (const s of schedules) {
    if (s.pending_checkout_id !== null) {
      inFlight++;
      continue;
    }
    const billable = s.status === 'active' || s.status === 'past_due';
    if (billable && s.next_charge_at <= asOf) dueUnbilled++;
    if (s.status !== 'active' || declinedSubs.has(s.subscription_id)) continue;
    // Periods 1..n whose start is at or before asOf should each have been charged once.
    let started = 0;
    while (periodStart(s.anchor_at, s.cadence, started + 1) <= asOf) started++;
    const billed = chargedPeriods.get(s.subscription_id) ?? 0;
    if (billed !== started || s.period !== started + 1) {
      periodsMissing++;
      violations.push(
        `renewals: subscription ${s.subscription_id} (${s.cadence}) billed ${billed} periods, ${started} had started by ${asOf.toISOString()}`,
      );
    }
  }
  if (dueUnbilled > 0)
    violations.push(`renewals: ${dueUnbilled} subscriptions due by ${asOf.toISOString()} were not billed`);
  if (inFlight > 0) violations.push(`renewals: ${inFlight} renewal attempts still in flight`);
  return {
    subscriptions: schedules.length,
    renewalsCharged: periods.reduce((n, p) => n + p.charged, 0),
    renewalsDeclined: periods.reduce((n, p) => n + p.declined, 0),
    periodsBilledTwice,
    wrongAmount: wrong.length,
    dueUnbilled,
    inFlight,
    periodsMissing,
    violations,
  };
}
