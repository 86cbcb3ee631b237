// Each way a checkout request can be wrong, one test each: the status, the
// code, the field, the { error } shape, and that nothing was recorded or queued.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/api/index.ts';
import {
  amountBody,
  CREATOR_A,
  CREATOR_B,
  type ErrorBody,
  PLAN_A_USD,
  PLAN_B_EUR,
  planBody,
  postCheckout,
  testCatalog,
  UNKNOWN_CREATOR_ID,
} from './apiFixture.ts';
import { assertNothingRecorded, openStores, type TestStores } from './apiStores.ts';

let stores: TestStores;
let app: FastifyInstance;

before(async () => {
  stores = await openStores();
  app = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    bodyLimitBytes: 65_536,
  });
});
after(async () => {
  await app.close();
  await stores.close();
});

interface Case {
  readonly name: string;
  readonly request: InjectOptions;
  readonly status: number;
  readonly code: string;
  readonly field?: string;
}

const cases: Case[] = [
  // who is calling
  {
    name: 'no Authorization header',
    request: postCheckout({ apiKey: undefined }),
    status: 401,
    code: 'FB_UNAUTHENTICATED',
    field: 'header.authorization',
  },
  {
    name: 'unknown API key',
    request: postCheckout({ apiKey: 'fb_not_a_key' }),
    status: 401,
    code: 'FB_UNAUTHENTICATED',
    field: 'header.authorization',
  },
  {
    name: 'Authorization that is not Bearer',
    request: {
      ...postCheckout(),
      headers: { ...postCheckout().headers, authorization: `Basic ${CREATOR_A.apiKey}` },
    },
    status: 401,
    code: 'FB_UNAUTHENTICATED',
    field: 'header.authorization',
  },
  {
    name: "creator A's key for creator B",
    request: postCheckout({ body: amountBody({ creatorId: CREATOR_B.id }) }),
    status: 403,
    code: 'FB_FORBIDDEN',
    field: 'body.creatorId',
  },
  // which attempt
  {
    name: 'no Idempotency-Key',
    request: postCheckout({ idempotencyKey: undefined }),
    status: 400,
    code: 'FB_IDEMPOTENCY_KEY_MISSING',
    field: 'header.idempotency-key',
  },
  {
    name: 'empty Idempotency-Key',
    request: postCheckout({ idempotencyKey: '' }),
    status: 400,
    code: 'FB_IDEMPOTENCY_KEY_INVALID',
    field: 'header.idempotency-key',
  },
  {
    name: 'Idempotency-Key of 256 characters',
    request: postCheckout({ idempotencyKey: 'k'.repeat(256) }),
    status: 400,
    code: 'FB_IDEMPOTENCY_KEY_INVALID',
    field: 'header.idempotency-key',
  },
  {
    name: 'non-ASCII Idempotency-Key',
    request: postCheckout({ idempotencyKey: 'clé-1' }),
    status: 400,
    code: 'FB_IDEMPOTENCY_KEY_INVALID',
    field: 'header.idempotency-key',
  },
  {
    name: 'Idempotency-Key with a control character',
    request: postCheckout({ idempotencyKey: 'a\tb' }),
    status: 400,
    code: 'FB_IDEMPOTENCY_KEY_INVALID',
    field: 'header.idempotency-key',
  },
  // the body as bytes
  {
    name: 'text/plain content type',
    request: postCheckout({ contentType: 'text/plain' }),
    status: 415,
    code: 'FB_UNSUPPORTED_MEDIA_TYPE',
    field: 'header.content-type',
  },
  {
    name: 'form content type',
    request: postCheckout({ contentType: 'application/x-www-form-urlencoded' }),
    status: 415,
    code: 'FB_UNSUPPORTED_MEDIA_TYPE',
    field: 'header.content-type',
  },
  {
    name: 'no content type, with a body',
    request: postCheckout({ contentType: undefined }),
    status: 415,
    code: 'FB_UNSUPPORTED_MEDIA_TYPE',
    field: 'header.content-type',
  },
  {
    name: 'no content type, no body',
    request: postCheckout({ contentType: undefined, body: undefined }),
    status: 415,
    code: 'FB_UNSUPPORTED_MEDIA_TYPE',
    field: 'header.content-type',
  },
  {
    name: 'malformed JSON',
    request: postCheckout({ body: '{"creatorId": ' }),
    status: 400,
    code: 'FB_MALFORMED_JSON',
    field: 'body',
  },
  {
    name: 'empty JSON body',
    request: postCheckout({ body: '' }),
    status: 400,
    code: 'FB_MALFORMED_JSON',
    field: 'body',
  },
  {
    name: 'prototype pollution attempt',
    request: postCheckout({ body: '{"__proto__": {"admin": true}}' }),
    status: 400,
    code: 'FB_MALFORMED_JSON',
    field: 'body',
  },
  {
    name: 'body over 64 KiB',
    request: postCheckout({ body: amountBody({ customerRef: 'x'.repeat(70_000) }) }),
    status: 413,
    code: 'FB_BODY_TOO_LARGE',
    field: 'body',
  },
  // the body's shape
  {
    name: 'JSON array body',
    request: postCheckout({ body: [amountBody()] }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body',
  },
  {
    name: 'JSON null body',
    request: postCheckout({ body: 'null' }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body',
  },
  {
    name: 'malformed creator id',
    request: postCheckout({ body: amountBody({ creatorId: 'creator-a' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.creatorId',
  },
  {
    name: 'missing creator id',
    request: postCheckout({ body: amountBody({ creatorId: undefined }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.creatorId',
  },
  {
    name: 'empty customerRef',
    request: postCheckout({ body: amountBody({ customerRef: '' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.customerRef',
  },
  {
    name: 'customerRef of 256 characters',
    request: postCheckout({ body: amountBody({ customerRef: 'c'.repeat(256) }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.customerRef',
  },
  {
    name: 'customerRef with a NUL',
    request: postCheckout({ body: amountBody({ customerRef: 'a\u0000b' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.customerRef',
  },
  {
    name: 'unknown field',
    request: postCheckout({ body: amountBody({ discount: '100' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.discount',
  },
  {
    name: 'plan and amount together',
    request: postCheckout({ body: planBody({ amountMinor: '100', currency: 'USD' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.planId',
  },
  {
    name: 'neither plan nor amount',
    request: postCheckout({ body: { creatorId: CREATOR_A.id, customerRef: 'c' } }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.planId',
  },
  {
    name: 'amount without currency',
    request: postCheckout({ body: amountBody({ currency: undefined }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.currency',
  },
  {
    name: 'currency without amount',
    request: postCheckout({ body: amountBody({ amountMinor: undefined }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.amountMinor',
  },
  {
    name: 'malformed plan id',
    request: postCheckout({ body: planBody({ planId: 'gold' }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.planId',
  },
  {
    name: 'amount as a boolean',
    request: postCheckout({ body: amountBody({ amountMinor: true }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.amountMinor',
  },
  {
    name: 'currency as a number',
    request: postCheckout({ body: amountBody({ currency: 840 }) }),
    status: 400,
    code: 'FB_INVALID_FIELD',
    field: 'body.currency',
  },
  // values the catalog or the money rules refuse
  {
    name: 'unknown creator',
    request: postCheckout({ body: amountBody({ creatorId: UNKNOWN_CREATOR_ID }) }),
    status: 422,
    code: 'FB_UNKNOWN_CREATOR',
    field: 'body.creatorId',
  },
  {
    name: 'unknown currency',
    request: postCheckout({ body: amountBody({ currency: 'XYZ' }) }),
    status: 422,
    code: 'FB_UNKNOWN_CURRENCY',
    field: 'body.currency',
  },
  {
    name: 'lowercase currency',
    request: postCheckout({ body: amountBody({ currency: 'usd' }) }),
    status: 422,
    code: 'FB_UNKNOWN_CURRENCY',
    field: 'body.currency',
  },
  {
    name: 'zero amount',
    request: postCheckout({ body: amountBody({ amountMinor: '0' }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'negative amount (string)',
    request: postCheckout({ body: amountBody({ amountMinor: '-100' }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'negative amount (number)',
    request: postCheckout({ body: amountBody({ amountMinor: -100 }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'fractional amount (number)',
    request: postCheckout({ body: amountBody({ amountMinor: 19.99 }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'fractional amount (string)',
    request: postCheckout({ body: amountBody({ amountMinor: '19.99' }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'amount above 10^12',
    request: postCheckout({ body: amountBody({ amountMinor: '1000000000001' }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'amount above the safe integers',
    request: postCheckout({ body: amountBody({ amountMinor: 2 ** 60 }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'amount that is not digits',
    request: postCheckout({ body: amountBody({ amountMinor: '12abc' }) }),
    status: 422,
    code: 'FB_INVALID_AMOUNT',
    field: 'body.amountMinor',
  },
  {
    name: 'unknown plan',
    request: postCheckout({ body: planBody({ planId: '99999999-8888-4777-8666-555555555555' }) }),
    status: 422,
    code: 'FB_UNKNOWN_PLAN',
    field: 'body.planId',
  },
  {
    name: "another creator's plan",
    request: postCheckout({ body: planBody({ planId: PLAN_B_EUR }) }),
    status: 422,
    code: 'FB_UNKNOWN_PLAN',
    field: 'body.planId',
  },
];

describe('POST /v1/checkouts refuses bad input and records nothing', () => {
  for (const c of cases) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const response = await app.inject(c.request);
      assert.equal(response.statusCode, c.status, response.body);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      const body = response.json<ErrorBody>();
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(body.error.code, c.code);
      assert.equal(body.error.field, c.field);
      assert.ok(body.error.message.length > 10, 'the message says what to do');
      assert.doesNotMatch(response.body, /at .+\.ts:\d+|stack/i, 'no stack trace');
      if (c.status === 401) assert.equal(response.headers['www-authenticate'], 'Bearer');
      await assertNothingRecorded(stores);
    });
  }

  test('the plan used by the happy-path fixture is valid (the cases above differ from it only by their fault)', async () => {
    const response = await app.inject(
      postCheckout({ idempotencyKey: 'control', body: planBody({ planId: PLAN_A_USD }) }),
    );
    assert.equal(response.statusCode, 202, response.body);
  });
});
