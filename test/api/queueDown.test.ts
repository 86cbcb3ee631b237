// The queue database goes away: the API answers 503 FB_QUEUE_UNAVAILABLE with
// Retry-After (never a 500), readiness fails, liveness does not, and once the
// database is back the client's retry with the same key succeeds exactly once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, buildApp, checkoutIdFor } from '../../src/api/index.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freePort } from '../../src/stack/freePort.ts';
import { queuePool } from '../../src/api/queuePool.ts';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import type { PostgresServer } from '../../src/stack/postgresServer.ts';
import { sharedPostgres } from '../helpers/postgres.ts';
import {
  ADMIN_KEY,
  CREATOR_A,
  type ErrorBody,
  getCheckout,
  postCheckout,
  testCatalog,
} from './apiFixture.ts';
import { openStores, type TestStores } from './apiStores.ts';

const SERVER = 'api-queue-down';
let server: PostgresServer;
let stores: TestStores;
let app: FastifyInstance;
let admin: FastifyInstance;

before(async () => {
  server = await sharedPostgres(SERVER);
  stores = await openStores({ server: SERVER });
  const registry = new Registry();
  const catalog = testCatalog();
  app = buildApp({
    catalog,
    queue: stores.queue,
    intake: stores.intake,
    registry,
    retryAfterSec: 3,
    storeTimeoutMs: 3_000,
  });
  admin = buildAdminApp({ queue: stores.queue, catalog, registry, adminKeySha256: sha256(ADMIN_KEY) });
});
after(async () => {
  await app.close();
  await admin.close();
  await stores.close();
});

test('queue database down → 503 with Retry-After, not 500; back up → the retry is accepted once', async () => {
  assert.equal((await app.inject(postCheckout({ idempotencyKey: 'before' }))).statusCode, 202);
  // Several idle pooled connections, which the shutdown terminates under the pool's feet.
  await Promise.all([stores.queue.stats(), stores.queue.stats(), stores.intakeRows()]);
  await server.stop();
  try {
    const refused = await app.inject(postCheckout({ idempotencyKey: 'during' }));
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.headers['retry-after'], '3');
    assert.equal(refused.json<ErrorBody>().error.code, 'FB_QUEUE_UNAVAILABLE');
    assert.match(refused.json<ErrorBody>().error.message, /Idempotency-Key/);

    const read = await app.inject(getCheckout(checkoutIdFor(CREATOR_A.id, 'before')));
    assert.equal(read.statusCode, 503, read.body);
    assert.equal(read.headers['retry-after'], '3');

    const ready = await admin.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503, ready.body);
    assert.equal(ready.json<ErrorBody>().error.code, 'FB_QUEUE_UNAVAILABLE');
    assert.equal(
      (await admin.inject({ method: 'GET', url: '/livez' })).statusCode,
      200,
      'liveness has no dependencies',
    );

    const metrics = await admin.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /firebreak_api_queue_unavailable_total [1-9]/);
  } finally {
    await server.resume();
  }

  const retried = await waitFor(
    'the API to accept checkouts again',
    async () => {
      const response = await app.inject(postCheckout({ idempotencyKey: 'during' }));
      assert.ok(response.statusCode === 202 || response.statusCode === 503, response.body);
      return response.statusCode === 202 ? response : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  assert.equal(retried.json<{ checkoutId: string }>().checkoutId, checkoutIdFor(CREATOR_A.id, 'during'));
  assert.equal((await stores.queue.stats()).visible, 2, 'one message per accepted checkout');
  assert.equal(await stores.intakeRows(), 2);
  assert.equal((await admin.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
});

test('a queue database that was never reachable (dead port) → 503 with Retry-After', async () => {
  const deadUrl = `postgres://postgres:firebreak@127.0.0.1:${await freePort()}/queue`;
  const pool = queuePool(deadUrl);
  const queue = PostgresQueue.connect({ pool });
  const intake = PostgresIntake.connect({ pool });
  const dead = buildApp({ catalog: testCatalog(), queue, intake, retryAfterSec: 5 });
  const deadAdmin = buildAdminApp({ queue, registry: new Registry(), adminKeySha256: sha256(ADMIN_KEY) });
  try {
    const refused = await dead.inject(postCheckout({ idempotencyKey: 'dead-port' }));
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.headers['retry-after'], '5');
    assert.equal(refused.json<ErrorBody>().error.code, 'FB_QUEUE_UNAVAILABLE');
    const read = await dead.inject(getCheckout(checkoutIdFor(CREATOR_A.id, 'dead-port')));
    assert.equal(read.statusCode, 503, read.body);
    const ready = await deadAdmin.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.json<ErrorBody>().error.message, /ECONNREFUSED|connect/);
  } finally {
    await dead.close();
    await deadAdmin.close();
    await pool.end();
  }
});
