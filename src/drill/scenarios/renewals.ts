// Scenario renewals: after the drill's traffic (about 30% of it plan
// checkouts, each starting a subscription) has settled, the renewal
// scheduler's clock jumps 40 days ahead. Every weekly subscription then owes
// five periods and every monthly one owes one; the scheduler claims them, the
// worker charges them through the same queue and provider (with the drill's
// declines and errors), and the ledger settles each attempt. The scenario
// measures how long the backlog takes to bill and audits it
// (src/audit/renewalsAudit.ts): no period billed twice, every charge at the
// plan's price, nothing due left unbilled or stuck in flight, and every
// never-declined subscription billed exactly the periods that had started.
//
// 40 days, not 35 or 42: no weekly or monthly period boundary falls near the
// audit's "as of" time, so the audit never races the scheduler's last run.

import pg from 'pg';
import { auditRenewals, type RenewalsVerdicts } from '../../audit/renewalsAudit.ts';
import { queueStats } from '../../queue/sql/inspectQueue.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioResult } from './scenario.ts';

const DAY_MS = 86_400_000;
export const RENEWALS_CLOCK_JUMP_MS = 40 * DAY_MS;
/** Recovery-style SLO for billing the whole backlog once it is due. */
const BILL_SLO_MS = 120_000;

export const renewalsScenario: Scenario = {
  name: 'renewals',
  description: 'the scheduler clock jumps 40 days: every due period is billed exactly once',
  async run(ctx): Promise<ScenarioResult> {
    const { stack } = ctx;
    const queuePool = new pg.Pool({ connectionString: stack.queueUrl, max: 1 });
    queuePool.on('error', () => {});
    try {
      const queueEmpty = async () => {
        const s = await queueStats(queuePool);
        return Number(s.visible) + Number(s.in_flight) === 0;
      };
      await ctx.trafficDone;
      await waitFor('the drill traffic to settle before the clock jump', queueEmpty, {
        timeoutMs: 300_000,
        intervalMs: 250,
      });
      const before = await auditRenewals(stack.ledgerUrl, new Date());
      if (before.subscriptions === 0)
        return {
          verdict: 'fail',
          summary: 'no subscriptions to renew (no plan checkouts were charged)',
          measurements: { subscriptions: 0 },
          violations: ['renewals: the drill charged no plan checkout, so nothing could renew'],
        };
      ctx.progress(
        `renewals: ${before.subscriptions} subscriptions; moving the scheduler clock 40 days ahead`,
      );
      await stack.setSchedulerClockOffset(RENEWALS_CLOCK_JUMP_MS);
      const jumped = ctx.mark('note', 'scheduler clock moved 40 days ahead');
      const asOf = () => new Date(Date.now() + RENEWALS_CLOCK_JUMP_MS);
      let last: RenewalsVerdicts | undefined;
      const caughtUp = await waitFor(
        'every due renewal to be billed',
        async () => {
          last = await auditRenewals(stack.ledgerUrl, asOf());
          return last.dueUnbilled === 0 && last.inFlight === 0 && (await queueEmpty());
        },
        { timeoutMs: BILL_SLO_MS, intervalMs: 250 },
      ).then(
        () => true,
        () => false,
      );
      const billMs = Math.round(performance.now() - jumped);
      if (caughtUp) ctx.mark('recovered', 'renewal backlog billed');
      const verdicts = await auditRenewals(stack.ledgerUrl, asOf());
      const violations = [...verdicts.violations];
      if (!caughtUp)
        violations.push(
          `the renewal backlog was not billed within ${BILL_SLO_MS / 1000}s (${last?.dueUnbilled ?? '?'} due, ${last?.inFlight ?? '?'} in flight)`,
        );
      if (verdicts.renewalsCharged + verdicts.renewalsDeclined === 0)
        violations.push('no renewal was attempted after the clock jump: the scheduler did not run');
      ctx.progress(
        `renewals: ${verdicts.renewalsCharged} charged, ${verdicts.renewalsDeclined} declined in ${(billMs / 1000).toFixed(1)}s`,
      );
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: `clock +40 days: ${verdicts.subscriptions} subscriptions, ${verdicts.renewalsCharged} renewals charged, ${verdicts.renewalsDeclined} declined, billed in ${(billMs / 1000).toFixed(1)}s; ${verdicts.periodsBilledTwice} periods billed twice`,
        measurements: {
          clockJumpDays: RENEWALS_CLOCK_JUMP_MS / DAY_MS,
          subscriptions: verdicts.subscriptions,
          renewalsCharged: verdicts.renewalsCharged,
          renewalsDeclined: verdicts.renewalsDeclined,
          periodsBilledTwice: verdicts.periodsBilledTwice,
          wrongAmount: verdicts.wrongAmount,
          dueUnbilled: verdicts.dueUnbilled,
          inFlight: verdicts.inFlight,
          periodsMissing: verdicts.periodsMissing,
          billMs: caughtUp ? billMs : null,
          billSloMs: BILL_SLO_MS,
        },
        violations,
        recoveryMs: caughtUp ? billMs : null,
      };
    } finally {
      await queuePool.end();
    }
  },
};
