import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CheckoutMessageSchema } from '../../src/checkout/checkoutMessage.ts';
import { renewalCheckoutId } from '../../src/scheduler/index.ts';

test('a renewal checkout id is a v5 UUID of (subscription, period, attempt), stable and distinct', () => {
  const sub = randomUUID();
  const id = renewalCheckoutId(sub, 3, 1);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(renewalCheckoutId(sub.toUpperCase(), 3, 1), id);
  const ids = new Set<string>();
  for (let period = 1; period <= 20; period++)
    for (let attempt = 1; attempt <= 8; attempt++) ids.add(renewalCheckoutId(sub, period, attempt));
  assert.equal(ids.size, 160);
  assert.notEqual(renewalCheckoutId(randomUUID(), 3, 1), id);
  assert.throws(() => renewalCheckoutId(sub, 0, 1), RangeError);
});

test('the v1 checkout message still accepts first checkouts and adds an optional renewal', () => {
  const base = {
    v: 1,
    checkoutId: randomUUID(),
    creatorId: randomUUID(),
    customerRef: 'cus_1',
    planId: randomUUID(),
    amountMinor: '999',
    currency: 'USD',
    acceptedAt: '2027-01-31T10:00:00.000Z',
  };
  assert.ok(CheckoutMessageSchema.safeParse(base).success);
  assert.ok(CheckoutMessageSchema.safeParse({ ...base, planId: null }).success);
  const renewal = { subscriptionId: randomUUID(), period: 2, attempt: 1 };
  assert.ok(CheckoutMessageSchema.safeParse({ ...base, renewal }).success);
  assert.equal(CheckoutMessageSchema.safeParse({ ...base, planId: null, renewal }).success, false);
  assert.equal(
    CheckoutMessageSchema.safeParse({ ...base, renewal: { ...renewal, period: 0 } }).success,
    false,
  );
  assert.equal(
    CheckoutMessageSchema.safeParse({ ...base, renewal: { ...renewal, extra: 1 } }).success,
    false,
  );
});
