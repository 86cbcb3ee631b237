// Load shedding by requests in progress: with the database stuck, the API
// answers the requests beyond its in-flight limit with 503 FB_OVERLOADED and
// Retry-After at once, instead of queueing them behind the pool until every
// client times out (the retry-storm incident). When the database answers
// again, the held requests complete and new ones are accepted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/api/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { amountBody, CREATOR_A, CREATOR_B, testCatalog } from './apiFixture.ts';
import { openStores } from './apiStores.ts';

test('beyond maxInFlight a checkout is answered 503 FB_OVERLOADED with Retry-After at once; the limit frees as requests finish', async (t) => {
  const stores = await openStores();
  t.after(() => stores.close());
  const registry = new Registry();
  const app = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    registry,
    loadShedding: { maxInFlight: 2 },
  });
  t.after(() => app.close());
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (key: string, creator: { id: string; apiKey: string } = CREATOR_A) =>
    fetch(`${address}/v1/checkouts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${creator.apiKey}`,
        'idempotency-key': key,
        'content-type': 'application/json',
      },
      body: JSON.stringify(amountBody({ creatorId: creator.id })),
    });

  const locker = new pg.Client({ connectionString: stores.databaseUrl });
  locker.on('error', () => {});
  await locker.connect();
  t.after(() => locker.end());
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE checkout_intake, queue_message, queue_group IN ACCESS EXCLUSIVE MODE');

  const held = [post('held-1', CREATOR_A), post('held-2', CREATOR_B)];
  await waitFor('both requests in progress, held by the lock', async () =>
    /^firebreak_api_checkout_requests_in_flight 2$/m.test(await registry.metrics()),
  );

  for (const key of ['shed-1', 'shed-2', 'shed-3']) {
    const res = await post(key);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '2');
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FB_OVERLOADED');
    assert.match(body.error.message, /2 requests in progress/);
  }
  const metrics = await registry.metrics();
  assert.match(metrics, /^firebreak_api_shed_total 3$/m);

  await locker.query('ROLLBACK');
  for (const res of await Promise.all(held)) assert.equal(res.status, 202);
  const after = await post('after-release');
  assert.equal(after.status, 202, 'the in-flight count went back down');
});
