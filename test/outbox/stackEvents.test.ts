// Events through the whole embedded stack (API, worker, relay, provider as
// processes; two Postgres servers; the Kafka peer or the file sink): a Kafka
// outage leaves the API and worker unaffected, and the relay catches up.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { audit } from '../../src/audit/auditor.ts';
import { auditEvents } from '../../src/audit/eventsAudit.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../../src/drill/embeddedStack.ts';
import { planTraffic, sendTraffic } from '../../src/drill/traffic.ts';
import { outboxStats } from '../../src/outbox/outboxSql.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { skipWithoutKcat } from '../helpers/kafka.ts';

async function startStack(t: TestContext, seed: string, eventBus: 'kafka' | 'file') {
  const rng = new SeededRandom(seed);
  const drillCatalog = makeDrillCatalog(rng, 8);
  const stack = await EmbeddedStack.start({
    workDir: await mkdtemp(join(tmpdir(), 'firebreak-test-')),
    drillCatalog,
    rng,
    seed,
    visibilityTimeoutSec: 5,
    maxReceiveCount: 3,
    workerConcurrency: 8,
    providerFaults: { declineRate: 0.1, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
    eventBus,
  });
  t.after(() => stack.stop());
  const pool = new pg.Pool({ connectionString: stack.ledgerUrl, max: 1 });
  pool.on('error', () => {});
  t.after(() => pool.end());
  const ledgerCount = async () =>
    Number((await pool.query<{ n: string }>('SELECT count(*) n FROM checkouts')).rows[0]?.n);
  const unpublished = async () => (await outboxStats(pool)).unpublished;
  return { stack, rng, drillCatalog, ledgerCount, unpublished };
}

async function scrape(url: string, name: string): Promise<number> {
  const text = await fetch(url).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

test(
  'Kafka killed under traffic: the API keeps answering 202, the worker keeps committing, the outbox grows and lag rises; Kafka back: every event out, in order',
  { skip: skipWithoutKcat },
  async (t) => {
    const { stack, rng, drillCatalog, ledgerCount, unpublished } = await startStack(
      t,
      'kafka-outage',
      'kafka',
    );
    assert.equal(stack.eventBusMode, 'kafka');
    const relayMetrics = `http://127.0.0.1:${String(stack.relay!.ready.adminPort)}/metrics`;
    const planned = planTraffic(rng, drillCatalog, 250);
    const before = await sendTraffic({
      apiUrl: stack.apiUrl,
      planned: planned.slice(0, 100),
      concurrency: 8,
    });
    await waitFor('the first 100 to settle', async () => (await ledgerCount()) >= 100, {
      timeoutMs: 120_000,
    });
    await waitFor('their events out', async () => (await unpublished()) === 0, { timeoutMs: 60_000 });

    // Killed while the relay is idle so the mock's in-memory log is kept (src/eventBus/kcatMockCluster.ts).
    await stack.kafka!.kill({ retain: [stack.eventTopic] });
    const during = await sendTraffic({ apiUrl: stack.apiUrl, planned: planned.slice(100), concurrency: 8 });
    assert.equal(during.accepted.length, 150, 'every checkout sent during the outage was accepted');
    assert.equal(during.clientVisibleErrors, 0);
    await waitFor('the worker to commit all 250 without Kafka', async () => (await ledgerCount()) >= 250, {
      timeoutMs: 120_000,
    });
    assert.equal(await unpublished(), 150, 'the outbox holds every event of the outage');
    await waitFor(
      'outbox_lag_seconds above 2 s',
      async () => (await scrape(relayMetrics, 'outbox_lag_seconds')) > 2,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );

    await stack.kafka!.restart();
    await waitFor('the outbox to drain', async () => (await unpublished()) === 0, { timeoutMs: 120_000 });
    const accepted = [...before.accepted, ...during.accepted];
    const money = await audit({
      ledgerUrl: stack.ledgerUrl,
      queueUrl: stack.queueUrl,
      providerDataDir: stack.pspDataDir,
      accepted,
    });
    assert.deepEqual(money.violations, []);
    const events = await auditEvents({
      ledgerUrl: stack.ledgerUrl,
      topic: stack.eventTopic,
      read: () => stack.readEvents(),
    });
    assert.deepEqual(events.violations, []);
    assert.equal(events.committed, 250);
    assert.equal(events.distinct, 250);
  },
);

test('file sink under traffic, relay SIGKILLed and restarted: every committed checkout has exactly one distinct event, in order', async (t) => {
  const { stack, rng, drillCatalog, ledgerCount, unpublished } = await startStack(
    t,
    'file-relay-kill',
    'file',
  );
  assert.equal(stack.eventBusMode, 'file');
  const planned = planTraffic(rng, drillCatalog, 200);
  const traffic = sendTraffic({ apiUrl: stack.apiUrl, planned, concurrency: 8 });
  await waitFor('some checkouts committed', async () => (await ledgerCount()) >= 40, { timeoutMs: 120_000 });
  await stack.relay!.kill();
  const sent = await traffic;
  assert.equal(sent.accepted.length, 200);
  await waitFor('all 200 committed', async () => (await ledgerCount()) >= 200, { timeoutMs: 120_000 });
  await stack.relay!.start();
  await waitFor('the outbox to drain', async () => (await unpublished()) === 0, { timeoutMs: 60_000 });
  const events = await auditEvents({
    ledgerUrl: stack.ledgerUrl,
    topic: stack.eventTopic,
    read: () => stack.readEvents(),
  });
  assert.deepEqual(events.violations, []);
  assert.equal(events.committed, 200);
});
