// `firebreak drill` on the embedded default: bring up a throwaway stack, send
// a seeded burst of checkouts (with provider declines and errors), wait for
// every accepted checkout to settle, audit the invariants from outside, and
// tear everything down.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { audit } from '../audit/auditor.ts';
import type { InvariantVerdicts } from '../audit/invariants.ts';
import { countDeadLetters } from '../audit/queueAudit.ts';
import { auditRenewals, type RenewalsVerdicts } from '../audit/renewalsAudit.ts';
import { auditEvents, type EventsVerdicts } from '../audit/eventsAudit.ts';
import { outboxStats } from '../outbox/outboxSql.ts';
import { SeededRandom } from '../util/seededRandom.ts';
import { waitFor } from '../util/waitFor.ts';
import { makeDrillCatalog } from './drillCatalog.ts';
import { EmbeddedStack, type ProviderFaults } from './embeddedStack.ts';
import { planTraffic, sendTraffic, type TrafficResult } from './traffic.ts';
import { RunJournal, type TimelineMark, type TimelineSample } from './journal.ts';
import { firstCommitAfter } from './recovery.ts';
import { scrapeCounter } from '../faults/pipelineProbe.ts';
import { DEFAULT_CONFIG_DIR, namespaceFile } from '../config/drillRecords.ts';
import type { EnvironmentName } from '../config/fields.ts';
import { loadNamespace } from '../config/namespace.ts';
import { SERVICES, type ServiceName } from '../config/services/index.ts';
import { drillVerdict } from './verdict.ts';
import { combinedNeeds, selectScenarios } from './scenarios/registry.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenarios/scenario.ts';

export interface DrillOptions {
  readonly seed: string;
  readonly checkouts: number;
  readonly creators: number;
  readonly clientConcurrency: number;
  readonly workerConcurrency: number;
  readonly visibilityTimeoutSec: number;
  readonly maxReceiveCount: number;
  readonly settleTimeoutSec: number;
  readonly providerFaults: ProviderFaults;
  /** Scenario names (src/drill/scenarios/registry.ts) run alongside the traffic; empty for the plain drill. */
  readonly scenarios: readonly string[];
  /**
   * Run the services with their config namespaces of this environment
   * (config/<service>/<env>.yaml) instead of the drill's built-in settings;
   * the result names each namespace's content hash, which is what promotion
   * asks a passing drill for.
   */
  readonly configEnv?: EnvironmentName;
  /** A scenario whose recovery takes longer than this fails the drill (and pages). */
  readonly recoverySloSec: number;
  readonly keepWorkDir: boolean;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface DrillResult {
  readonly verdict: 'pass' | 'fail';
  readonly seed: string;
  readonly mode: 'embedded';
  /** How the ledger's primary is replaced when it dies (EmbeddedStack.failoverMode). */
  readonly failoverMode: 'restart' | 'standby' | 'patroni';
  readonly accepted: number;
  readonly charged: number;
  readonly declined: number;
  readonly deadLettered: number;
  readonly lost: number;
  readonly doubleCharged: number;
  readonly unbookedCaptures: number;
  readonly driftCents: number;
  readonly unbalancedTransactions: number;
  readonly outOfOrder: number;
  // Invariant 5 (src/audit/eventsAudit.ts): where events went, and what the bus holds.
  readonly eventBus: 'kafka' | 'file';
  readonly eventsMissing: number;
  /** Committed checkouts with more than one distinct event id on the bus. */
  readonly eventsDuplicated: number;
  readonly eventsForUncommitted: number;
  readonly eventsOutOfOrder: number;
  readonly events: {
    readonly committed: number;
    readonly published: number;
    readonly distinct: number;
    readonly missing: number;
    readonly unexpected: number;
  };
  /** Renewal audit (src/audit/renewalsAudit.ts) at the scheduler's clock. */
  readonly renewals: {
    readonly subscriptions: number;
    readonly charged: number;
    readonly declined: number;
    readonly periodsBilledTwice: number;
    readonly wrongAmount: number;
    readonly dueUnbilled: number;
    readonly inFlight: number;
  };
  readonly rejected: number;
  readonly clientVisibleErrors: number;
  readonly clientRetries: number;
  readonly redeliveries: number;
  readonly acceptLatencyMs: { readonly p50: number; readonly p99: number };
  readonly throughput: { readonly acceptedPerSec: number; readonly settledPerSec: number };
  readonly durationsMs: {
    readonly boot: number;
    readonly traffic: number;
    readonly settle: number;
    readonly total: number;
  };
  readonly providerFaults: ProviderFaults;
  readonly recoverySloSec: number;
  /** The config namespaces the services ran with (--config), or null for the drill's built-in settings. */
  readonly config: {
    readonly env: EnvironmentName;
    readonly services: Readonly<Record<ServiceName, { readonly file: string; readonly hash: string }>>;
  } | null;
  /** One entry per scenario run, by name. */
  readonly scenarios: Readonly<Record<string, ScenarioResult>>;
  readonly violations: string[];
  /** The run journal's timeline: fault windows, recoveries, phases, and the pipeline sampled every 500 ms. */
  readonly timeline: { readonly marks: readonly TimelineMark[]; readonly samples: readonly TimelineSample[] };
  readonly versions: { readonly node: string; readonly postgres: string };
  readonly workDir: string | null;
}

export const DEFAULT_DRILL_OPTIONS = {
  seed: '1',
  checkouts: 1000,
  creators: 50,
  clientConcurrency: 32,
  workerConcurrency: 16,
  // Short on purpose: a drill measures recovery in seconds, so a crashed
  // worker's messages must come back quickly. Production uses 300 s.
  visibilityTimeoutSec: 15,
  maxReceiveCount: 3,
  settleTimeoutSec: 300,
  providerFaults: { declineRate: 0.08, errorRate: 0.05, errorAfterCaptureRate: 0.02, latencyMs: 0 },
  scenarios: [] as readonly string[],
  // The write-ups' paging bar: five minutes to recover.
  recoverySloSec: 300,
  keepWorkDir: false,
} as const;

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return (
      (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ??
      'unknown'
    );
  } catch {
    return 'unknown';
  } finally {
    await client.end().catch(() => {});
  }
}

