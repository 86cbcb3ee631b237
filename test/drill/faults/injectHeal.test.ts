// Each fault scenario against one real embedded stack: its inject takes
// effect (seen from outside while run() is mid-fault), and its heal undoes it
// — including when run() throws mid-fault, which a context whose call throws
// at that moment arranges. heal() is called twice each time: it must be
// idempotent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makeDrillCatalog } from '../../../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../../../src/drill/embeddedStack.ts';
import { firstCommitAfter } from '../../../src/drill/recovery.ts';
import { planTraffic, sendTraffic } from '../../../src/drill/traffic.ts';
import { dbLatencyScenario } from '../../../src/drill/scenarios/dbLatency.ts';
import { primaryKillScenario } from '../../../src/drill/scenarios/primaryKill.ts';
import { providerOutageScenario } from '../../../src/drill/scenarios/providerOutage.ts';
import { retryStormScenario } from '../../../src/drill/scenarios/retryStorm.ts';
import { workerKillScenario } from '../../../src/drill/scenarios/workerKill.ts';
import type { ScenarioContext } from '../../../src/drill/scenarios/scenario.ts';
import { PipelineProbe } from '../../../src/faults/pipelineProbe.ts';
import { SandboxControl } from '../../../src/psp/sandboxControl.ts';
import { SeededRandom } from '../../../src/util/seededRandom.ts';

const SEED = 'inject-heal';
let stack: EmbeddedStack;
const rng = new SeededRandom(SEED);

