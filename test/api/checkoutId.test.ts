import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECKOUT_ID_NAMESPACE, checkoutIdFor, uuidV5 } from '../../src/api/checkoutId.ts';
import { requestHashOf } from '../../src/api/checkoutRequest.ts';
import { CREATOR_A, CREATOR_B } from './apiFixture.ts';

test('uuidV5 matches the RFC 9562 example (DNS namespace, www.example.com)', () => {
  assert.equal(
    uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
    '2ed6657d-e927-568b-95e1-2665a8aea6a2',
  );
});

test('the checkout id is a v5 UUID fixed by (creator, idempotency key)', () => {
  const id = checkoutIdFor(CREATOR_A.id, 'key-1');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(checkoutIdFor(CREATOR_A.id, 'key-1'), id);
  assert.equal(checkoutIdFor(CREATOR_A.id.toUpperCase(), 'key-1'), id, 'creator id case does not matter');
  assert.notEqual(checkoutIdFor(CREATOR_B.id, 'key-1'), id, 'another creator with the same key');
  assert.notEqual(checkoutIdFor(CREATOR_A.id, 'key-2'), id);
  assert.equal(id, uuidV5(CHECKOUT_ID_NAMESPACE, `${CREATOR_A.id}\nkey-1`));
});

test('the request hash normalises ids to lowercase and separates plan from amount requests', () => {
  const base = {
    creatorId: CREATOR_A.id,
    customerRef: 'c',
    planId: null,
    amountMinor: '100',
    currency: 'USD',
  };
  assert.equal(requestHashOf(base), requestHashOf({ ...base, creatorId: CREATOR_A.id.toUpperCase() }));
  assert.notEqual(requestHashOf(base), requestHashOf({ ...base, amountMinor: '101' }));
  assert.notEqual(requestHashOf(base), requestHashOf({ ...base, customerRef: 'd' }));
  assert.match(requestHashOf(base), /^[0-9a-f]{64}$/);
});
