// Scenario kafka-outage: the broker hangs (SIGSTOP of the mock cluster, the
// way a partitioned or wedged broker looks to a client: connections open, no
// answers) while checkouts flow. The API and the worker must not notice; the
// outbox must hold every event of the outage, and the relay must drain it
// once the broker answers again. The drill's events audit then proves every
// committed checkout reached the bus exactly once, in order.
//
// SIGSTOP rather than SIGKILL: the mock cluster keeps its log in memory, so a
// kill under load would lose acknowledged records a real broker keeps on disk
// (src/eventBus/kcatMockCluster.ts).

import pg from 'pg';
import { outboxStats } from '../../outbox/outboxSql.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** How long the broker stays down: the fault's duration, not a synchronisation wait. */
const OUTAGE_MS = 10_000;
/** Recovery SLO: every event of the outage published within this long after the broker is back. */
const DRAIN_SLO_MS = 60_000;
/** Checkouts the scenario sends while the broker is down (on top of the drill's own traffic). */
const CHECKOUTS_DURING_OUTAGE = 150;

export const kafkaOutageScenario: Scenario = {
  name: 'kafka-outage',
  description: `the Kafka broker hangs for ${OUTAGE_MS / 1000}s under traffic; the outbox holds events and drains after`,
  needs: { kafka: true },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack } = ctx;
    const kafka = stack.kafka;
    if (!kafka) throw new Error('kafka-outage needs the Kafka peer, but the stack runs on the file sink');
    const pool = new pg.Pool({ connectionString: stack.ledgerUrl, max: 1 });
    pool.on('error', () => {});
    try {
      const committed = async () =>
        Number((await pool.query<{ n: string }>('SELECT count(*) n FROM checkouts')).rows[0]?.n);
      // Let traffic reach the ledger first, so the outage lands on a pipeline in motion.
      await waitFor('the first checkouts to commit', async () => (await committed()) >= 20, {
        timeoutMs: 120_000,
        intervalMs: 100,
      });
      const committedBefore = await committed();
      ctx.mark('inject', `broker hung (SIGSTOP) for ${OUTAGE_MS / 1000}s`);
      kafka.pause();
      let peakUnpublished = 0;
      let sentDuring = { accepted: 0, clientVisibleErrors: 0 };
      const started = performance.now();
      try {
        // Checkouts keep arriving while the broker is down.
        const sending = ctx.sendCheckouts(CHECKOUTS_DURING_OUTAGE).then((r) => (sentDuring = r));
        // Sample the outbox while the fault lasts.
        while (performance.now() - started < OUTAGE_MS && !ctx.signal?.aborted) {
          peakUnpublished = Math.max(peakUnpublished, (await outboxStats(pool)).unpublished);
          await new Promise((r) => setTimeout(r, 250));
        }
        await sending;
      } finally {
        kafka.resume();
      }
      const healed = ctx.mark('heal', 'broker resumed');
      const committedDuring = (await committed()) - committedBefore;
      ctx.progress(
        `kafka-outage: ${committedDuring} checkouts committed during the outage, outbox peaked at ${peakUnpublished}`,
      );
      // The drill's traffic may still be flowing; drained means nothing left once traffic is done.
      await ctx.trafficDone;
      const drained = await waitFor(
        'the outbox to drain after the outage',
        async () => (await outboxStats(pool)).unpublished === 0,
        { timeoutMs: DRAIN_SLO_MS, intervalMs: 100 },
      ).then(
        () => true,
        () => false,
      );
      const recoveryMs = Math.round(performance.now() - healed);
      if (drained) ctx.mark('recovered', 'outbox drained');
      const violations: string[] = [];
      if (sentDuring.clientVisibleErrors > 0)
        violations.push(
          `${sentDuring.clientVisibleErrors} client-visible errors while the broker was down: the API depends on Kafka`,
        );
      if (committedDuring === 0)
        violations.push('no checkout committed while the broker was down: the worker depends on Kafka');
      if (peakUnpublished === 0)
        violations.push('the outbox never held an event during the outage: the fault did not take effect');
      if (!drained)
        violations.push(`the outbox did not drain within ${DRAIN_SLO_MS / 1000}s of the broker coming back`);
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: drained
          ? `broker down ${OUTAGE_MS / 1000}s: ${committedDuring} committed meanwhile, outbox peaked at ${peakUnpublished}, drained ${(recoveryMs / 1000).toFixed(1)}s after recovery`
          : `broker down ${OUTAGE_MS / 1000}s: the outbox did not drain within ${DRAIN_SLO_MS / 1000}s`,
        measurements: {
          outageMs: OUTAGE_MS,
          acceptedDuringOutage: sentDuring.accepted,
          clientErrorsDuringOutage: sentDuring.clientVisibleErrors,
          committedDuringOutage: committedDuring,
          peakUnpublished,
          drainMs: drained ? recoveryMs : null,
          drainSloMs: DRAIN_SLO_MS,
        },
        violations,
        recoveryMs: drained ? recoveryMs : null,
      };
    } finally {
      await pool.end();
    }
  },
  // Idempotent: SIGCONT to a running process is a no-op.
  heal(ctx) {
    ctx.stack.kafka?.resume();
    return Promise.resolve();
  },
};
