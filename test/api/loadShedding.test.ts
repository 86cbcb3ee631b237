// A saturated API sheds load with 503 FB_OVERLOADED and Retry-After, while the
// admin listener's liveness keeps answering 200 (it shares none of that work).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, buildApp } from '../../src/api/index.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { ADMIN_KEY, type ErrorBody, postCheckout, testCatalog } from './apiFixture.ts';
import { openStores, type TestStores } from './apiStores.ts';

let stores: TestStores;
let app: FastifyInstance;
let admin: FastifyInstance;

before(async () => {
  stores = await openStores();
  const registry = new Registry();
  app = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    registry,
    retryAfterSec: 4,
    loadShedding: { maxEventLoopDelayMs: 20, sampleIntervalMs: 50 },
  });
  admin = buildAdminApp({ queue: stores.queue, registry, adminKeySha256: sha256(ADMIN_KEY) });
  await app.ready();
});
after(async () => {
  await app.close();
  await admin.close();
  await stores.close();
});

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: this is the saturation being simulated
  }
}

test('an event loop lagging past the limit is answered 503 FB_OVERLOADED; livez stays 200', async () => {
  const shed = await waitFor(
    'the API to shed load',
    async () => {
      blockEventLoop(300);
      // The sampler reads the stall on its next ticks; ask a few times while it does.
      for (let attempt = 0; attempt < 10; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const response = await app.inject(postCheckout({ idempotencyKey: 'busy' }));
        if (response.statusCode === 503) return response;
      }
      return undefined;
    },
    { timeoutMs: 10_000, intervalMs: 1 },
  );
  assert.equal(shed.json<ErrorBody>().error.code, 'FB_OVERLOADED');
  assert.equal(shed.headers['retry-after'], '4');
  assert.equal((await admin.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
});
