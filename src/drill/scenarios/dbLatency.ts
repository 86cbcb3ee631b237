// Scenario db-latency: every connection from the services (worker, relay,
// scheduler) to the ledger gets 500 ms (± seeded jitter) on each round trip,
// through the fault proxy the embedded stack always puts between them and
// Postgres (src/faults/faultProxy.ts). The auditor and this scenario read the
// ledger directly, so they measure the fault without suffering it.
//
// What it proves: a slow ledger slows the worker but loses nothing; the API
// (which never touches the ledger) keeps answering with no client-visible
// error; nothing is dead-lettered for slowness; and once the latency is gone
// throughput comes back. It measures commits per second before and during
// the fault, a round trip on the services' path before and during, and the
// time from heal to the first charge.
//
// Configuration (environment, read when the scenario runs):
//   FIREBREAK_DRILL_DB_LATENCY_MS  latency per round trip (default 500)
//   FIREBREAK_DRILL_DB_JITTER_MS   ± jitter, at most the latency (default 50)

import { z } from 'zod';
import { fbError } from '../../errors/index.ts';
import { PipelineProbe, unitRandom } from '../../faults/pipelineProbe.ts';
import { faultDuration, throwIfInterrupted } from '../../faults/interrupt.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

export interface DbLatencyOptions {
  readonly latencyMs: number;
  readonly jitterMs: number;
}

export const DB_LATENCY_DEFAULTS: DbLatencyOptions = { latencyMs: 500, jitterMs: 50 };
/** Length of the window measured before the fault. */
const BEFORE_WINDOW_MS = 3_000;
/** Checkouts offered in each measured window, so both windows see work. */
const CHECKOUTS_PER_WINDOW = 60;
const RECOVERY_TIMEOUT_MS = 120_000;

const envMs = (name: string, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, `${name} must be a whole number of milliseconds`)
    .transform(Number)
    .refine((n) => n <= max, `${name} must be at most ${max}`);

