// A year of renewals in seconds: the scheduler's clock jumps from one due time
// to the next, and every period of every subscription must be billed exactly
// once, on its exact date, at month ends, leap days and daylight-saving changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { periodStart } from '../../src/ledger/settlementSchedule.ts';
import { renewalFixture } from './renewalFixture.ts';

const END = new Date('2029-03-31T23:59:59.000Z');

test('a year of renewals: exact period dates, none billed twice, none skipped', async (t) => {
  const f = await renewalFixture(t);
  const subs = {
    monthly31: await f.subscribe('monthly', '2028-01-31T10:00:00Z'),
    monthly30: await f.subscribe('monthly', '2028-01-30T23:30:00Z', 1),
    yearlyLeapDay: await f.subscribe('yearly', '2028-02-29T12:00:00Z'),
    // 2028: the US springs forward Mar 12 and falls back Nov 5; the EU Mar 26 and Oct 29 (01:00 UTC).
    weeklyAcrossDst: await f.subscribe('weekly', '2028-03-09T01:30:00Z', 1),
    monthlyInDstHour: await f.subscribe('monthly', '2028-10-29T00:30:00Z'),
  };
  const scheduler = f.scheduler({ batchSize: 3 });

  let dueTimes = 0;
  for (;;) {
    const next = await f.ledger.pool.query<{ at: Date | null }>(
      `SELECT min(next_charge_at) AS at FROM settlement_schedules`,
    );
    const at = next.rows[0]!.at!;
    if (at > END) break;
    assert.ok(++dueTimes < 200, 'the schedule keeps moving forward');
    // A millisecond early, nothing is due; on time, everything due is claimed.
    f.clock.now = new Date(at.getTime() - 1);
    assert.equal((await scheduler.runOnce()).claimed.length, 0, `nothing is due before ${at.toISOString()}`);
    f.clock.now = at;
    const run = await scheduler.runOnce();
    assert.ok(run.claimed.length >= 1);
    assert.equal(run.sent, run.claimed.length);
    const settled = await f.settleQueued();
    assert.equal(settled.length, run.claimed.length);
  }

  const expectPeriods = async (sub: string, dates: string[]) => {
    const rows = await f.renewals(sub);
    assert.deepEqual(
      rows.map((r) => r.periodStart),
      dates,
    );
    assert.deepEqual(
      rows.map((r) => [r.period, r.attempt, r.status]),
      dates.map((_, i) => [i + 1, 1, 'charged']),
    );
    assert.deepEqual(
      rows.map((r) => r.claimedAt),
      dates,
      'each claimed exactly when due',
    );
    const events = await f.subscriptionEvents(sub);
    assert.deepEqual(
      events.map((e) => [e.type, e.period]),
      dates.map((_, i) => ['subscription.renewed', i + 1]),
    );
  };

  await expectPeriods(subs.monthly31, [
    '2028-02-29T10:00:00.000Z',
    '2028-03-31T10:00:00.000Z',
    '2028-04-30T10:00:00.000Z',
    '2028-05-31T10:00:00.000Z',
    '2028-06-30T10:00:00.000Z',
    '2028-07-31T10:00:00.000Z',
    '2028-08-31T10:00:00.000Z',
    '2028-09-30T10:00:00.000Z',
    '2028-10-31T10:00:00.000Z',
    '2028-11-30T10:00:00.000Z',
    '2028-12-31T10:00:00.000Z',
    '2029-01-31T10:00:00.000Z',
    '2029-02-28T10:00:00.000Z',
    '2029-03-31T10:00:00.000Z',
  ]);
  await expectPeriods(subs.monthly30, [
    '2028-02-29T23:30:00.000Z',
    '2028-03-30T23:30:00.000Z',
    '2028-04-30T23:30:00.000Z',
    '2028-05-30T23:30:00.000Z',
    '2028-06-30T23:30:00.000Z',
    '2028-07-30T23:30:00.000Z',
    '2028-08-30T23:30:00.000Z',
    '2028-09-30T23:30:00.000Z',
    '2028-10-30T23:30:00.000Z',
    '2028-11-30T23:30:00.000Z',
    '2028-12-30T23:30:00.000Z',
    '2029-01-30T23:30:00.000Z',
    '2029-02-28T23:30:00.000Z',
    '2029-03-30T23:30:00.000Z',
  ]);
  await expectPeriods(subs.yearlyLeapDay, ['2029-02-28T12:00:00.000Z']);
  await expectPeriods(subs.monthlyInDstHour, [
    '2028-11-29T00:30:00.000Z',
    '2028-12-29T00:30:00.000Z',
    '2029-01-29T00:30:00.000Z',
    '2029-02-28T00:30:00.000Z',
    '2029-03-29T00:30:00.000Z',
  ]);
  // Every Thursday at 01:30 UTC, from a week after the anchor to the end: 55 weeks.
  const weekly = Array.from({ length: 55 }, (_, i) =>
    periodStart(new Date('2028-03-09T01:30:00Z'), 'weekly', i + 1).toISOString(),
  );
  assert.equal(weekly[0], '2028-03-16T01:30:00.000Z');
  assert.ok(weekly.includes('2028-03-30T01:30:00.000Z') && weekly.includes('2028-11-09T01:30:00.000Z'));
  assert.equal(weekly.at(-1), '2029-03-29T01:30:00.000Z');
  await expectPeriods(subs.weeklyAcrossDst, weekly);

  // The ledger agrees: one charge per period plus the five first checkouts, and every schedule is on its next period.
  const charges = await f.ledger.pool.query<{ n: number }>(`SELECT count(*)::int n FROM charges`);
  assert.equal(charges.rows[0]!.n, 5 + 14 + 14 + 1 + 5 + 55);
  assert.deepEqual(await f.subscription(subs.yearlyLeapDay), {
    status: 'active',
    period: 2,
    attempt: 1,
    nextChargeAt: '2030-02-28T12:00:00.000Z',
    pending: null,
  });
  assert.equal((await f.queue.stats()).visible, 0);
});
