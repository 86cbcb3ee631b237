// The nightly job's rewrite with the whole pipeline running: the worker on a
// real queue, the sandbox provider process, the reconciler's loop. The row is
// rewritten to 'failed' with retry set, and then the retry the flag asks for
// is made: the checkout is sent to the payment queue again (a new message, as
// a retry job would send it). The provider must still hold exactly one result
// for the checkout, the ledger one charge, and the reconciler must restore the
// row.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { encodeCheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { HttpProvider, readCaptureRecord } from '../../src/psp/index.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { PaymentWorker } from '../../src/worker/paymentWorker.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { checkoutRow, reconcileFixture, tamper } from './reconcileFixture.ts';

test('a rewritten row that is retried never captures a second time; the reconciler restores it', async (t) => {
  const f = await reconcileFixture(t);
  const queue = await PostgresQueue.open({ databaseUrl: await freshDatabase(), visibilityTimeoutSec: 5 });
  const workerRegistry = new Registry();
  const worker = new PaymentWorker({
    queue,
    ledger: f.ledger,
    provider: new HttpProvider({ baseUrl: f.psp.baseUrl, timeoutMs: 5_000 }),
    registry: workerRegistry,
    logger: pino({ level: 'silent' }),
    concurrency: 4,
    visibilityTimeoutSec: 5,
    receiveWaitMs: 100,
  });
  t.after(async () => {
    await worker.stop();
    await queue.close();
  });
  const { reconciler, registry } = f.reconciler({ intervalMs: 100 });
  worker.start();
  reconciler.start();

  // A first checkout, through the queue and the worker like any other.
  const m = {
    v: 1 as const,
    checkoutId: randomUUID(),
    creatorId: f.catalog.creators[1]!.id,
    customerRef: 'cus_nightly',
    planId: null,
    amountMinor: '4200',
    currency: 'USD',
    acceptedAt: new Date().toISOString(),
  };
  await queue.send({ groupId: m.creatorId, dedupId: m.checkoutId, body: encodeCheckoutMessage(m) });
  await waitFor('the charge', async () => (await checkoutRow(f.owner, m.checkoutId))?.status === 'charged');
  const truth = await checkoutRow(f.owner, m.checkoutId);
  const processed = async (outcome: string) =>
    f.metric(workerRegistry, 'checkout_worker_processed_total', { outcome });

  // The nightly job: rewrite, then retry what it marked for retry.
  await reconciler.stop(); // held back so the rewrite is seen by the worker first; restarted below
  await tamper(f.owner, `UPDATE checkouts SET status = 'failed', retry = true WHERE id = $1`, [m.checkoutId]);
  const retried = await queue.send({
    groupId: m.creatorId,
    dedupId: `retry-${m.checkoutId}`,
    body: encodeCheckoutMessage(m),
  });
  assert.equal(retried.duplicate, false, 'the retry is a new message the worker will receive');
  await waitFor('the worker to settle the retry', async () => (await processed('duplicate')) >= 1);
  await waitFor('the queue to be empty', async () => {
    const s = await queue.stats();
    return s.visible + s.inFlight + s.deadLettered === 0;
  });
  assert.equal(
    (await checkoutRow(f.owner, m.checkoutId))?.status,
    'failed',
    'the worker did not rewrite the row',
  );

  // The reconciler comes back and restores the row.
  const { reconciler: second, registry: secondRegistry } = f.reconciler({ intervalMs: 100 });
  second.start();
  await waitFor(
    'the row to be restored',
    async () => (await checkoutRow(f.owner, m.checkoutId))?.status === 'charged',
  );
  assert.deepEqual(await checkoutRow(f.owner, m.checkoutId), truth);
  assert.equal(
    await f.metric(secondRegistry, 'ledger_tampering_detected_total', { kind: 'checkout_status' }),
    1,
  );
  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total'), 0, 'nothing was tampered before');

  // One result at the provider for the checkout, one charge in the ledger.
  const results = (await readCaptureRecord(f.dataDir)).filter((r) => r.checkoutId === m.checkoutId);
  assert.equal(results.length, 1);
  assert.equal(results[0]!.status, 'captured');
  const charges = await f.owner.query(`SELECT 1 FROM charges WHERE checkout_id = $1`, [m.checkoutId]);
  assert.equal(charges.rowCount, 1);
  assert.equal(await processed('charged'), 1);
});