before(async () => {
  stack = await EmbeddedStack.start({
    workDir: await mkdtemp(join(tmpdir(), 'firebreak-faults-test-')),
    drillCatalog: makeDrillCatalog(rng, 6),
    rng,
    seed: SEED,
    visibilityTimeoutSec: 5,
    maxReceiveCount: 3,
    workerConcurrency: 8,
    providerFaults: { declineRate: 0.1, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
    eventBus: 'file',
  });
  // Enough commits that every scenario's seeded "after N commits" start is already met.
  await send(60);
  await firstCommitAfter({ ledgerUrl: stack.ledgerUrl, since: 0, timeoutMs: 60_000, probe: () => send(1) });
});
after(() => stack?.stop({ keepWorkDir: process.env.FIREBREAK_TEST_KEEP === '1' }));

async function send(n: number) {
  const sent = await sendTraffic({
    apiUrl: stack.apiUrl,
    planned: planTraffic(rng, stack.options.drillCatalog, n),
    concurrency: 8,
  });
  return { accepted: sent.accepted.length, clientVisibleErrors: sent.clientVisibleErrors };
}

/** A scenario context on the real stack; `overrides` replace single calls to break run() at a chosen moment. */
function context(overrides: Partial<ScenarioContext> = {}): ScenarioContext {
  const ctx: ScenarioContext = {
    stack,
    rng: new SeededRandom(`${SEED}/ctx`),
    workDir: stack.options.workDir,
    trafficDone: Promise.resolve(),
    progress: () => {},
    sendCheckouts: send,
    mark: () => performance.now(),
    firstCommitAfter: (since, timeoutMs) =>
      firstCommitAfter({ ledgerUrl: stack.ledgerUrl, since, timeoutMs, probe: () => send(1) }),
    ...overrides,
  };
  return ctx;
}

/**
 * On the nth call (1-based) runs `atFault` (what the test observes mid-fault)
 * and then fails; earlier calls send. The failure surfaces where run() awaits
 * the call, so the rejection is marked handled until then.
 */
function failOnCall(n: number, atFault: () => Promise<void> | void = () => {}) {
  let calls = 0;
  return (count: number) => {
    if (++calls < n) return send(count);
    const failing = (async () => {
      await atFault();
      throw new Error('run interrupted mid-fault');
    })();
    failing.catch(() => {});
    return failing;
  };
}

/** Makes the next call of a stack method fail (a restart that did not come up), then restores it. */
function failOnce<T extends object, K extends keyof T>(target: T, key: K): void {
  const original = target[key];
  target[key] = (() => {
    target[key] = original;
    return Promise.reject(new Error('restart failed: run interrupted mid-fault'));
  }) as T[K];
}

async function ledgerAnswers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The services still commit after the heal: a fresh checkout reaches the ledger (they reconnected by themselves). */
async function pipelineCommits() {
  const since = performance.now();
  const ms = await firstCommitAfter({
    ledgerUrl: stack.ledgerUrl,
    since,
    timeoutMs: 60_000,
    probe: () => send(1),
  });
  assert.ok(ms >= 0);
}

test('primary-kill: the kill takes the ledger down; heal (after run throws mid-fault) brings it back and services reconnect', async () => {
  const ctx = context();
  // The restart itself fails: run() throws with the primary dead.
  failOnce(stack, 'ledgerFailover');
  await assert.rejects(primaryKillScenario.run(ctx), /interrupted mid-fault/);
  assert.equal(stack.ledgerServer!.isRunning, false, 'the primary is dead');
  assert.equal(await ledgerAnswers(stack.ledgerUrl), false, 'the ledger does not answer');
  await primaryKillScenario.heal!(ctx);
  await primaryKillScenario.heal!(ctx);
  assert.equal(stack.ledgerServer!.isRunning, true);
  assert.equal(
    await ledgerAnswers(stack.serviceLedgerUrl),
    true,
    'the ledger answers through the services’ proxy',
  );
  await pipelineCommits();
});

test('worker-kill: the worker dies mid-charge; heal (after run throws) restarts it and it commits again', async () => {
  const ctx = context();
  const pidBefore = stack.worker!.pid;
  // The restart itself fails: run() throws with the worker dead.
  failOnce(stack.worker!, 'start');
  await assert.rejects(workerKillScenario.run(ctx), /interrupted mid-fault/);
  assert.equal(stack.worker!.running, false, 'the worker is dead');
  await workerKillScenario.heal!(ctx);
  await workerKillScenario.heal!(ctx);
  assert.equal(stack.worker!.running, true);
  assert.notEqual(stack.worker!.pid, pidBefore, 'a new worker process');
  const live = await fetch(`http://127.0.0.1:${String(stack.worker!.ready.adminPort)}/livez`);
  assert.equal(live.status, 200);
  await pipelineCommits();
});

test('db-latency: every service round trip to the ledger gains >= latency - jitter; undone when run throws; heal() removes a latency', async () => {
  const scenario = dbLatencyScenario({ latencyMs: 500, jitterMs: 50 });
  let duringMs: number | undefined;
  let directMs: number | undefined;
  const ctx = context({
    // Window 1 is "before"; window 2 starts right after the latency is injected.
    sendCheckouts: failOnCall(2, async () => {
      duringMs = await PipelineProbe.roundTripMs(stack.serviceLedgerUrl);
      directMs = await PipelineProbe.roundTripMs(stack.ledgerUrl);
    }),
  });
  await assert.rejects(scenario.run(ctx), /interrupted mid-fault/);
  assert.ok(duringMs! >= 450, `a proxied round trip took ${duringMs} ms during the fault`);
  assert.ok(directMs! < 250, `the auditor's direct path is not slowed (${directMs} ms)`);
  assert.equal(stack.ledgerProxy!.faults.latencyMs, 0, 'run() undid its fault when it threw');
  assert.ok((await PipelineProbe.roundTripMs(stack.serviceLedgerUrl)) < 250);

  // heal() on its own: a latency left behind (say, by an interrupted drill) is removed.
  stack.ledgerProxy!.setLatency({ latencyMs: 500 });
  assert.ok((await PipelineProbe.roundTripMs(stack.serviceLedgerUrl)) >= 500);
  await scenario.heal!(ctx);
  await scenario.heal!(ctx);
  assert.ok((await PipelineProbe.roundTripMs(stack.serviceLedgerUrl)) < 250);
  await pipelineCommits();
});

test('provider-outage: errors then outage reach the provider; undone when run throws; heal() restores the drill faults', async () => {
  const control = new SandboxControl(stack.pspUrl, stack.pspControlKey);
  let injects = 0;
  let duringErrors: ReturnType<SandboxControl['state']> | undefined;
  const ctx = context({
    mark: (event) => {
      if (event !== 'inject') return performance.now();
      injects++;
      // Marks come right after each phase is switched on: read the provider's faults in the
      // errors phase (which lasts seconds after this), break run() at the start of the outage.
      if (injects === 1) {
        duringErrors = control.state();
        return performance.now();
      }
      throw new Error('run interrupted mid-fault');
    },
  });
  await assert.rejects(providerOutageScenario.run(ctx), /interrupted mid-fault/);
  assert.equal(injects, 2, 'run() reached the outage phase');
  assert.equal((await duringErrors!).faults.errorRate, 0.5);
  assert.deepEqual((await control.state()).faults, { ...stack.options.providerFaults, outage: false });

  await stack.setProviderFaults({ outage: true, errorRate: 1 });
  assert.equal((await control.state()).faults.outage, true);
  await providerOutageScenario.heal!(ctx);
  await providerOutageScenario.heal!(ctx);
  assert.deepEqual((await control.state()).faults, { ...stack.options.providerFaults, outage: false });
  await pipelineCommits();
});

test('retry-storm: heal() stops a storm in progress', async () => {
  let stoppedAt = 0;
  const started = performance.now();
  const holder: { ctx?: ScenarioContext } = {};
  const ctx = context({
    mark: (event) => {
      // As soon as the storm starts, heal it (as the drill does on Ctrl-C).
      if (event === 'inject')
        setImmediate(() => {
          stoppedAt = performance.now();
          void retryStormScenario.heal!(holder.ctx!);
        });
      return performance.now();
    },
  });
  holder.ctx = ctx;
  const result = await retryStormScenario.run(ctx);
  assert.ok(stoppedAt > started);
  // The seeded storm lasts 5-8 s; stopped at once it lasts well under that.
  assert.ok(
    Number(result.measurements.stormMs) < 4_000,
    `the storm ran ${result.measurements.stormMs} ms after heal`,
  );
  assert.equal(result.measurements.otherErrors, 0);
  assert.equal(result.measurements.lost, 0);
  await retryStormScenario.heal!(ctx);
});
