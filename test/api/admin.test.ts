// The admin listener: health, metrics, and the dead-letter routes behind the
// admin key (a creator key is 403, no or a wrong key 401).

import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildAdminApp, buildApp } from '../../src/api/index.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { ADMIN_KEY, CREATOR_A, type ErrorBody, postCheckout, testCatalog } from './apiFixture.ts';
import { openStores, type TestStores } from './apiStores.ts';

let stores: TestStores;
let app: FastifyInstance;
let admin: FastifyInstance;

beforeEach(async () => {
  stores = await openStores({ maxReceiveCount: 1 });
  const registry = new Registry();
  const catalog = testCatalog();
  app = buildApp({ catalog, queue: stores.queue, intake: stores.intake, registry });
  admin = buildAdminApp({ queue: stores.queue, catalog, registry, adminKeySha256: sha256(ADMIN_KEY) });
});
afterEach(async () => {
  await app.close();
  await admin.close();
  await stores.close();
});

/** The request with `Authorization: Bearer <key>` (the admin key by default; null for none). */
const asAdmin = (request: InjectOptions, key: string | null = ADMIN_KEY): InjectOptions => ({
  ...request,
  headers: { ...request.headers, ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
});

/** Accepts a checkout and dead-letters its message (maxReceiveCount is 1 here). */
async function deadLetterOne(idempotencyKey: string): Promise<string> {
  assert.equal((await app.inject(postCheckout({ idempotencyKey }))).statusCode, 202);
  const [message] = await stores.queue.receive({ maxMessages: 1 });
  assert.ok(message);
  assert.equal(await stores.queue.changeVisibility(message.receiptHandle, 0), true);
  assert.deepEqual(
    await stores.queue.receive({ maxMessages: 1 }),
    [],
    'moved to the DLQ instead of redelivered',
  );
  return message.messageId;
}

test('livez, readyz and metrics answer without a key', async () => {
  const live = await admin.inject({ method: 'GET', url: '/livez' });
  assert.equal(live.statusCode, 200);
  const ready = await admin.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  await app.inject(postCheckout());
  const metrics = await admin.inject({ method: 'GET', url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(String(metrics.headers['content-type']), /^text\/plain/);
  assert.match(metrics.body, /firebreak_api_checkouts_accepted_total\{replayed="false"\} 1/);
});

test('readyz is 503 with a reason when the check fails or hangs', async () => {
  const down = buildAdminApp({
    queue: stores.queue,
    registry: new Registry(),
    adminKeySha256: sha256(ADMIN_KEY),
    readinessTimeoutMs: 100,
    readinessCheck: () => new Promise(() => {}),
  });
  try {
    const ready = await down.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.json<ErrorBody>().error.message, /longer than 100 ms/);
    assert.equal((await down.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
  } finally {
    await down.close();
  }
});

test('DLQ routes: no key 401, wrong key 401, creator key 403', async () => {
  const routes = [
    { method: 'GET', url: '/v1/admin/dlq' },
    { method: 'POST', url: '/v1/admin/dlq/redrive', payload: {} },
  ] satisfies InjectOptions[];
  for (const route of routes) {
    for (const [key, status, code] of [
      [null, 401, 'FB_UNAUTHENTICATED'],
      ['not-the-admin-key', 401, 'FB_UNAUTHENTICATED'],
      [CREATOR_A.apiKey, 403, 'FB_FORBIDDEN'],
    ] as const) {
      const response = await admin.inject(asAdmin(route, key));
      assert.equal(response.statusCode, status, `${route.url} with ${key ?? 'no key'}: ${response.body}`);
      assert.equal(response.json<ErrorBody>().error.code, code);
    }
  }
});

test('the admin key lists dead letters and redrives them', async () => {
  const messageId = await deadLetterOne('dead-1');
  const list = await admin.inject(asAdmin({ method: 'GET', url: '/v1/admin/dlq?limit=10' }));
  assert.equal(list.statusCode, 200, list.body);
  const letters = list.json<{ deadLetters: { messageId: string; groupId: string; sequence: string }[] }>()
    .deadLetters;
  assert.deepEqual(
    letters.map((d) => [d.messageId, d.groupId]),
    [[messageId, CREATOR_A.id]],
  );
  assert.match(letters[0]!.sequence, /^[0-9]+$/);

  const redrive = await admin.inject(
    asAdmin({ method: 'POST', url: '/v1/admin/dlq/redrive', payload: { messageIds: [messageId] } }),
  );
  assert.equal(redrive.statusCode, 200, redrive.body);
  assert.deepEqual(redrive.json(), { redriven: 1 });
  const stats = await stores.queue.stats();
  assert.equal(stats.deadLettered, 0);
  assert.equal(stats.visible, 1);
});

test('redrive with an empty body redrives every dead letter', async () => {
  await deadLetterOne('dead-a');
  await deadLetterOne('dead-b');
  const redrive = await admin.inject(asAdmin({ method: 'POST', url: '/v1/admin/dlq/redrive' }));
  assert.equal(redrive.statusCode, 200, redrive.body);
  assert.deepEqual(redrive.json(), { redriven: 2 });
});

test('DLQ routes validate their input', async () => {
  for (const url of ['/v1/admin/dlq?limit=0', '/v1/admin/dlq?limit=abc', '/v1/admin/dlq?limit=100000']) {
    const response = await admin.inject(asAdmin({ method: 'GET', url }));
    assert.equal(response.statusCode, 400, url);
    assert.equal(response.json<ErrorBody>().error.field, 'query.limit');
  }
  for (const payload of [{ messageIds: [] }, { messageIds: 'all' }, { ids: ['x'] }, []]) {
    const response = await admin.inject(asAdmin({ method: 'POST', url: '/v1/admin/dlq/redrive', payload }));
    assert.equal(response.statusCode, 400, JSON.stringify(payload));
    assert.equal(response.json<ErrorBody>().error.code, 'FB_INVALID_FIELD');
  }
  const notJson = await admin.inject(
    asAdmin({
      method: 'POST',
      url: '/v1/admin/dlq/redrive',
      payload: '{',
      headers: { 'content-type': 'application/json' },
    }),
  );
  assert.equal(notJson.statusCode, 400);
  assert.equal(notJson.json<ErrorBody>().error.code, 'FB_MALFORMED_JSON');
});