/** Reads the scenario's options from the environment; a bad value is FB_CONFIG_INVALID naming the variable. */
export function dbLatencyOptionsFromEnv(env: NodeJS.ProcessEnv): DbLatencyOptions {
  const schema = z.object({
    FIREBREAK_DRILL_DB_LATENCY_MS: envMs('FIREBREAK_DRILL_DB_LATENCY_MS', 60_000).optional(),
    FIREBREAK_DRILL_DB_JITTER_MS: envMs('FIREBREAK_DRILL_DB_JITTER_MS', 60_000).optional(),
  });
  const parsed = schema.safeParse({
    FIREBREAK_DRILL_DB_LATENCY_MS: env.FIREBREAK_DRILL_DB_LATENCY_MS || undefined,
    FIREBREAK_DRILL_DB_JITTER_MS: env.FIREBREAK_DRILL_DB_JITTER_MS || undefined,
  });
  if (!parsed.success)
    throw fbError('FB_CONFIG_INVALID', `db-latency: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const latencyMs = parsed.data.FIREBREAK_DRILL_DB_LATENCY_MS ?? DB_LATENCY_DEFAULTS.latencyMs;
  const jitterMs =
    parsed.data.FIREBREAK_DRILL_DB_JITTER_MS ?? Math.min(DB_LATENCY_DEFAULTS.jitterMs, latencyMs);
  if (jitterMs > latencyMs)
    throw fbError(
      'FB_CONFIG_INVALID',
      `db-latency: FIREBREAK_DRILL_DB_JITTER_MS (${jitterMs}) must not exceed FIREBREAK_DRILL_DB_LATENCY_MS (${latencyMs})`,
    );
  return { latencyMs, jitterMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** The scenario with fixed options (tests), or reading the environment when it runs (the registry's). */
export function dbLatencyScenario(fixed?: DbLatencyOptions): Scenario {
  return {
    name: 'db-latency',
    description: '500 ms (± jitter) on every service connection to the ledger, through the fault proxy',
    async run(ctx: ScenarioContext): Promise<ScenarioResult> {
      const { stack, rng } = ctx;
      const options = fixed ?? dbLatencyOptionsFromEnv(process.env);
      const proxy = stack.ledgerProxy;
      if (!proxy) throw new Error('db-latency needs the ledger fault proxy, but the stack has none');
      const probe = new PipelineProbe(stack);
      try {
        const injectAfterCommits = rng.int(10, 30);
        const faultMs = rng.int(8_000, 12_000);
        const jitterRng = rng.fork('jitter');
        await probe.untilCommitted(injectAfterCommits, 'the fault', ctx.signal);
        const deadBefore = await probe.deadLetters();
        // A round trip on the services' path (through the proxy), median of three.
        // Null when the ledger could not be reached at all (another scenario may have killed it).
        const oneRtt = () => PipelineProbe.roundTripMs(stack.serviceLedgerUrl).catch(() => null);
        const rtt = async () => {
          const ms = (await Promise.all([0, 1, 2].map(oneRtt))).filter((x): x is number => x !== null);
          return ms.length > 0 ? median(ms) : null;
        };

        // Before: commits per second with the same offered load as during.
        const rttBefore = await rtt();
        const before = await window(ctx, probe, BEFORE_WINDOW_MS);

        throwIfInterrupted(ctx.signal);
        proxy.setLatency({
          latencyMs: options.latencyMs,
          jitterMs: options.jitterMs,
          direction: 'downstream',
          random: unitRandom(jitterRng),
        });
        ctx.mark(
          'inject',
          `+${options.latencyMs} ms ±${options.jitterMs} on every service connection to the ledger for ${(faultMs / 1000).toFixed(1)}s`,
        );
        let during: Awaited<ReturnType<typeof window>>;
        let rttDuring: number | null;
        try {
          [rttDuring, during] = await Promise.all([oneRtt(), window(ctx, probe, faultMs)]);
        } finally {
          proxy.heal();
        }
        const healedAt = ctx.mark('heal', 'latency removed');
        const recoveryMs = await ctx.firstCommitAfter(healedAt, RECOVERY_TIMEOUT_MS).then(
          (ms) => ms,
          () => null,
        );
        if (recoveryMs !== null) ctx.mark('recovered', `first charge ${recoveryMs} ms after heal`);
        const after = await window(ctx, probe, BEFORE_WINDOW_MS);
        const rttAfter = await rtt();
        const deadLettersCaused = (await probe.deadLetters()) - deadBefore;

        const violations: string[] = [];
        const clientErrors =
          before.clientVisibleErrors + during.clientVisibleErrors + after.clientVisibleErrors;
        if (during.clientVisibleErrors > 0)
          violations.push(`${during.clientVisibleErrors} client-visible errors while the ledger was slow`);
        if (rttDuring === null || rttAfter === null)
          violations.push("the ledger could not be reached on the services' path to measure a round trip");
        if (rttDuring !== null && rttDuring < options.latencyMs - options.jitterMs)
          violations.push(
            `a round trip on the services' path took ${rttDuring} ms during the fault: the latency did not take effect`,
          );
        if (rttAfter !== null && rttAfter >= options.latencyMs - options.jitterMs && options.latencyMs > 0)
          violations.push(`a round trip on the services' path still took ${rttAfter} ms after heal`);
        if (recoveryMs === null)
          violations.push(`no charge committed within ${RECOVERY_TIMEOUT_MS / 1000}s of the heal`);
        if (deadLettersCaused > 0)
          violations.push(`${deadLettersCaused} messages dead-lettered while the ledger was slow`);
        const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000 * 10) / 10;
        const tputBefore = perSec(before.committed, before.ms);
        const tputDuring = perSec(during.committed, during.ms);
        const tputAfter = perSec(after.committed, after.ms);
        return {
          verdict: violations.length === 0 ? 'pass' : 'fail',
          summary: `+${options.latencyMs} ms ±${options.jitterMs} on the ledger for ${(faultMs / 1000).toFixed(1)}s: round trip ${rttBefore ?? '?'} → ${rttDuring ?? '?'} ms, ${tputBefore} → ${tputDuring} commits/s (after heal ${tputAfter}), ${clientErrors} client errors, first charge ${recoveryMs === null ? 'never' : `${(recoveryMs / 1000).toFixed(1)}s`} after heal`,
          measurements: {
            latencyMs: options.latencyMs,
            jitterMs: options.jitterMs,
            faultMs,
            injectAfterCommits,
            roundTripBeforeMs: rttBefore,
            roundTripDuringMs: rttDuring,
            roundTripAfterMs: rttAfter,
            commitsPerSecBefore: tputBefore,
            commitsPerSecDuring: tputDuring,
            commitsPerSecAfter: tputAfter,
            acceptedDuringFault: during.accepted,
            clientErrorsDuringFault: during.clientVisibleErrors,
            clientErrors,
            deadLettersCaused,
            healToFirstChargeMs: recoveryMs,
          },
          violations,
          recoveryMs,
        };
      } finally {
        proxy.heal();
        await probe.close();
      }
    },
    // Idempotent; harmless on Ctrl-C (the proxy then closes with the stack).
    heal(ctx) {
      ctx.stack.ledgerProxy?.heal();
      return Promise.resolve();
    },
  };
}

/** Offers CHECKOUTS_PER_WINDOW checkouts and counts ledger commits over at least `ms` (until they are answered). */
async function window(ctx: ScenarioContext, probe: PipelineProbe, ms: number) {
  const start = performance.now();
  const committedAtStart = await probe.committed();
  const sending = ctx.sendCheckouts(CHECKOUTS_PER_WINDOW);
  await faultDuration(ms, ctx.signal); // the window's length
  const sent = await sending;
  const committedAtEnd = await probe.committed();
  const elapsed = performance.now() - start;
  return {
    ms: elapsed,
    committed: committedAtStart === null || committedAtEnd === null ? 0 : committedAtEnd - committedAtStart,
    accepted: sent.accepted,
    clientVisibleErrors: sent.clientVisibleErrors,
  };
}
