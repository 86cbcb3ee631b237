// The payment worker against real parts: the sandbox provider as a process,
// the Postgres queue and the ledger on a real server.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { encodeCheckoutMessage, type CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { Ledger } from '../../src/ledger/index.ts';
import { HttpProvider, SandboxControl, startSandboxProcess } from '../../src/psp/index.ts';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { PaymentWorker, type PaymentWorkerOptions } from '../../src/worker/paymentWorker.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';

const CONTROL_KEY = 'control-key-for-tests';

async function setup(t: TestContext, workerOptions: Partial<PaymentWorkerOptions> = {}, creators = 3) {
  const dataDir = await mkdtemp(join(tmpdir(), 'firebreak-worker-psp-'));
  const psp = await startSandboxProcess({ dataDir, seed: 'worker-tests', controlKey: CONTROL_KEY });
  const control = new SandboxControl(psp.baseUrl, CONTROL_KEY);
  const ledger = await Ledger.open({ databaseUrl: await freshDatabase() });
  const { catalog } = makeTestCatalog(creators);
  await ledger.seedCatalog(catalog);
  const queue = await PostgresQueue.open({ databaseUrl: await freshDatabase(), visibilityTimeoutSec: 2 });
  const registry = new Registry();
  const worker = new PaymentWorker({
    queue,
    ledger,
    provider: new HttpProvider({ baseUrl: psp.baseUrl, timeoutMs: 2_000 }),
    registry,
    logger: pino({ level: 'silent' }),
    concurrency: 4,
    visibilityTimeoutSec: 2,
    receiveWaitMs: 200,
    redelivery: { baseMs: 100, maxMs: 200 },
    ...workerOptions,
  });
  t.after(async () => {
    await worker.stop();
    await queue.close();
    await ledger.close();
    await psp.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  let sequence = 0;
  const send = async (over: Partial<CheckoutMessage> = {}) => {
    const m: CheckoutMessage = {
      v: 1,
      checkoutId: randomUUID(),
      creatorId: catalog.creators[0]!.id,
      customerRef: `cus_${++sequence}`,
      planId: null,
      amountMinor: '1999',
      currency: 'USD',
      acceptedAt: new Date().toISOString(),
      ...over,
    };
    await queue.send({ groupId: m.creatorId, dedupId: m.checkoutId, body: encodeCheckoutMessage(m) });
    return m;
  };
  const ledgerStatus = async (checkoutId: string) =>
    (await ledger.pool.query<{ status: string }>('SELECT status FROM checkouts WHERE id = $1', [checkoutId]))
      .rows[0]?.status;
  const metric = async (name: string) =>
    (await registry.getSingleMetric(name)?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
  return { worker, queue, ledger, control, dataDir, send, ledgerStatus, metric, catalog };
}

test('charges a checkout: provider capture, ledger row, message deleted', async (t) => {
  const s = await setup(t);
  const m = await s.send();
  s.worker.start();
  assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
  await waitFor('the message to be deleted', async () => (await s.queue.stats()).inFlight === 0);
  assert.deepEqual(await s.queue.stats(), { visible: 0, inFlight: 0, deadLettered: 0, oldestAgeSec: 0 });
  const captures = await readCaptureRecord(s.dataDir);
  assert.equal(captures.length, 1);
  assert.equal(captures[0]!.idempotencyKey, `checkout-${m.checkoutId}`);
});

test('transient provider errors are retried with backoff until the charge goes through', async (t) => {
  const s = await setup(t, { providerBreaker: { threshold: 1000, halfOpenAfterMs: 100 } });
  await s.control.setFaults({ errorRate: 1 });
  const m = await s.send();
  s.worker.start();
  await waitFor(
    'a failed attempt',
    async () => (await s.metric('checkout_worker_provider_errors_total')) >= 1,
  );
  await s.control.setFaults({ errorRate: 0 });
  assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
  assert.ok((await s.metric('checkout_service_retry_count')) >= 1, 'the redelivery was counted');
});

test('an error after the capture does not capture twice: the redelivery finds the original', async (t) => {
  const s = await setup(t);
  await s.control.setFaults({ errorAfterCaptureRate: 1 });
  const m = await s.send();
  s.worker.start();
  await waitFor('the capture to be recorded', async () => (await readCaptureRecord(s.dataDir)).length === 1);
  await s.control.setFaults({ errorAfterCaptureRate: 0 });
  assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
  assert.equal((await readCaptureRecord(s.dataDir)).length, 1);
});

test('a checkout that keeps failing is dead-lettered after the max receive count, and redrive replays it', async (t) => {
  const s = await setup(t, { providerBreaker: { threshold: 1000, halfOpenAfterMs: 100 } });
  await s.control.setFaults({ errorRate: 1 });
  const m = await s.send();
  s.worker.start();
  await waitFor('the dead letter', async () => (await s.queue.stats()).deadLettered === 1, {
    timeoutMs: 30_000,
  });
  assert.equal(await s.ledgerStatus(m.checkoutId), undefined);
  await s.control.setFaults({ errorRate: 0 });
  assert.equal(await s.queue.redrive(), 1);
  assert.equal(await waitFor('the charge after redrive', () => s.ledgerStatus(m.checkoutId)), 'charged');
});

test('a message that does not parse is dead-lettered, and the creator’s next checkout still goes through', async (t) => {
  const s = await setup(t);
  const creatorId = s.catalog.creators[1]!.id;
  await s.queue.send({ groupId: creatorId, dedupId: randomUUID(), body: '{"v":1,"amountMinor":"12a"}' });
  const next = await s.send({ creatorId });
  s.worker.start();
  assert.equal(
    await waitFor('the next charge', () => s.ledgerStatus(next.checkoutId), { timeoutMs: 30_000 }),
    'charged',
  );
  assert.equal((await s.queue.stats()).deadLettered, 1);
  assert.ok((await s.metric('checkout_worker_processed_total')) >= 2);
});

test('declines are recorded as terminal without a charge', async (t) => {
  const s = await setup(t);
  await s.control.setFaults({ declineRate: 1 });
  const m = await s.send({ currency: 'KWD', amountMinor: '1250' });
  s.worker.start();
  assert.equal(await waitFor('the decline', () => s.ledgerStatus(m.checkoutId)), 'declined');
  const charges = await s.ledger.pool.query('SELECT 1 FROM charges');
  assert.equal(charges.rowCount, 0);
});

test('a provider outage opens the breaker and holds messages instead of dead-lettering them', async (t) => {
  const s = await setup(t, { providerBreaker: { threshold: 2, halfOpenAfterMs: 300 } });
  await s.control.setFaults({ outage: true });
  const sent = await Promise.all([s.send(), s.send({ creatorId: s.catalog.creators[1]!.id })]);
  s.worker.start();
  await waitFor('the breaker to open', async () => {
    return (await s.metric('checkout_worker_breaker_state')) >= 1;
  });
  // Let the outage outlast several visibility timeouts (2 s each): held messages must not burn receives.
  const outageUntil = Date.now() + 5_000;
  await waitFor('the outage window', () => Date.now() > outageUntil, { timeoutMs: 10_000, intervalMs: 250 });
  assert.equal((await s.queue.stats()).deadLettered, 0);
  await s.control.setFaults({ outage: false });
  for (const m of sent)
    assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
  assert.equal((await s.queue.stats()).deadLettered, 0);
});

test('many creators at once: each checkout once, per-creator commit order = acceptance order, commits batched', async (t) => {
  const s = await setup(t, { concurrency: 32 }, 12);
  const sent: { m: CheckoutMessage; sequence: bigint }[] = [];
  for (let round = 0; round < 6; round++) {
    for (const creator of s.catalog.creators) {
      const m = await s.send({ creatorId: creator.id, amountMinor: String(1000 + round) });
      sent.push({ m, sequence: 0n });
    }
  }
  s.worker.start();
  await waitFor(
    'every checkout in the ledger',
    async () => (await s.ledger.pool.query('SELECT 1 FROM checkouts')).rowCount === sent.length,
    { timeoutMs: 60_000 },
  );
  await waitFor('the queue to drain', async () => {
    const stats = await s.queue.stats();
    return stats.visible === 0 && stats.inFlight === 0;
  });
  const rows = (
    await s.ledger.pool.query<{
      creator_id: string;
      queue_sequence: string;
      commit_seq: string;
      committed_at: Date;
    }>(
      // Ordered by the bigint column: the text alias of the same name would sort '13' before '2'.
      'SELECT creator_id, queue_sequence::text, commit_seq::text, committed_at FROM checkouts c ORDER BY c.commit_seq',
    )
  ).rows;
  assert.equal(new Set(rows.map((r) => r.commit_seq)).size, sent.length);
  for (const creator of s.catalog.creators) {
    const mine = rows.filter((r) => r.creator_id === creator.id).map((r) => BigInt(r.queue_sequence));
    assert.equal(mine.length, 6);
    assert.deepEqual(
      mine,
      [...mine].sort((a, b) => (a < b ? -1 : 1)),
      'commit order is acceptance order',
    );
  }
  assert.equal((await readCaptureRecord(s.dataDir)).length, sent.length, 'one capture per checkout');
  // Checkouts committed by one statement share its transaction's now().
  const transactions = new Set(rows.map((r) => r.committed_at.getTime())).size;
  assert.ok(transactions < sent.length, `${transactions} transactions for ${sent.length} checkouts`);
});

test('a checkout the ledger refuses does not hold back the others committed with it', async (t) => {
  const s = await setup(t, { concurrency: 16 }, 6);
  // A plan the ledger has never heard of: the ledger refuses it every time, so it ends in the DLQ.
  const bad = await s.send({ creatorId: s.catalog.creators[0]!.id, planId: randomUUID() });
  const good = [];
  for (const creator of s.catalog.creators.slice(1)) good.push(await s.send({ creatorId: creator.id }));
  s.worker.start();
  for (const m of good)
    assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
  await waitFor(
    'the refused one to be dead-lettered',
    async () => (await s.queue.stats()).deadLettered === 1,
    {
      timeoutMs: 30_000,
    },
  );
  assert.equal(await s.ledgerStatus(bad.checkoutId), undefined);
  const charges = await s.ledger.pool.query('SELECT 1 FROM charges');
  assert.equal(charges.rowCount, good.length);
});

test('a concurrency above what one receive may ask for still settles (several receives fill it)', async (t) => {
  const s = await setup(t, { concurrency: 150 }, 2);
  const sent = [await s.send(), await s.send({ creatorId: s.catalog.creators[1]!.id })];
  s.worker.start();
  for (const m of sent)
    assert.equal(await waitFor('the charge', () => s.ledgerStatus(m.checkoutId)), 'charged');
});