/** Fails a scenario whose recovery breached the SLO (or never came). */
export function withinSlo(r: ScenarioResult, sloSec: number): ScenarioResult {
  if (r.recoveryMs === undefined) return r;
  if (r.recoveryMs !== null && r.recoveryMs <= sloSec * 1000) return r;
  const breach =
    r.recoveryMs === null
      ? `recovery SLO breached: it never recovered (SLO ${sloSec}s)`
      : `recovery SLO breached: recovered in ${(r.recoveryMs / 1000).toFixed(1)}s, SLO ${sloSec}s`;
  return { ...r, verdict: 'fail', violations: [...r.violations, breach] };
}

function mergeTraffic(parts: readonly TrafficResult[]): TrafficResult {
  return {
    accepted: parts.flatMap((p) => p.accepted),
    failed: parts.flatMap((p) => p.failed),
    clientVisibleErrors: parts.reduce((n, p) => n + p.clientVisibleErrors, 0),
    clientRetries: parts.reduce((n, p) => n + p.clientRetries, 0),
    acceptLatenciesMs: parts.flatMap((p) => p.acceptLatenciesMs),
  };
}

/**
 * Runs one scenario, then its heal() whatever happened; a scenario that
 * throws (or whose heal throws) is a failed scenario, never a crashed drill.
 */
async function runScenario(scenario: Scenario, ctx: ScenarioContext): Promise<[string, ScenarioResult]> {
  let result: ScenarioResult;
  try {
    result = await scenario.run(ctx);
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    result = {
      verdict: 'fail',
      summary: `did not complete: ${message}`,
      measurements: {},
      violations: [message],
    };
  }
  try {
    await scenario.heal?.(ctx);
  } catch (err) {
    const message = `heal failed: ${(err as Error)?.message ?? String(err)}`;
    result = { ...result, verdict: 'fail', violations: [...result.violations, message] };
  }
  return [scenario.name, result];
}

