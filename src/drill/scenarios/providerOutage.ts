// Scenario provider-outage: the payment provider degrades, then goes away,
// then comes back. First half of its requests fail (500 PSP_TRANSIENT), then
// every request gets 503 (a dead provider behind its load balancer), each
// phase for a seeded few seconds; then its faults go back to the drill's.
//
// What it proves: the worker retries through errors with backoff and, once
// its provider breaker opens, holds the messages it has instead of burning
// their receive counts, so an outage dead-letters nothing; the API keeps
// accepting (it never calls the provider); and charging resumes promptly
// after the provider returns (heal → first charge). The drill's audit then
// proves no checkout was captured twice across the retries.

import { PipelineProbe, scrapeCounter } from '../../faults/pipelineProbe.ts';
import { faultDuration, throwIfInterrupted, unlessInterrupted } from '../../faults/interrupt.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** Share of provider requests failing in the degraded phase. */
export const DEGRADED_ERROR_RATE = 0.5;
const CHECKOUTS_DURING_FAULT = 80;
const RECOVERY_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 120_000;
const SAMPLE_MS = 250;

export const providerOutageScenario: Scenario = {
  name: 'provider-outage',
  description: `provider errors (${DEGRADED_ERROR_RATE * 100}%), then a total outage, then recovery: nothing dead-lettered`,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack, rng } = ctx;
    const probe = new PipelineProbe(stack);
    const workerMetrics = () => `http://127.0.0.1:${String(stack.worker?.ready.adminPort)}/metrics`;
    try {
      const injectAfterCommits = rng.int(10, 30);
      const errorsMs = rng.int(4_000, 6_000);
      const outageMs = rng.int(6_000, 9_000);
      await probe.untilCommitted(injectAfterCommits, 'the fault', ctx.signal);
      const deadBefore = await probe.deadLetters();
      const errorsBefore = await scrapeCounter(workerMetrics(), 'checkout_worker_provider_errors_total');
      const retriesBefore = await scrapeCounter(
        workerMetrics(),
        'firebreak_outbound_retries_total',
        'dependency="provider"',
      );
      const sending = ctx.sendCheckouts(CHECKOUTS_DURING_FAULT);

      const charged = async () => (await probe.counts())?.charged ?? 0;
      const c0 = await charged();
      let breakerPeak = 0;
      const sampleBreaker = async (ms: number) => {
        const until = performance.now() + ms;
        while (performance.now() < until) {
          const state = await scrapeCounter(
            workerMetrics(),
            'firebreak_outbound_breaker_state',
            'dependency="provider"',
          );
          if (state !== null && state > 0) breakerPeak = Math.max(breakerPeak, state);
          await faultDuration(SAMPLE_MS, ctx.signal); // sampling period
        }
      };
      let c1 = c0;
      let c2 = c0;
      try {
        throwIfInterrupted(ctx.signal);
        await stack.setProviderFaults({ errorRate: DEGRADED_ERROR_RATE });
        ctx.mark(
          'inject',
          `provider fails ${DEGRADED_ERROR_RATE * 100}% of requests for ${(errorsMs / 1000).toFixed(1)}s`,
        );
        await sampleBreaker(errorsMs);
        c1 = await charged();
        throwIfInterrupted(ctx.signal);
        await stack.setProviderFaults({ outage: true });
        ctx.mark('inject', `provider down (every request 503) for ${(outageMs / 1000).toFixed(1)}s`);
        await sampleBreaker(outageMs);
        c2 = await charged();
      } finally {
        await healProvider(ctx);
      }
      const healedAt = ctx.mark('heal', 'provider back to the drill faults');
      const recoveryMs = await ctx.firstCommitAfter(healedAt, RECOVERY_TIMEOUT_MS).then(
        (ms) => ms,
        () => null,
      );
      if (recoveryMs !== null)
        ctx.mark('recovered', `first charge ${recoveryMs} ms after the provider came back`);
      const during = await sending;
      const errorsAfter = await scrapeCounter(workerMetrics(), 'checkout_worker_provider_errors_total');
      const retriesAfter = await scrapeCounter(
        workerMetrics(),
        'firebreak_outbound_retries_total',
        'dependency="provider"',
      );

      // Dead letters the outage caused: count once the drill's traffic is in and the queue has drained.
      await ctx.trafficDone;
      const drained = await unlessInterrupted(
        ctx.signal,
        waitFor(
          'the queue to drain after the provider outage',
          async () => {
            const b = await probe.backlog();
            return b.visible + b.inFlight === 0;
          },
          { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 250 },
        ).then(
          () => true,
          () => false,
        ),
      );
      const deadLettersCaused = (await probe.deadLetters()) - deadBefore;

      const violations: string[] = [];
      if (deadLettersCaused > 0)
        violations.push(`${deadLettersCaused} messages dead-lettered around the provider outage`);
      if (recoveryMs === null)
        violations.push(`no charge committed within ${RECOVERY_TIMEOUT_MS / 1000}s of the provider's return`);
      if (during.clientVisibleErrors > 0)
        violations.push(`${during.clientVisibleErrors} client-visible errors during the provider outage`);
      if (!drained)
        violations.push(`the queue did not drain within ${DRAIN_TIMEOUT_MS / 1000}s after the outage`);
      const providerErrors =
        errorsBefore !== null && errorsAfter !== null ? errorsAfter - errorsBefore : null;
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: `provider ${DEGRADED_ERROR_RATE * 100}% errors for ${(errorsMs / 1000).toFixed(1)}s (${c1 - c0} charged), down ${(outageMs / 1000).toFixed(1)}s (${c2 - c1} charged, breaker ${breakerPeak > 0 ? 'opened' : 'stayed closed'}): first charge ${recoveryMs === null ? 'never' : `${(recoveryMs / 1000).toFixed(1)}s`} after recovery, ${deadLettersCaused} dead letters`,
        measurements: {
          errorRate: DEGRADED_ERROR_RATE,
          errorsMs,
          outageMs,
          injectAfterCommits,
          chargedDuringErrors: c1 - c0,
          chargedDuringOutage: c2 - c1,
          // Messages released for redelivery after a provider error outlasted the worker's retries.
          messagesReleasedOnProviderError: providerErrors,
          providerRetries:
            retriesBefore !== null && retriesAfter !== null ? retriesAfter - retriesBefore : null,
          breakerOpened: breakerPeak > 0,
          acceptedDuringFault: during.accepted,
          clientErrorsDuringFault: during.clientVisibleErrors,
          deadLettersCaused,
          healToFirstChargeMs: recoveryMs,
        },
        violations,
        recoveryMs,
      };
    } finally {
      await probe.close();
    }
  },
  // Idempotent: puts the provider back to the drill's own faults. Safe on Ctrl-C (a stopped provider is ignored).
  async heal(ctx) {
    await healProvider(ctx).catch((err: unknown) => {
      if (!ctx.signal?.aborted) throw err;
    });
  },
};

async function healProvider(ctx: ScenarioContext): Promise<void> {
  const f = ctx.stack.options.providerFaults;
  await ctx.stack.setProviderFaults({
    declineRate: f.declineRate,
    errorRate: f.errorRate,
    errorAfterCaptureRate: f.errorAfterCaptureRate,
    latencyMs: f.latencyMs,
    outage: false,
  });
}
