// What the scheduler's gauges show, in one round trip.

import type pg from 'pg';

export interface RenewalStats {
  /** Due, not claimed, and billable (active or past due): work the scheduler has not reached. */
  readonly dueBacklog: number;
  readonly pastDue: number;
  /** Claimed attempts not yet known to be in the queue. */
  readonly unsent: number;
  /** Claim time of the oldest attempt still awaiting its outcome (null when none). */
  readonly oldestUnsettledClaimedAt: Date | null;
}

export async function renewalStats(db: pg.Pool | pg.ClientBase, now: Date): Promise<RenewalStats> {
  const res = await db.query<{
    due_backlog: number;
    past_due: number;
    unsent: number;
    oldest: Date | null;
  }>(
    `SELECT
       (SELECT count(*) FROM settlement_schedules s JOIN subscriptions sub ON sub.id = s.subscription_id
         WHERE s.next_charge_at <= $1 AND s.pending_checkout_id IS NULL
           AND sub.status IN ('active', 'past_due'))::int AS due_backlog,
       (SELECT count(*) FROM subscriptions WHERE status = 'past_due')::int AS past_due,
       (SELECT count(*) FROM renewal_attempts WHERE enqueued_at IS NULL)::int AS unsent,
       (SELECT min(a.claimed_at) FROM settlement_schedules s
          JOIN renewal_attempts a ON a.checkout_id = s.pending_checkout_id) AS oldest`,
    [now],
  );
  const row = res.rows[0];
  if (!row) throw new Error('renewalStats returned no row');
  return {
    dueBacklog: row.due_backlog,
    pastDue: row.past_due,
    unsent: row.unsent,
    oldestUnsettledClaimedAt: row.oldest,
  };
}
