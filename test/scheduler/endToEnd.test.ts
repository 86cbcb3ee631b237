// Renewals through the real flow: the scheduler (injected clock) enqueues, the
// real PaymentWorker charges the sandbox provider (a real process over HTTP)
// and commits to the ledger. The provider's own record must show every
// period captured exactly once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { encodeCheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { HttpProvider, SandboxControl, startSandboxProcess } from '../../src/psp/index.ts';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { PaymentWorker } from '../../src/worker/paymentWorker.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { renewalFixture } from './renewalFixture.ts';

const CONTROL_KEY = 'control-key-for-renewal-tests';

test('renewals through the real worker and provider: declines, past due, restored, each period captured once', async (t) => {
  const f = await renewalFixture(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'firebreak-renewal-psp-'));
  const psp = await startSandboxProcess({ dataDir, seed: 'renewal-tests', controlKey: CONTROL_KEY });
  const control = new SandboxControl(psp.baseUrl, CONTROL_KEY);
  const worker = new PaymentWorker({
    queue: f.queue,
    ledger: f.ledger,
    provider: new HttpProvider({ baseUrl: psp.baseUrl, timeoutMs: 5_000 }),
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
    concurrency: 4,
    visibilityTimeoutSec: 60,
    receiveWaitMs: 200,
  });
  f.beforeClose(async () => {
    await worker.stop();
    await psp.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  worker.start();

  // The first checkout goes the way the API sends it.
  const plan = f.plan('monthly');
  const first = {
    v: 1 as const,
    checkoutId: randomUUID(),
    creatorId: plan.creatorId,
    customerRef: 'cus_renewing',
    planId: plan.id,
    amountMinor: plan.amountMinor,
    currency: plan.currency,
    acceptedAt: '2027-01-31T10:00:00.000Z',
  };
  await f.queue.send({
    groupId: first.creatorId,
    dedupId: first.checkoutId,
    body: encodeCheckoutMessage(first),
  });
  const sub = await waitFor('the subscription', async () => {
    const r = await f.ledger.pool.query<{ id: string }>(
      `SELECT id FROM subscriptions WHERE started_checkout_id = $1`,
      [first.checkoutId],
    );
    return r.rows[0]?.id;
  });

  const scheduler = f.scheduler();
  const settle = async (): Promise<{ period: number; status: string }> => {
    f.clock.now = new Date((await f.subscription(sub)).nextChargeAt);
    const run = await scheduler.runOnce();
    assert.equal(run.claimed.length, 1);
    const claimed = run.claimed[0]!;
    const status = await waitFor(`the outcome of ${claimed.checkoutId}`, async () => {
      const r = await f.ledger.pool.query<{ status: string }>(`SELECT status FROM checkouts WHERE id = $1`, [
        claimed.checkoutId,
      ]);
      return r.rows[0]?.status;
    });
    return { period: claimed.period, status };
  };

  await control.setFaults({ declineRate: 1 });
  for (let attempt = 1; attempt <= 5; attempt++)
    assert.deepEqual(await settle(), { period: 1, status: 'declined' });
  assert.equal((await f.subscription(sub)).status, 'past_due');
  await control.setFaults({ declineRate: 0 });
  assert.deepEqual(await settle(), { period: 1, status: 'charged' });
  assert.equal((await f.subscription(sub)).status, 'active');
  assert.deepEqual(await settle(), { period: 2, status: 'charged' });
  assert.deepEqual(await settle(), { period: 3, status: 'charged' });

  const types = (await f.subscriptionEvents(sub)).map((e) => e.type);
  assert.equal(types.filter((e) => e === 'subscription.past_due').length, 1);
  assert.deepEqual(types.slice(-4), [
    'subscription.renewed',
    'subscription.restored',
    'subscription.renewed',
    'subscription.renewed',
  ]);

  // The provider's record: one capture per period (plus the first checkout), each under its own key.
  const attempts = await f.renewals(sub);
  const records = await readCaptureRecord(dataDir);
  const captured = records.filter((r) => r.status === 'captured').map((r) => r.checkoutId);
  const chargedIds = attempts.filter((a) => a.status === 'charged').map((a) => a.checkoutId);
  assert.deepEqual(captured.sort(), [first.checkoutId, ...chargedIds].sort());
  assert.equal(records.filter((r) => r.status === 'declined').length, 5);
  for (const r of records) assert.equal(r.idempotencyKey, `checkout-${r.checkoutId}`);
  const charges = await f.ledger.pool.query<{ checkout_id: string }>(`SELECT checkout_id FROM charges`);
  assert.deepEqual(charges.rows.map((r) => r.checkout_id).sort(), captured.sort());
  await waitFor('the queue to drain', async () => (await f.queue.stats()).inFlight === 0);
});
