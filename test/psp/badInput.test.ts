// Bad input to POST /v1/captures: every case a stable 4xx code, nothing
// recorded, and no input at all that makes the sandbox answer 5xx.

// node:test's describe/it return promises that the runner itself awaits.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { captureBody, errorCode, errorJson, postCapture, sandboxApp, withDataDir } from './helpers.ts';

describe('bad input', () => {
  const cases: {
    name: string;
    key?: string;
    body?: unknown;
    raw?: { payload: string; type: string };
    code: string;
    status: number;
  }[] = [
    { name: 'no idempotency key', body: captureBody(), code: 'PSP_IDEMPOTENCY_KEY_MISSING', status: 400 },
    {
      name: 'key too long',
      key: 'k'.repeat(256),
      body: captureBody(),
      code: 'PSP_IDEMPOTENCY_KEY_INVALID',
      status: 400,
    },
    {
      name: 'key with a space',
      key: 'a b',
      body: captureBody(),
      code: 'PSP_IDEMPOTENCY_KEY_INVALID',
      status: 400,
    },
    {
      name: 'amount as a number',
      body: { ...captureBody(), amountMinor: 1299 },
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'zero amount',
      body: captureBody({ amountMinor: '0' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'negative amount',
      body: captureBody({ amountMinor: '-5' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'fractional amount',
      body: captureBody({ amountMinor: '12.5' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'leading zero',
      body: captureBody({ amountMinor: '0100' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'amount above max',
      body: captureBody({ amountMinor: '1000000000001' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'unknown currency',
      body: captureBody({ currency: 'XXX' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'checkoutId not a uuid',
      body: captureBody({ checkoutId: 'abc' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    {
      name: 'empty customerRef',
      body: captureBody({ customerRef: '' }),
      code: 'PSP_INVALID_REQUEST',
      status: 400,
    },
    { name: 'unknown field', body: { ...captureBody(), tip: '1' }, code: 'PSP_INVALID_REQUEST', status: 400 },
    { name: 'array body', body: [1, 2], code: 'PSP_INVALID_REQUEST', status: 400 },
    { name: 'no body', code: 'PSP_INVALID_REQUEST', status: 400 },
    {
      name: 'malformed JSON',
      raw: { payload: '{"checkoutId":', type: 'application/json' },
      code: 'PSP_MALFORMED_JSON',
      status: 400,
    },
    {
      name: 'not JSON',
      raw: { payload: 'amount=5', type: 'text/plain' },
      code: 'PSP_UNSUPPORTED_MEDIA_TYPE',
      status: 415,
    },
    {
      name: 'huge body',
      raw: { payload: JSON.stringify({ x: 'y'.repeat(20_000) }), type: 'application/json' },
      code: 'PSP_BODY_TOO_LARGE',
      status: 413,
    },
  ];

  it('answers each with its stable code and records nothing', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      for (const [i, c] of cases.entries()) {
        const key = c.key ?? (c.name === 'no idempotency key' ? undefined : `bad-${i}`);
        const res = c.raw
          ? await app.inject({
              method: 'POST',
              url: '/v1/captures',
              headers: { 'idempotency-key': key ?? 'x', 'content-type': c.raw.type },
              payload: c.raw.payload,
            })
          : await postCapture(app, key, c.body);
        assert.equal(res.statusCode, c.status, `${c.name}: ${res.body}`);
        assert.equal(errorCode(res), c.code, c.name);
      }
      assert.equal(
        errorCode(await postCapture(app, 'k', { ...captureBody(), amountMinor: 1 })),
        'PSP_INVALID_REQUEST',
      );
      const field = errorJson(await postCapture(app, 'k', captureBody({ currency: 'XXX' }))).field;
      assert.equal(field, 'body.currency');
      assert.equal((await readCaptureRecord(dataDir)).length, 0);
      await app.close();
    }));

  it('never answers arbitrary input with a 5xx', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const valid = captureBody();
      const field = fc.oneof(
        fc.string(),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.object(),
      );
      const body = fc.oneof(
        fc.record(
          {
            checkoutId: fc.oneof(fc.constant(valid.checkoutId), fc.uuid(), field),
            creatorId: fc.oneof(fc.constant(valid.creatorId), field),
            customerRef: fc.oneof(fc.constant('c'), field),
            amountMinor: fc.oneof(fc.bigInt({ min: -10n, max: 10n ** 14n }).map(String), field),
            currency: fc.oneof(fc.constantFrom('USD', 'JPY', 'usd', ''), field),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      );
      await fc.assert(
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 300 }), body, async (key, b) => {
          const res = await app.inject({
            method: 'POST',
            url: '/v1/captures',
            headers: {
              'idempotency-key': key.replace(/[^\x21-\x7e]/g, '') || 'k',
              'content-type': 'application/json',
            },
            payload: JSON.stringify(b),
          });
          assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
        }),
        { numRuns: 300 },
      );
      await app.close();
    }));
});
