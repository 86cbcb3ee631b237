// Accepting checkouts: what is queued, idempotent replays, conflicts, creator
// isolation, status reads, metrics and log redaction, against the real
// Postgres queue and intake.

import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApp, checkoutIdFor, requestHashOf } from '../../src/api/index.ts';
import { decodeCheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import type { ReceivedMessage } from '../../src/queue/Queue.ts';
import {
  amountBody,
  CREATOR_A,
  CREATOR_B,
  type ErrorBody,
  getCheckout,
  PLAN_A_JPY,
  PLAN_B_EUR,
  planBody,
  postCheckout,
  testCatalog,
} from './apiFixture.ts';
import { openStores, type TestStores } from './apiStores.ts';

let stores: TestStores;
let app: FastifyInstance;
let registry: Registry;

beforeEach(async () => {
  stores = await openStores();
  registry = new Registry();
  app = buildApp({ catalog: testCatalog(), queue: stores.queue, intake: stores.intake, registry });
});
afterEach(async () => {
  await app.close();
  await stores.close();
});

interface Accepted {
  checkoutId: string;
  status: string;
  statusUrl: string;
}

async function drain(): Promise<ReceivedMessage[]> {
  return stores.queue.receive({ maxMessages: 10 });
}

test('an amount checkout is answered 202 and queued once, grouped by creator, deduplicated by checkout id', async () => {
  const response = await app.inject(postCheckout({ idempotencyKey: 'order-1' }));
  assert.equal(response.statusCode, 202, response.body);
  const body = response.json<Accepted>();
  const checkoutId = checkoutIdFor(CREATOR_A.id, 'order-1');
  assert.deepEqual(body, { checkoutId, status: 'queued', statusUrl: `/v1/checkouts/${checkoutId}` });
  assert.equal(response.headers.location, body.statusUrl);
  assert.equal(response.headers['idempotent-replayed'], undefined);

  const [message, ...rest] = await drain();
  assert.equal(rest.length, 0);
  assert.ok(message);
  assert.equal(message.groupId, CREATOR_A.id);
  assert.equal(message.dedupId, checkoutId);
  const decoded = decodeCheckoutMessage(message.body);
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
  const record = await stores.intake.get(checkoutId);
  assert.deepEqual(decoded.message, {
    v: 1,
    checkoutId,
    creatorId: CREATOR_A.id,
    customerRef: 'cust-42',
    planId: null,
    amountMinor: '1999',
    currency: 'USD',
    acceptedAt: record?.receivedAt.toISOString(),
  });
  assert.equal(record?.status, 'queued');
  assert.equal(record?.queueSequence, message.sequence);
});

test("a plan checkout is queued with the plan's amount and currency", async () => {
  const response = await app.inject(
    postCheckout({ idempotencyKey: 'plan-1', body: planBody({ planId: PLAN_A_JPY }) }),
  );
  assert.equal(response.statusCode, 202, response.body);
  const [message] = await drain();
  const decoded = decodeCheckoutMessage(message!.body);
  assert.ok(decoded.ok);
  assert.equal(decoded.message.planId, PLAN_A_JPY);
  assert.equal(decoded.message.amountMinor, '12000');
  assert.equal(decoded.message.currency, 'JPY');
});

test('a replay returns the same checkout with Idempotent-Replayed and queues nothing new', async () => {
  const first = await app.inject(postCheckout({ idempotencyKey: 'retry-me' }));
  const second = await app.inject(postCheckout({ idempotencyKey: 'retry-me' }));
  assert.equal(first.statusCode, 202);
  assert.equal(second.statusCode, 202);
  assert.equal(second.json<Accepted>().checkoutId, first.json<Accepted>().checkoutId);
  assert.equal(second.headers['idempotent-replayed'], 'true');
  assert.equal(second.json<Accepted>().status, 'queued');
  assert.equal((await stores.queue.stats()).visible, 1);
  assert.equal(await stores.intakeRows(), 1);
});

test('an amount sent as a number and replayed as the equivalent digit string is the same request', async () => {
  const first = await app.inject(
    postCheckout({ idempotencyKey: 'n', body: amountBody({ amountMinor: 1999 }) }),
  );
  const second = await app.inject(
    postCheckout({ idempotencyKey: 'n', body: amountBody({ amountMinor: '01999' }) }),
  );
  assert.equal(first.statusCode, 202);
  assert.equal(second.statusCode, 202, second.body);
  assert.equal(second.headers['idempotent-replayed'], 'true');
});

test('concurrent identical requests make one checkout and one message', async () => {
  const responses = await Promise.all(
    Array.from({ length: 12 }, () => app.inject(postCheckout({ idempotencyKey: 'storm' }))),
  );
  const ids = new Set(responses.map((r) => r.json<Accepted>().checkoutId));
  assert.deepEqual(
    responses.map((r) => r.statusCode),
    responses.map(() => 202),
  );
  assert.equal(ids.size, 1);
  assert.equal(responses.filter((r) => r.headers['idempotent-replayed'] === undefined).length, 1);
  assert.equal((await stores.queue.stats()).visible, 1);
});

test('the same key with a different body is a 409 conflict and changes nothing', async () => {
  const first = await app.inject(postCheckout({ idempotencyKey: 'k1' }));
  assert.equal(first.statusCode, 202);
  const conflict = await app.inject(
    postCheckout({ idempotencyKey: 'k1', body: amountBody({ amountMinor: '2000' }) }),
  );
  assert.equal(conflict.statusCode, 409, conflict.body);
  assert.equal(conflict.json<ErrorBody>().error.code, 'FB_IDEMPOTENCY_CONFLICT');
  assert.equal(conflict.json<ErrorBody>().error.field, 'header.idempotency-key');
  const [message, ...rest] = await drain();
  assert.equal(rest.length, 0);
  const decoded = decodeCheckoutMessage(message!.body);
  assert.ok(decoded.ok);
  assert.equal(decoded.message.amountMinor, '1999', 'the original request stands');
});

test('a replay of a checkout recorded but never queued (a crash or 503 in between) queues it', async () => {
  // What a first attempt leaves behind when the queue send fails after intake.record.
  const checkoutId = checkoutIdFor(CREATOR_A.id, 'half-done');
  const requestHash = requestHashOf({
    creatorId: CREATOR_A.id,
    customerRef: 'cust-42',
    planId: null,
    amountMinor: '1999',
    currency: 'USD',
  });
  await stores.intake.record({ checkoutId, creatorId: CREATOR_A.id, requestHash });
  assert.equal((await stores.queue.stats()).visible, 0);

  const replay = await app.inject(postCheckout({ idempotencyKey: 'half-done' }));
  assert.equal(replay.statusCode, 202, replay.body);
  assert.equal(replay.headers['idempotent-replayed'], 'true');
  assert.equal(replay.json<Accepted>().status, 'queued');
  assert.equal((await stores.queue.stats()).visible, 1);
  assert.equal((await stores.intake.get(checkoutId))?.status, 'queued');
});

test("creators are isolated: same key, different checkouts; B cannot read A's checkout", async () => {
  const a = await app.inject(postCheckout({ idempotencyKey: 'shared-key' }));
  const b = await app.inject(
    postCheckout({
      apiKey: CREATOR_B.apiKey,
      idempotencyKey: 'shared-key',
      body: planBody({ creatorId: CREATOR_B.id, planId: PLAN_B_EUR }),
    }),
  );
  assert.equal(a.statusCode, 202);
  assert.equal(b.statusCode, 202, b.body);
  const aId = a.json<Accepted>().checkoutId;
  assert.notEqual(aId, b.json<Accepted>().checkoutId);

  const own = await app.inject(getCheckout(aId));
  assert.equal(own.statusCode, 200, own.body);
  assert.equal(own.json<{ status: string }>().status, 'queued');

  const foreign = await app.inject(getCheckout(aId, CREATOR_B.apiKey));
  const missingId = checkoutIdFor(CREATOR_B.id, 'never-used');
  const missing = await app.inject(getCheckout(missingId, CREATOR_B.apiKey));
  assert.equal(foreign.statusCode, 404);
  assert.equal(missing.statusCode, 404);
  const scrub = (text: string, id: string) => text.replaceAll(id, '<id>');
  assert.equal(
    scrub(foreign.body, aId),
    scrub(missing.body, missingId),
    'indistinguishable from a missing checkout',
  );
});

test('GET /v1/checkouts/:id needs a key and a UUID', async () => {
  const noKey = await app.inject({ method: 'GET', url: `/v1/checkouts/${checkoutIdFor(CREATOR_A.id, 'x')}` });
  assert.equal(noKey.statusCode, 401);
  assert.equal(noKey.json<ErrorBody>().error.code, 'FB_UNAUTHENTICATED');
  const malformed = await app.inject(getCheckout('not-a-uuid'));
  assert.equal(malformed.statusCode, 400);
  assert.deepEqual(malformed.json<ErrorBody>().error.field, 'params.id');
  const badEncoding = await app.inject(getCheckout('%E0%A4%A'));
  assert.equal(badEncoding.statusCode, 400);
  assert.equal(badEncoding.json<ErrorBody>().error.code, 'FB_BAD_REQUEST');
  const unknownRoute = await app.inject({ method: 'DELETE', url: '/v1/checkouts' });
  assert.equal(unknownRoute.statusCode, 404);
  assert.equal(unknownRoute.json<ErrorBody>().error.code, 'FB_NOT_FOUND');
});

test('metrics count requests by route template and accepted checkouts by replay', async () => {
  await app.inject(postCheckout({ idempotencyKey: 'm1' }));
  await app.inject(postCheckout({ idempotencyKey: 'm1' }));
  await app.inject(postCheckout({ apiKey: undefined }));
  await app.inject(getCheckout(checkoutIdFor(CREATOR_A.id, 'm1')));
  const text = await registry.metrics();
  assert.match(text, /firebreak_api_checkouts_accepted_total\{replayed="false"\} 1/);
  assert.match(text, /firebreak_api_checkouts_accepted_total\{replayed="true"\} 1/);
  assert.match(
    text,
    /firebreak_api_http_requests_total\{method="POST",route="\/v1\/checkouts",status="202"\} 2/,
  );
  assert.match(
    text,
    /firebreak_api_http_requests_total\{method="POST",route="\/v1\/checkouts",status="401"\} 1/,
  );
  assert.match(
    text,
    /firebreak_api_http_requests_total\{method="GET",route="\/v1\/checkouts\/:id",status="200"\} 1/,
  );
  assert.match(
    text,
    /firebreak_api_http_request_duration_seconds_count\{method="POST",route="\/v1\/checkouts",status="202"\} 2/,
  );
});

test('logs carry the request headers with the API key redacted', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logged = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    logger: pino({ level: 'trace' }, sink),
  });
  try {
    assert.equal((await logged.inject(postCheckout({ idempotencyKey: 'logged-1' }))).statusCode, 202);
    assert.equal((await logged.inject(postCheckout({ apiKey: 'fb_wrong_secret' }))).statusCode, 401);
  } finally {
    await logged.close();
  }
  const all = lines.join('');
  assert.match(all, /logged-1/, 'the idempotency key is logged');
  assert.match(all, /"authorization":"\[redacted\]"/);
  assert.doesNotMatch(all, new RegExp(CREATOR_A.apiKey));
  assert.doesNotMatch(all, /fb_wrong_secret/);
});

test('at info, one summary line per request: idempotency key and checkout id, no headers', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logged = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    logger: pino({ level: 'info' }, sink),
  });
  try {
    assert.equal((await logged.inject(postCheckout({ idempotencyKey: 'summary-1' }))).statusCode, 202);
  } finally {
    await logged.close();
  }
  const perRequest = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'reqId' in l);
  assert.equal(perRequest.length, 1, lines.join('\n'));
  const [line] = perRequest;
  assert.equal(line?.msg, 'request summary');
  assert.equal(line.idempotencyKey, 'summary-1');
  assert.equal(line.checkoutId, checkoutIdFor(CREATOR_A.id, 'summary-1'));
  assert.equal(line.statusCode, 202);
  assert.equal(line.headers, undefined, 'no header is copied at info');
  assert.doesNotMatch(lines.join('\n'), new RegExp(CREATOR_A.apiKey));
});