export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  const t0 = performance.now();
  const journal = new RunJournal(t0);
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
  const say = (line: string) => o.progress(`[${elapsed()}] ${line}`);
  const rng = new SeededRandom(o.seed);
  const drillCatalog = makeDrillCatalog(rng, o.creators);
  const planned = planTraffic(rng, drillCatalog, o.checkouts);
  const scenarios = selectScenarios(o.scenarios);
  const needs = combinedNeeds(scenarios);
  // Every namespace must validate before anything starts (FB_CONFIG_INVALID names the file, line and key).
  const config =
    o.configEnv === undefined
      ? null
      : {
          env: o.configEnv,
          services: Object.fromEntries(
            SERVICES.map((service) => {
              const file = namespaceFile(DEFAULT_CONFIG_DIR, service, o.configEnv!);
              return [service, { file, hash: loadNamespace(file, { service, env: o.configEnv }).hash }];
            }),
          ) as Record<ServiceName, { file: string; hash: string }>,
        };
  if (config) say(`config: the ${config.env} namespaces of ${SERVICES.join(', ')}`);
  const workDir = await mkdtemp(join(tmpdir(), 'firebreak-drill-'));
  say(`seed ${o.seed}: ${o.checkouts} checkouts over ${o.creators} creators; work dir ${workDir}`);
  if (scenarios.length > 0) say(`scenarios: ${scenarios.map((s) => s.name).join(', ')}`);

  const stack = await EmbeddedStack.start({
    workDir,
    drillCatalog,
    rng,
    seed: o.seed,
    visibilityTimeoutSec: o.visibilityTimeoutSec,
    maxReceiveCount: o.maxReceiveCount,
    workerConcurrency: o.workerConcurrency,
    providerFaults: o.providerFaults,
    ...(needs.kafka ? { eventBus: 'kafka' as const } : {}),
    redis: needs.redis,
    ...(config
      ? { configFiles: Object.fromEntries(SERVICES.map((svc) => [svc, config.services[svc].file])) }
      : {}),
    onProgress: say,
  });
  const contexts = new Map<Scenario, ScenarioContext>();
  // Ctrl-C: stop waiting on the run at once (its traffic, scenarios and settle
  // waits may take minutes); the finally below heals every scenario before the
  // stack goes (a fault must never outlive the drill), then stops the stack.
  // The abandoned run's remaining work fails against the stopped stack; the
  // CLI exits without waiting for it (src/cli/drillCommand.ts).
  let onAbort = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('the drill was interrupted', { cause: o.signal?.reason }));
  });
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const run = async (): Promise<DrillResult> => {
    const bootMs = performance.now() - t0;
    say(`stack up in ${(bootMs / 1000).toFixed(1)}s: api ${stack.apiUrl}, provider ${stack.pspUrl}`);

    journal.mark(null, 'phase', 'stack up');
    journal.startSampling(stack.ledgerUrl, stack.queueUrl);
    const tTraffic = journal.mark(null, 'phase', 'traffic');
    let lastReported = 0;
    let markTrafficDone = () => {};
    const trafficDone = new Promise<void>((resolve) => (markTrafficDone = resolve));
    const extra: TrafficResult[] = [];
    // Scenarios run one after another (each healed before the next starts), alongside the drill's
    // traffic: overlapping faults would confound each other's recovery figures.
    const scenarioContexts = scenarios.map((scenario) => {
      const scenarioRng = rng.fork(`scenario:${scenario.name}`);
      const ctx: ScenarioContext = {
        stack,
        rng: scenarioRng,
        workDir,
        trafficDone,
        progress: say,
        signal: o.signal,
        sendCheckouts: async (n) => {
          const sent = await sendTraffic({
            apiUrl: stack.apiUrl,
            planned: planTraffic(scenarioRng, drillCatalog, n),
            concurrency: Math.min(o.clientConcurrency, 8),
            signal: o.signal,
            live: journal.live,
          });
          extra.push(sent);
          return { accepted: sent.accepted.length, clientVisibleErrors: sent.clientVisibleErrors };
        },
        mark: (event, detail) => {
          say(`${scenario.name}: ${event}${detail ? ` — ${detail}` : ''}`);
          return journal.mark(scenario.name, event, detail);
        },
        firstCommitAfter: (since, timeoutMs) =>
          firstCommitAfter({
            ledgerUrl: stack.ledgerUrl,
            since,
            timeoutMs,
            probe: () => ctx.sendCheckouts(1),
            signal: o.signal,
          }),
      };
      contexts.set(scenario, ctx);
      return [scenario, ctx] as const;
    });
    const scenarioRuns = (async () => {
      const results: [string, ScenarioResult][] = [];
      for (const [scenario, ctx] of scenarioContexts) {
        if (o.signal?.aborted) break;
        say(`scenario ${scenario.name}: starting`);
        results.push(await runScenario(scenario, ctx));
      }
      return results;
    })();
    const mainTraffic = await sendTraffic({
      apiUrl: stack.apiUrl,
      planned,
      concurrency: o.clientConcurrency,
      signal: o.signal,
      live: journal.live,
      onProgress: (done, total) => {
        if (done === total || performance.now() - lastReported > 1_000) {
          lastReported = performance.now();
          say(`traffic: ${done}/${total} sent`);
        }
      },
    });
    markTrafficDone();
    journal.mark(null, 'phase', 'drill traffic sent');
    const scenarioResults = Object.fromEntries(
      (await scenarioRuns).map(([name, r]) => [name, withinSlo(r, o.recoverySloSec)] as const),
    );
    const trafficMs = performance.now() - tTraffic;
    const traffic = mergeTraffic([mainTraffic, ...extra]);
    say(`traffic done: ${traffic.accepted.length} accepted, ${traffic.failed.length} not accepted`);
    for (const [name, result] of Object.entries(scenarioResults))
      say(`scenario ${name}: ${result.verdict.toUpperCase()} — ${result.summary}`);

    const tSettle = performance.now();
    const acceptedIds = traffic.accepted.map((a) => a.checkoutId);
    const ledgerPool = new pg.Pool({ connectionString: stack.ledgerUrl, max: 1 });
    const queuePool = new pg.Pool({ connectionString: stack.queueUrl, max: 1 });
    ledgerPool.on('error', () => {});
    queuePool.on('error', () => {});
    let lastSettled = -1;
    try {
      await waitFor(
        'every accepted checkout to settle',
        async () => {
          // Only the checkouts clients were told were accepted: renewals the scheduler made are not awaited here.
          const settled = Number(
            (
              await ledgerPool.query<{ n: string }>(
                'SELECT count(*) n FROM checkouts WHERE id = ANY($1::uuid[])',
                [acceptedIds],
              )
            ).rows[0]?.n,
          );
          const dead = await countDeadLetters(queuePool);
          if (settled + dead !== lastSettled) {
            lastSettled = settled + dead;
            say(`settling: ${settled} in the ledger, ${dead} dead-lettered of ${traffic.accepted.length}`);
          }
          return settled + dead >= traffic.accepted.length;
        },
        { timeoutMs: o.settleTimeoutSec * 1000, intervalMs: 500 },
      ).catch((err: unknown) => say(`${(err as Error).message}; auditing what is there`));
    } finally {
      await Promise.allSettled([ledgerPool.end(), queuePool.end()]);
    }
    const settleMs = performance.now() - tSettle;
    journal.mark(null, 'phase', 'settled');
    await journal.stopSampling();

    // Events leave after commit: give the relay time to publish the last ones before reading the bus.
    say(`waiting for the relay to publish every committed event (${stack.eventBusMode})`);
    const eventsPool = new pg.Pool({ connectionString: stack.ledgerUrl, max: 1 });
    eventsPool.on('error', () => {});
    await waitFor('the outbox to drain', async () => (await outboxStats(eventsPool)).unpublished === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
    })
      .catch((err: unknown) => say(`${(err as Error).message}; auditing what is on the bus`))
      .finally(() => eventsPool.end());

    say('auditing the ledger, the queue and the provider record');
    const verdicts: InvariantVerdicts = await audit({
      ledgerUrl: stack.ledgerUrl,
      queueUrl: stack.queueUrl,
      providerDataDir: stack.pspDataDir,
      accepted: traffic.accepted,
    });
    say(`auditing the events on the bus (${stack.eventBusMode})`);
    const events: EventsVerdicts = await auditEvents({
      ledgerUrl: stack.ledgerUrl,
      topic: stack.eventTopic,
      read: () => stack.readEvents(),
    });
    say('auditing renewals (each period billed at most once, at the plan price)');
    const renewals: RenewalsVerdicts = await auditRenewals(
      stack.ledgerUrl,
      new Date(Date.now() + stack.schedulerClockOffsetMs),
    );
    const redeliveries =
      (await scrapeCounter(
        `http://127.0.0.1:${String(stack.worker?.ready.adminPort)}/metrics`,
        'checkout_service_retry_count',
      )) ?? -1;
    const postgresVersion = await serverVersion(stack.ledgerUrl);
    const { verdict, violations } = drillVerdict({
      invariants: verdicts,
      events,
      renewals,
      notAccepted: traffic.failed.length,
      scenarios: scenarioResults,
    });
    return {
      verdict,
      seed: o.seed,
      mode: 'embedded',
      failoverMode: stack.failoverMode,
      accepted: verdicts.accepted,
      charged: verdicts.charged,
      declined: verdicts.declined,
      deadLettered: verdicts.deadLettered,
      lost: verdicts.lost,
      doubleCharged: verdicts.doubleCharged,
      unbookedCaptures: verdicts.unbookedCaptures,
      driftCents: Number(verdicts.driftCents),
      unbalancedTransactions: verdicts.unbalancedTransactions,
      outOfOrder: verdicts.outOfOrder,
      eventBus: stack.eventBusMode,
      eventsMissing: events.missing,
      eventsDuplicated: events.duplicated,
      eventsForUncommitted: events.unexpected,
      eventsOutOfOrder: events.outOfOrder,
      events: {
        committed: events.committed,
        published: events.published,
        distinct: events.distinct,
        missing: events.missing,
        unexpected: events.unexpected,
      },
      renewals: {
        subscriptions: renewals.subscriptions,
        charged: renewals.renewalsCharged,
        declined: renewals.renewalsDeclined,
        periodsBilledTwice: renewals.periodsBilledTwice,
        wrongAmount: renewals.wrongAmount,
        dueUnbilled: renewals.dueUnbilled,
        inFlight: renewals.inFlight,
      },
      rejected: traffic.failed.length,
      clientVisibleErrors: traffic.clientVisibleErrors,
      clientRetries: traffic.clientRetries,
      redeliveries,
      acceptLatencyMs: {
        p50: percentile(traffic.acceptLatenciesMs, 50),
        p99: percentile(traffic.acceptLatenciesMs, 99),
      },
      throughput: {
        acceptedPerSec: Math.round((traffic.accepted.length / trafficMs) * 1000),
        settledPerSec: Math.round(((verdicts.charged + verdicts.declined) / (trafficMs + settleMs)) * 1000),
      },
      durationsMs: {
        boot: Math.round(bootMs),
        traffic: Math.round(trafficMs),
        settle: Math.round(settleMs),
        total: Math.round(performance.now() - t0),
      },
      providerFaults: o.providerFaults,
      recoverySloSec: o.recoverySloSec,
      config,
      scenarios: scenarioResults,
      violations,
      timeline: { marks: journal.marks, samples: journal.samples },
      versions: { node: process.version, postgres: postgresVersion },
      workDir: o.keepWorkDir ? workDir : null,
    };
  };
  try {
    return await Promise.race([run(), interrupted]);
  } finally {
    await journal.stopSampling();
    o.signal?.removeEventListener('abort', onAbort);
    if (o.signal?.aborted) {
      const healed = await Promise.allSettled(
        scenarios.map(async (s) => {
          const ctx = contexts.get(s);
          if (ctx) await s.heal?.(ctx);
        }),
      );
      healed.forEach((h, i) =>
        say(
          h.status === 'fulfilled'
            ? `interrupted: ${scenarios[i]!.name} healed`
            : `interrupted: healing ${scenarios[i]!.name} failed: ${(h.reason as Error)?.message ?? String(h.reason)}`,
        ),
      );
    }
    say(
      o.keepWorkDir ? `stopping the stack (keeping ${workDir})` : 'stopping the stack and removing its files',
    );
    await stack.stop({ keepWorkDir: o.keepWorkDir });
  }
}
