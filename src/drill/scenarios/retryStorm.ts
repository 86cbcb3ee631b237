// Scenario retry-storm: a burst of many concurrent clients hammering
// POST /v1/checkouts and retrying every 503 immediately, with no backoff and
// Retry-After ignored (src/faults/retryStorm.ts), for a seeded few seconds,
// while a probe samples the API's liveness endpoint every 50 ms from its own
// thread (src/faults/livenessSampler.ts), as a kubelet would.
//
// What it proves: an overloaded API answers 202 or sheds with 503 +
// Retry-After, never fails (no 500s, no dropped connections); liveness is answered apart
// from the app's work (the admin listener), so it stays green and fast and
// the orchestrator does not restart a busy API (the write-up's health checks
// shared the saturated pool); and nothing the storm was told was accepted is
// lost: every storm checkout told 202 reaches the ledger or the DLQ (checked
// here, as the storm's checkouts are not the drill's traffic). Recovery is
// storm end → first charge. How much was shed, how many requests the
// clients abandoned, and liveness latency against its 100 ms target are
// measurements (docs/drills.md has this machine's figures), not verdicts.

import { LivenessSampler } from '../../faults/livenessSampler.ts';
import { PipelineProbe, scrapeCounter } from '../../faults/pipelineProbe.ts';
import { retryStorm } from '../../faults/retryStorm.ts';
import { throwIfInterrupted, unlessInterrupted } from '../../faults/interrupt.ts';
import { waitFor } from '../../util/waitFor.ts';
import { planTraffic } from '../traffic.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** Liveness latency target: green within this, every sample. */
export const LIVENESS_TARGET_MS = 100;
/** The probe's own deadline (a kubelet's default timeoutSeconds is 1). */
const LIVENESS_TIMEOUT_MS = 1_000;
const LIVENESS_PERIOD_MS = 50;
/** Checkouts planned per storm client: the storm stops at its duration or when these run out. */
const CHECKOUTS_PER_CLIENT = 8;
/**
 * The storm's clients give up on a request after this long and send it again
 * at once: impatient clients are what turn a slow API into a storm (each
 * abandoned request is still worked on by the server, and its retry is new
 * work on a new connection).
 */
const STORM_REQUEST_TIMEOUT_MS = 250;
const RECOVERY_TIMEOUT_MS = 120_000;
/** Every accepted storm checkout must settle within this after the storm. */
const SETTLE_TIMEOUT_MS = 240_000;
/** The storm of each run, so heal() can stop it if run() is abandoned mid-storm. */
const storms = new WeakMap<ScenarioContext, AbortController>();

