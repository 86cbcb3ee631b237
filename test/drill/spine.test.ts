// The checkout spine end to end, with real processes: embedded Postgres
// servers, the provider, the API and the worker as child processes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { audit } from '../../src/audit/auditor.ts';
import { countDeadLetters } from '../../src/audit/queueAudit.ts';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../../src/drill/embeddedStack.ts';
import { DEFAULT_DRILL_OPTIONS, runDrill } from '../../src/drill/runDrill.ts';
import { planTraffic, sendTraffic } from '../../src/drill/traffic.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';

async function startStack(
  seed: string,
  creators: number,
  faults = { declineRate: 0.05, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
) {
  const rng = new SeededRandom(seed);
  const drillCatalog = makeDrillCatalog(rng, creators);
  const stack = await EmbeddedStack.start({
    workDir: await mkdtemp(join(tmpdir(), 'firebreak-test-')),
    drillCatalog,
    rng,
    seed,
    visibilityTimeoutSec: 5,
    maxReceiveCount: 3,
    workerConcurrency: 8,
    providerFaults: faults,
  });
  return { stack, rng, drillCatalog };
}

async function ledgerCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('SELECT count(*) n FROM checkouts')).rows[0]?.n);
  } finally {
    await client.end();
  }
}

async function settled(stack: EmbeddedStack): Promise<number> {
  const pool = new pg.Pool({ connectionString: stack.queueUrl, max: 1 });
  try {
    return (await ledgerCount(stack.ledgerUrl)) + (await countDeadLetters(pool));
  } finally {
    await pool.end();
  }
}

test('1,000 checkouts over 50 creators in several currencies settle, in order, to the cent', async () => {
  const result = await runDrill({
    ...DEFAULT_DRILL_OPTIONS,
    seed: 'spine-1000',
    checkouts: 1000,
    creators: 50,
    settleTimeoutSec: 240,
    progress: () => {},
  });
  assert.deepEqual(result.violations, []);
  assert.equal(result.verdict, 'pass');
  assert.equal(result.accepted, 1000);
  assert.equal(result.charged + result.declined + result.deadLettered, 1000);
  assert.ok(result.declined > 0, 'the provider declined some');
  assert.equal(result.lost, 0);
  assert.equal(result.doubleCharged, 0);
  assert.equal(result.driftCents, 0);
  assert.equal(result.outOfOrder, 0);
});

test('a worker SIGKILLed mid-charge and restarted: no double capture, nothing lost', async (t) => {
  const { stack, rng, drillCatalog } = await startStack('worker-kill', 10, {
    declineRate: 0.05,
    errorRate: 0,
    errorAfterCaptureRate: 0,
    latencyMs: 20,
  });
  t.after(() => stack.stop());
  const planned = planTraffic(rng, drillCatalog, 300);
  const traffic = await sendTraffic({ apiUrl: stack.apiUrl, planned, concurrency: 16 });
  assert.equal(traffic.accepted.length, 300);
  // Kill once some, but not all, checkouts are in the ledger: charges are in flight.
  await waitFor('some charges to commit', async () => (await ledgerCount(stack.ledgerUrl)) >= 30, {
    timeoutMs: 60_000,
  });
  await stack.worker!.kill();
  const atKill = await ledgerCount(stack.ledgerUrl);
  assert.ok(atKill < 300, `the worker should have been killed mid-run (had ${atKill})`);
  await stack.worker!.start();
  await waitFor('all checkouts to settle', async () => (await settled(stack)) >= 300, { timeoutMs: 120_000 });
  const verdicts = await audit({
    ledgerUrl: stack.ledgerUrl,
    queueUrl: stack.queueUrl,
    providerDataDir: stack.pspDataDir,
    accepted: traffic.accepted,
  });
  assert.deepEqual(verdicts.violations, []);
  assert.equal(verdicts.lost, 0);
  assert.equal(verdicts.doubleCharged, 0);
  const captures = (await readCaptureRecord(stack.pspDataDir)).filter((r) => r.status === 'captured');
  assert.equal(new Set(captures.map((c) => c.checkoutId)).size, captures.length, 'one capture per checkout');
});

test('the ledger database stopped for 30 s under load: the API keeps answering 202, all drains, nothing dead-lettered', async (t) => {
  const { stack, rng, drillCatalog } = await startStack('ledger-outage', 10);
  t.after(() => stack.stop());
  const planned = planTraffic(rng, drillCatalog, 400);
  const before = await sendTraffic({ apiUrl: stack.apiUrl, planned: planned.slice(0, 100), concurrency: 8 });
  await stack.ledgerServer!.stop();
  const outageStarted = Date.now();
  const during = await sendTraffic({
    apiUrl: stack.apiUrl,
    planned: planned.slice(100, 300),
    concurrency: 8,
  });
  assert.equal(during.accepted.length, 200, 'every checkout sent during the outage was accepted');
  assert.equal(during.clientVisibleErrors, 0, 'no client saw an error during the ledger outage');
  // Hold the outage for the full 30 s the scenario names (the fault's duration, not a synchronisation sleep).
  const remaining = 30_000 - (Date.now() - outageStarted);
  if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
  await stack.ledgerServer!.resume();
  const after = await sendTraffic({ apiUrl: stack.apiUrl, planned: planned.slice(300), concurrency: 8 });
  const accepted = [...before.accepted, ...during.accepted, ...after.accepted];
  assert.equal(accepted.length, 400);
  await waitFor('all checkouts to settle', async () => (await settled(stack)) >= 400, { timeoutMs: 120_000 });
  const verdicts = await audit({
    ledgerUrl: stack.ledgerUrl,
    queueUrl: stack.queueUrl,
    providerDataDir: stack.pspDataDir,
    accepted,
  });
  assert.deepEqual(verdicts.violations, []);
  assert.equal(verdicts.deadLettered, 0, 'the outage pushed nothing into the DLQ');
  assert.equal(verdicts.charged + verdicts.declined, 400);
});
