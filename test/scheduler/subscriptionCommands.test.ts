// Cancel and pause stop future periods; the attempt already in flight settles.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { periodStart } from '../../src/ledger/settlementSchedule.ts';
import {
  cancelSubscription,
  pauseSubscription,
  renewalCheckoutId,
  resumeSubscription,
} from '../../src/scheduler/index.ts';
import { decline, plusDays, renewalFixture } from './renewalFixture.ts';

test('cancel stops future periods, and the renewal already in flight still settles', async (t) => {
  const f = await renewalFixture(t);
  const anchor = new Date('2027-08-31T12:00:00Z');
  const sub = await f.subscribe('monthly', anchor.toISOString());
  const other = await f.subscribe('monthly', anchor.toISOString(), 1);
  const scheduler = f.scheduler();
  f.clock.now = periodStart(anchor, 'monthly', 1);
  assert.equal((await scheduler.runOnce()).claimed.length, 2);

  const canceled = await cancelSubscription(f.ledger, sub);
  const inFlight = renewalCheckoutId(sub, 1, 1);
  assert.deepEqual(canceled, {
    subscriptionId: sub,
    status: 'canceled',
    changed: true,
    inFlightCheckoutId: inFlight,
  });
  assert.equal((await cancelSubscription(f.ledger, sub)).changed, false, 'idempotent');

  assert.equal((await f.settleQueued()).length, 2);
  assert.deepEqual(await f.subscription(sub), {
    status: 'canceled',
    period: 2,
    attempt: 1,
    nextChargeAt: periodStart(anchor, 'monthly', 2).toISOString(),
    pending: null,
  });
  assert.deepEqual(
    (await f.subscriptionEvents(sub)).map((e) => e.type),
    ['subscription.canceled', 'subscription.renewed'],
  );
  // A year on: the canceled subscription was never claimed again; the other one renewed every month.
  for (let p = 2; p <= 13; p++) {
    f.clock.now = periodStart(anchor, 'monthly', p);
    const run = await scheduler.runOnce();
    assert.deepEqual(
      run.claimed.map((c) => c.subscriptionId),
      [other],
    );
    assert.equal(run.stats.dueBacklog, 0, 'a canceled subscription is not backlog');
    await f.settleQueued();
  }
  assert.deepEqual(
    (await f.renewals(sub)).map((r) => [r.period, r.status]),
    [[1, 'charged']],
  );
  assert.equal((await f.renewals(other)).length, 13);
});

test('pause stops future periods without losing the one in flight; resume waives the paused periods', async (t) => {
  const f = await renewalFixture(t);
  const anchor = new Date('2027-03-04T07:00:00Z');
  const sub = await f.subscribe('weekly', anchor.toISOString());
  const scheduler = f.scheduler();
  f.clock.now = periodStart(anchor, 'weekly', 1);
  assert.equal((await scheduler.runOnce()).claimed.length, 1);
  const paused = await pauseSubscription(f.ledger, sub);
  assert.equal(paused.inFlightCheckoutId, renewalCheckoutId(sub, 1, 1));
  assert.equal((await f.settleQueued()).length, 1);
  assert.equal((await f.subscription(sub)).status, 'paused');

  for (const week of [2, 3, 4]) {
    f.clock.now = periodStart(anchor, 'weekly', week);
    assert.equal((await scheduler.runOnce()).claimed.length, 0, `paused: week ${week} not billed`);
  }
  const resumeAt = plusDays(periodStart(anchor, 'weekly', 4), 0.5);
  const resumed = await resumeSubscription(f.ledger, sub, resumeAt);
  assert.deepEqual([resumed.status, resumed.nextPeriod, resumed.waivedPeriods], ['active', 5, 3]);
  f.clock.now = resumeAt;
  assert.equal((await scheduler.runOnce()).claimed.length, 0, 'the next period has not started yet');
  f.clock.now = periodStart(anchor, 'weekly', 5);
  assert.deepEqual(
    (await scheduler.runOnce()).claimed.map((c) => c.period),
    [5],
  );
  await f.settleQueued();
  assert.deepEqual(
    (await f.renewals(sub)).map((r) => [r.period, r.status]),
    [
      [1, 'charged'],
      [5, 'charged'],
    ],
  );
  assert.deepEqual(
    (await f.subscriptionEvents(sub)).map((e) => e.type),
    ['subscription.paused', 'subscription.renewed', 'subscription.resumed', 'subscription.renewed'],
  );
});

test('a period still owed when paused is billed first on resume (nothing is forgiven by pausing)', async (t) => {
  const f = await renewalFixture(t);
  const anchor = new Date('2027-06-30T20:00:00Z');
  const sub = await f.subscribe('monthly', anchor.toISOString());
  const scheduler = f.scheduler();
  f.clock.now = periodStart(anchor, 'monthly', 1);
  await scheduler.runOnce();
  await pauseSubscription(f.ledger, sub);
  await f.settleQueued(decline); // the in-flight attempt settles as declined
  assert.deepEqual([(await f.subscription(sub)).attempt, (await f.subscription(sub)).status], [2, 'paused']);
  f.clock.now = plusDays(f.clock.now, 45);
  assert.equal((await scheduler.runOnce()).claimed.length, 0);
  const resumed = await resumeSubscription(f.ledger, sub, f.clock.now);
  assert.deepEqual([resumed.status, resumed.nextPeriod, resumed.waivedPeriods], ['active', 1, 0]);
  const run = await scheduler.runOnce();
  assert.deepEqual(
    run.claimed.map((c) => [c.period, c.attempt]),
    [[1, 2]],
  );
  await f.settleQueued();
  assert.equal((await f.subscription(sub)).period, 2);
  await assert.rejects(cancelSubscription(f.ledger, '00000000-0000-4000-8000-000000000000'), {
    code: 'FB_NOT_FOUND',
  });
});
