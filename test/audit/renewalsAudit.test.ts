// The renewals audit against a real ledger: it passes a correctly billed
// subscription and catches each way renewals can go wrong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditRenewals } from '../../src/audit/renewalsAudit.ts';
import { plusDays, renewalFixture } from '../scheduler/renewalFixture.ts';

const ANCHOR = '2027-03-02T10:00:00Z';

async function billedWeekly(t: Parameters<typeof renewalFixture>[0]) {
  const f = await renewalFixture(t, 1);
  const sub = await f.subscribe('weekly', ANCHOR);
  f.clock.now = plusDays(ANCHOR, 15); // periods 1 (day 7) and 2 (day 14) have started
  const scheduler = f.scheduler();
  for (let i = 0; i < 3; i++) {
    await scheduler.runOnce();
    await f.settleQueued();
  }
  return { f, sub };
}

test('a weekly subscription billed for exactly the periods that started passes', async (t) => {
  const { f } = await billedWeekly(t);
  const v = await auditRenewals(f.ledgerUrl, f.clock.now);
  assert.deepEqual(v.violations, []);
  assert.equal(v.subscriptions, 1);
  assert.equal(v.renewalsCharged, 2);
  assert.equal(v.periodsBilledTwice, 0);
});

test('a period that started but was not billed is caught (due and unbilled, periods missing)', async (t) => {
  const { f } = await billedWeekly(t);
  const v = await auditRenewals(f.ledgerUrl, plusDays(ANCHOR, 22)); // period 3 started on day 21
  assert.equal(v.dueUnbilled, 1);
  assert.equal(v.periodsMissing, 1);
  assert.match(v.violations.join('\n'), /billed 2 periods, 3 had started/);
});

test('a period charged twice is caught', async (t) => {
  const { f, sub } = await billedWeekly(t);
  // Make period 2's charge look like a second attempt at period 1.
  await f.ledger.pool.query(
    `UPDATE renewal_attempts SET period = 1, attempt = 2 WHERE subscription_id = $1 AND period = 2`,
    [sub],
  );
  const v = await auditRenewals(f.ledgerUrl, f.clock.now);
  assert.equal(v.periodsBilledTwice, 1);
  assert.match(v.violations.join('\n'), /period 1 charged 2 times/);
});

test('a renewal charged at a price other than the plan is caught', async (t) => {
  const { f, sub } = await billedWeekly(t);
  await f.ledger.pool.query(
    `UPDATE checkouts SET amount_minor = amount_minor + 1
      WHERE id = (SELECT checkout_id FROM renewal_attempts WHERE subscription_id = $1 AND period = 1)`,
    [sub],
  );
  const v = await auditRenewals(f.ledgerUrl, f.clock.now);
  assert.equal(v.wrongAmount, 1);
  assert.match(v.violations.join('\n'), /the plan says/);
});

test('an attempt stuck in flight is caught', async (t) => {
  const f = await renewalFixture(t, 1);
  await f.subscribe('monthly', ANCHOR);
  f.clock.now = plusDays(ANCHOR, 32);
  await f.scheduler().runOnce(); // claimed and queued, never settled
  const v = await auditRenewals(f.ledgerUrl, f.clock.now);
  assert.equal(v.inFlight, 1);
  assert.match(v.violations.join('\n'), /still in flight/);
});
