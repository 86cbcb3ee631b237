// Declined renewals: the retry schedule, past due, restoring, catching up
// without skipping a period.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { periodStart } from '../../src/ledger/settlementSchedule.ts';
import { renewalCheckoutId } from '../../src/scheduler/index.ts';
import { capture, decline, plusDays, renewalFixture, type RenewalFixture } from './renewalFixture.ts';

const DAY = 24 * 3600 * 1000;

/** Claims at the schedule's next_charge_at (asserting nothing is claimed a minute before), then settles. */
async function attemptWhenDue(
  f: RenewalFixture,
  scheduler: ReturnType<RenewalFixture['scheduler']>,
  sub: string,
  decide = decline,
) {
  const due = new Date((await f.subscription(sub)).nextChargeAt);
  f.clock.now = new Date(due.getTime() - 60_000);
  assert.equal((await scheduler.runOnce()).claimed.length, 0, 'not before it is due');
  f.clock.now = due;
  const run = await scheduler.runOnce();
  assert.equal(run.claimed.length, 1);
  assert.equal((await f.settleQueued(decide)).length, 1);
  return run.claimed[0]!;
}

test('a declined renewal is retried 1, 3, 5 and 7 days later, then past due, then restored by a success', async (t) => {
  const f = await renewalFixture(t);
  const sub = await f.subscribe('monthly', '2027-01-15T08:00:00Z');
  const scheduler = f.scheduler();
  const due = new Date('2027-02-15T08:00:00.000Z');

  const claims: Date[] = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    const claimed = await attemptWhenDue(f, scheduler, sub);
    assert.deepEqual([claimed.period, claimed.attempt], [1, attempt]);
    assert.equal(claimed.checkoutId, renewalCheckoutId(sub, 1, attempt), 'a new checkout per attempt');
    claims.push(claimed.dueAt);
    assert.equal((await f.subscription(sub)).status, attempt < 5 ? 'active' : 'past_due');
  }
  assert.deepEqual(
    claims.map((c) => (c.getTime() - due.getTime()) / DAY),
    [0, 1, 3, 5, 7],
  );
  const events = await f.subscriptionEvents(sub);
  assert.deepEqual(
    events.map((e) => [e.type, e.attempt ?? e.attempts]),
    [
      ['subscription.renewal_declined', 1],
      ['subscription.renewal_declined', 2],
      ['subscription.renewal_declined', 3],
      ['subscription.renewal_declined', 4],
      ['subscription.renewal_declined', 5],
      ['subscription.past_due', 5],
    ],
  );
  assert.equal(events[4]!.nextAttemptAt, plusDays(due, 14).toISOString());
  assert.equal(events[5]!.period, 1);
  assert.equal((await scheduler.runOnce()).stats.pastDue, 1);

  // Past due: weekly retries of the same period; the next period (Mar 15) is not billed over it.
  const sixth = await attemptWhenDue(f, scheduler, sub);
  assert.deepEqual(
    [sixth.period, sixth.attempt, sixth.dueAt.toISOString()],
    [1, 6, plusDays(due, 14).toISOString()],
  );
  assert.equal((await f.subscription(sub)).status, 'past_due');
  const seventh = await attemptWhenDue(f, scheduler, sub, capture);
  assert.deepEqual([seventh.period, seventh.attempt], [1, 7]);

  assert.deepEqual(await f.subscription(sub), {
    status: 'active',
    period: 2,
    attempt: 1,
    nextChargeAt: '2027-03-15T08:00:00.000Z',
    pending: null,
  });
  const after = (await f.subscriptionEvents(sub)).slice(6).map((e) => e.type);
  assert.deepEqual(after, ['subscription.renewal_declined', 'subscription.renewed', 'subscription.restored']);
  await attemptWhenDue(f, scheduler, sub, capture);
  const rows = await f.renewals(sub);
  assert.deepEqual(
    rows.map((r) => [r.period, r.attempt, r.status]),
    [
      [1, 1, 'declined'],
      [1, 2, 'declined'],
      [1, 3, 'declined'],
      [1, 4, 'declined'],
      [1, 5, 'declined'],
      [1, 6, 'declined'],
      [1, 7, 'charged'],
      [2, 1, 'charged'],
    ],
  );
  assert.equal((await scheduler.runOnce()).stats.pastDue, 0);
});

test('after a long past-due spell, the periods it spanned are billed one by one: none skipped', async (t) => {
  const f = await renewalFixture(t);
  const anchor = new Date('2027-10-28T18:00:00Z');
  const sub = await f.subscribe('weekly', anchor.toISOString());
  const scheduler = f.scheduler();
  for (let attempt = 1; attempt <= 6; attempt++) await attemptWhenDue(f, scheduler, sub);
  // Attempt 7, 3 weeks after period 1 began, succeeds; periods 2-4 have started meanwhile.
  await attemptWhenDue(f, scheduler, sub, capture);
  const now = f.clock.now;
  assert.equal(now.toISOString(), periodStart(anchor, 'weekly', 4).toISOString());
  const caughtUp: number[] = [];
  for (let i = 0; i < 5; i++) {
    const run = await scheduler.runOnce();
    caughtUp.push(...run.claimed.map((c) => c.period));
    await f.settleQueued();
  }
  assert.deepEqual(
    caughtUp,
    [2, 3, 4],
    'one claim per run: a subscription has one attempt in flight at a time',
  );
  assert.deepEqual(
    (await f.renewals(sub)).filter((r) => r.status === 'charged').map((r) => [r.period, r.periodStart]),
    [1, 2, 3, 4].map((p) => [p, periodStart(anchor, 'weekly', p).toISOString()]),
  );
  assert.equal((await f.subscription(sub)).nextChargeAt, periodStart(anchor, 'weekly', 5).toISOString());
});