export const retryStormScenario: Scenario = {
  name: 'retry-storm',
  description:
    'many clients retry 503s with no backoff: load shed with Retry-After, liveness green, nothing lost',
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack, rng } = ctx;
    const probe = new PipelineProbe(stack);
    const stormAfterCommits = rng.int(5, 20);
    const clients = rng.int(200, 300);
    const stormMs = rng.int(5_000, 8_000);
    const planned = planTraffic(
      rng.fork('storm'),
      stack.options.drillCatalog,
      clients * CHECKOUTS_PER_CLIENT,
    );
    const sampler = new LivenessSampler(`${stack.apiAdminUrl}/livez`, {
      periodMs: LIVENESS_PERIOD_MS,
      timeoutMs: LIVENESS_TIMEOUT_MS,
      targetMs: LIVENESS_TARGET_MS,
    });
    let liveness: Awaited<ReturnType<LivenessSampler['stop']>> | undefined;
    const stop = new AbortController();
    storms.set(ctx, stop);
    try {
      await probe.untilCommitted(stormAfterCommits, 'the storm', ctx.signal);
      throwIfInterrupted(ctx.signal);
      ctx.mark('inject', `${clients} clients retrying with no backoff for ${(stormMs / 1000).toFixed(1)}s`);
      const storm = await retryStorm({
        apiUrl: stack.apiUrl,
        planned,
        clients,
        durationMs: stormMs,
        requestTimeoutMs: STORM_REQUEST_TIMEOUT_MS,
        signal: ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal,
      });
      const apiMetrics = `${stack.apiAdminUrl}/metrics`;
      const [lagP99, durSum, durCount] = await Promise.all([
        scrapeCounter(apiMetrics, 'nodejs_eventloop_lag_p99_seconds'),
        scrapeCounter(apiMetrics, 'firebreak_api_http_request_duration_seconds_sum'),
        scrapeCounter(apiMetrics, 'firebreak_api_http_request_duration_seconds_count'),
      ]);
      const stormEnd = ctx.mark(
        'heal',
        `storm over: ${storm.requests} requests, ${storm.accepted.length} accepted, ${storm.shed} shed`,
      );
      // A well-behaved client right after the storm: accepted, no errors.
      const afterStorm = await ctx.sendCheckouts(10);
      liveness = await sampler.stop();
      const recoveryMs = await ctx.firstCommitAfter(stormEnd, RECOVERY_TIMEOUT_MS).then(
        (ms) => ms,
        () => null,
      );
      if (recoveryMs !== null) ctx.mark('recovered', `first charge ${recoveryMs} ms after the storm`);

      const ids = storm.accepted.map((a) => a.checkoutId);
      await unlessInterrupted(
        ctx.signal,
        waitFor(
          'every accepted storm checkout to settle',
          async () => ((await probe.settledOf(ids)) ?? 0) >= ids.length,
          { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 500 },
        ).catch(() => {}),
      );
      const lost = ids.length - ((await probe.settledOf(ids)) ?? 0);

      const violations: string[] = [];
      if (storm.otherErrors > 0)
        violations.push(
          `${storm.otherErrors} storm requests got an error other than 503: the API failed instead of shedding`,
        );
      if (storm.shedWithoutRetryAfter > 0)
        violations.push(`${storm.shedWithoutRetryAfter} 503 answers without a Retry-After header`);
      if (storm.rejected > 0)
        violations.push(`${storm.rejected} storm requests were refused as invalid (4xx)`);
      if (liveness.failed > 0)
        violations.push(
          `liveness failed ${liveness.failed} of ${liveness.samples.length} probes (no 200 within ${LIVENESS_TIMEOUT_MS} ms): an orchestrator would restart the API`,
        );
      if (lost > 0) violations.push(`${lost} storm checkouts told 202 never reached the ledger or the DLQ`);
      if (afterStorm.clientVisibleErrors > 0)
        violations.push(
          `${afterStorm.clientVisibleErrors} errors for a well-behaved client right after the storm`,
        );
      if (recoveryMs === null)
        violations.push(`no charge committed within ${RECOVERY_TIMEOUT_MS / 1000}s of the storm`);
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: `${clients} clients, ${(storm.durationMs / 1000).toFixed(1)}s, ${storm.requests} requests (${storm.retries} immediate retries, ${storm.timeouts} client timeouts at ${STORM_REQUEST_TIMEOUT_MS} ms): ${storm.accepted.length} accepted, ${storm.shed} shed with 503 + Retry-After, ${storm.otherErrors} other errors; liveness green in ${liveness.samples.length - liveness.failed}/${liveness.samples.length} probes, p99 ${liveness.p99Ms} ms (target ${LIVENESS_TARGET_MS}); ${lost} accepted lost`,
        measurements: {
          clients,
          stormMs: storm.durationMs,
          requests: storm.requests,
          requestsPerSec: Math.round((storm.requests / storm.durationMs) * 1000),
          retries: storm.retries,
          accepted: storm.accepted.length,
          shed: storm.shed,
          shedCodes: Object.entries(storm.shedCodes)
            .map(([code, n]) => `${code}:${n}`)
            .join(' '),
          shedWithoutRetryAfter: storm.shedWithoutRetryAfter,
          otherErrors: storm.otherErrors,
          networkErrors: storm.networkErrors,
          clientTimeouts: storm.timeouts,
          clientTimeoutMs: STORM_REQUEST_TIMEOUT_MS,
          acceptedPerSec: Math.round((storm.accepted.length / storm.durationMs) * 1000),
          livenessSamples: liveness.samples.length,
          livenessFailed: liveness.failed,
          livenessP50Ms: liveness.p50Ms,
          livenessP99Ms: liveness.p99Ms,
          livenessMaxMs: liveness.maxMs,
          livenessOverTargetSamples: liveness.overTarget,
          livenessTargetMs: LIVENESS_TARGET_MS,
          livenessWithinTarget: liveness.p99Ms <= LIVENESS_TARGET_MS,
          lost,
          apiEventLoopLagP99Ms: lagP99 === null ? null : Math.round(lagP99 * 1000),
          apiMeanRequestMs:
            durSum !== null && durCount ? Math.round((durSum / durCount) * 1000 * 10) / 10 : null,
          stormEndToFirstChargeMs: recoveryMs,
        },
        violations,
        recoveryMs,
      };
    } finally {
      if (!liveness) await sampler.stop().catch(() => {});
      await probe.close();
    }
  },
  // Idempotent: stops the storm's clients if they are still going (they also stop at the storm's end).
  heal(ctx) {
    storms.get(ctx)?.abort();
    return Promise.resolve();
  },
};
