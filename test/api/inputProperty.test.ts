// Property: whatever a client sends (random JSON, random strings where ids,
// amounts and currencies go, random headers and content types), the API never
// answers 5xx, every 4xx has the { error: { code, message, field? } } shape,
// and a rejected request leaves no intake row and no queued message.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/api/index.ts';
import { ERROR_CODES } from '../../src/errors/index.ts';
import { SUPPORTED_CURRENCIES } from '../../src/money/index.ts';
import { CREATOR_A, CREATOR_B, PLAN_A_JPY, PLAN_A_USD, PLAN_B_EUR, testCatalog } from './apiFixture.ts';
import { openStores, type TestStores } from './apiStores.ts';

let stores: TestStores;
let app: FastifyInstance;
let db: pg.Client;

before(async () => {
  stores = await openStores();
  app = buildApp({ catalog: testCatalog(), queue: stores.queue, intake: stores.intake, loadShedding: false });
  db = new pg.Client({ connectionString: stores.databaseUrl });
  // The file's Postgres server may be destroyed before this hook's after() runs.
  db.on('error', () => {});
  await db.connect();
});
after(async () => {
  await db.end();
  await app.close();
  await stores.close();
});

async function counts(): Promise<{ intake: number; messages: number }> {
  const { rows } = await db.query<{ intake: string; messages: string }>(
    'SELECT (SELECT count(*) FROM checkout_intake) AS intake, (SELECT count(*) FROM queue_message) AS messages',
  );
  return { intake: Number(rows[0]?.intake), messages: Number(rows[0]?.messages) };
}

/** Mostly-right values (5 to 1 against each wrong kind), so both the 202 and the 4xx paths are exercised. */
const likely = (good: fc.Arbitrary<unknown>, ...bad: fc.Arbitrary<unknown>[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: good, weight: 5 * bad.length },
    ...bad.map((arbitrary) => ({ arbitrary, weight: 1 })),
  );

const anyString = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));

const fields = {
  creatorId: likely(
    fc.constantFrom(CREATOR_A.id, CREATOR_A.id.toUpperCase()),
    fc.constant(CREATOR_B.id),
    fc.uuid(),
    anyString,
    fc.jsonValue(),
  ),
  customerRef: likely(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.jsonValue(),
  ),
  planId: likely(
    fc.constantFrom(PLAN_A_USD, PLAN_A_JPY),
    fc.constant(PLAN_B_EUR),
    fc.uuid(),
    anyString,
    fc.jsonValue(),
  ),
  amountMinor: likely(
    fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 12n }).map(String), fc.integer({ min: 1, max: 1_000_000 })),
    fc.integer(),
    fc.double(),
    fc.bigInt().map(String),
    fc.stringMatching(/^[-+ ]?[0-9]{0,22}(\.[0-9]{0,3})?(e[0-9])?$/),
    anyString,
    fc.jsonValue(),
  ),
  currency: likely(fc.constantFrom(...SUPPORTED_CURRENCIES), fc.string({ maxLength: 4 }), fc.jsonValue()),
};

const extraField = fc.oneof(
  { arbitrary: fc.constant({}), weight: 9 },
  { arbitrary: fc.dictionary(anyString, fc.jsonValue(), { minKeys: 1, maxKeys: 1 }), weight: 1 },
);

const bodyObject = fc
  .tuple(
    fc.oneof(
      fc.record({ creatorId: fields.creatorId, customerRef: fields.customerRef, planId: fields.planId }),
      fc.record({
        creatorId: fields.creatorId,
        customerRef: fields.customerRef,
        amountMinor: fields.amountMinor,
        currency: fields.currency,
      }),
      fc.record(fields, { requiredKeys: [] }),
    ),
    extraField,
  )
  .map(([body, extra]) => ({ ...body, ...extra }));

const payload = fc.oneof(
  { arbitrary: bodyObject.map((b) => JSON.stringify(b)), weight: 6 },
  { arbitrary: fc.json(), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
);

const headerValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary-ascii', maxLength: 20 }),
);

const postRequest = fc
  .record({
    authorization: likely(
      fc.constantFrom(`Bearer ${CREATOR_A.apiKey}`, `bearer  ${CREATOR_A.apiKey}`),
      fc.constant(`Bearer ${CREATOR_B.apiKey}`),
      headerValue,
      fc.constant(undefined),
    ),
    idempotencyKey: likely(fc.uuid(), headerValue, fc.constant(undefined), fc.constant('fixed-key')),
    contentType: likely(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON'),
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '*/*',
        'application/json-patch+json',
      ),
      headerValue,
      fc.constant(undefined),
    ),
    payload,
  })
  .map(({ authorization, idempotencyKey, contentType, payload: body }): InjectOptions => {
    const headers: Record<string, string> = {};
    if (typeof authorization === 'string') headers.authorization = authorization;
    if (typeof idempotencyKey === 'string') headers['idempotency-key'] = idempotencyKey;
    if (typeof contentType === 'string') headers['content-type'] = contentType;
    return {
      method: 'POST',
      url: '/v1/checkouts',
      headers,
      ...(body === undefined ? {} : { payload: body }),
    };
  });

const getRequest = fc
  .record({
    id: fc.oneof(
      fc.uuid(),
      anyString.map(encodeURIComponent),
      fc.stringMatching(/^[0-9a-zA-Z%._~-]{0,120}$/),
    ),
    authorization: likely(fc.constant(`Bearer ${CREATOR_A.apiKey}`), headerValue, fc.constant(undefined)),
  })
  .map(({ id, authorization }): InjectOptions => ({
    method: 'GET',
    url: `/v1/checkouts/${id}`,
    headers: typeof authorization === 'string' ? { authorization } : {},
  }));

test('random requests never get a 5xx, and every refusal has the error shape and records nothing', async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ arbitrary: postRequest, weight: 4 }, { arbitrary: getRequest, weight: 1 }),
      async (request) => {
        const before = await counts();
        const response = await app.inject(request);
        const where = `${response.statusCode} ${response.body}`;
        assert.ok(response.statusCode < 500, where);
        const after = await counts();
        assert.equal(after.messages, after.intake, 'one queued message per intake row');
        if (response.statusCode === 202) {
          accepted += 1;
          assert.ok(after.intake - before.intake <= 1, where);
          return;
        }
        if (response.statusCode === 200) return;
        assert.ok(response.statusCode >= 400, where);
        assert.deepEqual(after, before, `a refused request must record nothing: ${where}`);
        const body = response.json<{ error: Record<string, unknown> }>();
        assert.deepEqual(Object.keys(body), ['error'], where);
        const { code, message, field, ...rest } = body.error;
        assert.deepEqual(rest, {}, where);
        assert.ok(typeof code === 'string' && code in ERROR_CODES, where);
        assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES], response.statusCode, where);
        assert.ok(typeof message === 'string' && message.length > 0, where);
        assert.ok(field === undefined || typeof field === 'string', where);
      },
    ),
    { numRuns: Number(process.env.FC_NUM_RUNS ?? 300) },
  );
  assert.ok(accepted > 10, `the generators must reach the 202 path often enough (got ${accepted})`);
});
