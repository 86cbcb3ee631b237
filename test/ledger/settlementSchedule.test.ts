// Period and retry arithmetic: exact dates at month ends, leap days and
// daylight-saving changes, and properties that hold for every anchor.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  exhaustsRetries,
  firstPeriodFrom,
  nextAttemptAt,
  periodStart,
  RENEWAL_ATTEMPTS_BEFORE_PAST_DUE,
  type Cadence,
} from '../../src/ledger/settlementSchedule.ts';

const DAY = 24 * 3600 * 1000;

function periods(anchor: string, cadence: Cadence, count: number): string[] {
  return Array.from({ length: count }, (_, i) => periodStart(new Date(anchor), cadence, i + 1).toISOString());
}

test('monthly on the 31st clamps to short months and never drifts', () => {
  assert.deepEqual(periods('2027-01-31T10:00:00.000Z', 'monthly', 14), [
    '2027-02-28T10:00:00.000Z',
    '2027-03-31T10:00:00.000Z',
    '2027-04-30T10:00:00.000Z',
    '2027-05-31T10:00:00.000Z',
    '2027-06-30T10:00:00.000Z',
    '2027-07-31T10:00:00.000Z',
    '2027-08-31T10:00:00.000Z',
    '2027-09-30T10:00:00.000Z',
    '2027-10-31T10:00:00.000Z',
    '2027-11-30T10:00:00.000Z',
    '2027-12-31T10:00:00.000Z',
    '2028-01-31T10:00:00.000Z',
    '2028-02-29T10:00:00.000Z',
    '2028-03-31T10:00:00.000Z',
  ]);
});

test('monthly on the 30th: February takes its last day, March goes back to the 30th', () => {
  assert.deepEqual(periods('2027-12-30T23:59:59.999Z', 'monthly', 4), [
    '2028-01-30T23:59:59.999Z',
    '2028-02-29T23:59:59.999Z',
    '2028-03-30T23:59:59.999Z',
    '2028-04-30T23:59:59.999Z',
  ]);
});

test('yearly on Feb 29 bills Feb 28 in common years and Feb 29 in leap years', () => {
  assert.deepEqual(periods('2028-02-29T12:00:00.000Z', 'yearly', 5), [
    '2029-02-28T12:00:00.000Z',
    '2030-02-28T12:00:00.000Z',
    '2031-02-28T12:00:00.000Z',
    '2032-02-29T12:00:00.000Z',
    '2033-02-28T12:00:00.000Z',
  ]);
  // 2100 is not a leap year.
  assert.equal(
    periodStart(new Date('2096-02-29T00:00:00Z'), 'yearly', 4).toISOString(),
    '2100-02-28T00:00:00.000Z',
  );
});

test('weekly across the US and EU daylight-saving changes keeps the UTC time of day', () => {
  // 2026: US springs forward Mar 8, EU Mar 29; EU falls back Oct 25, US Nov 1.
  const anchor = '2026-03-05T15:00:00.000Z';
  assert.deepEqual(periods(anchor, 'weekly', 5), [
    '2026-03-12T15:00:00.000Z',
    '2026-03-19T15:00:00.000Z',
    '2026-03-26T15:00:00.000Z',
    '2026-04-02T15:00:00.000Z',
    '2026-04-09T15:00:00.000Z',
  ]);
  const all = periods(anchor, 'weekly', 52).map((p) => new Date(p));
  for (const [i, p] of all.entries()) {
    assert.equal(p.getUTCHours(), 15);
    assert.equal(p.getUTCDay(), 4, 'every period starts on a Thursday');
    if (i > 0) assert.equal(p.getTime() - all[i - 1]!.getTime(), 7 * DAY);
  }
});

test('monthly anchored in the hour a clock changes stays on that UTC instant', () => {
  // 2026-03-29 01:30 UTC is inside the EU's spring-forward hour (01:00-02:00 UTC).
  assert.deepEqual(periods('2026-03-29T01:30:00.000Z', 'monthly', 8), [
    '2026-04-29T01:30:00.000Z',
    '2026-05-29T01:30:00.000Z',
    '2026-06-29T01:30:00.000Z',
    '2026-07-29T01:30:00.000Z',
    '2026-08-29T01:30:00.000Z',
    '2026-09-29T01:30:00.000Z',
    '2026-10-29T01:30:00.000Z',
    '2026-11-29T01:30:00.000Z',
  ]);
});

const anchorArb = fc.date({
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('2200-12-31T23:59:59Z'),
  noInvalidDate: true,
});
const cadenceArb = fc.constantFrom<Cadence>('weekly', 'monthly', 'yearly');

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

test('property: every period lands in its own calendar slot, none skipped or repeated', () => {
  fc.assert(
    fc.property(anchorArb, cadenceArb, fc.integer({ min: 0, max: 1_200 }), (anchor, cadence, n) => {
      const p = periodStart(anchor, cadence, n);
      const next = periodStart(anchor, cadence, n + 1);
      assert.ok(next > p, 'strictly increasing');
      // Same time of day as the anchor, in UTC, always.
      assert.equal(p.getTime() % DAY, ((anchor.getTime() % DAY) + DAY) % DAY);
      if (cadence === 'weekly') {
        assert.equal(p.getTime() - anchor.getTime(), n * 7 * DAY);
        return;
      }
      const months = cadence === 'monthly' ? n : 12 * n;
      const total = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
      const year = Math.floor(total / 12);
      const month = total % 12;
      // Period n is in the n-th month (or year) after the anchor's: one per slot.
      assert.equal(p.getUTCFullYear(), year);
      assert.equal(p.getUTCMonth(), month);
      assert.equal(p.getUTCDate(), Math.min(anchor.getUTCDate(), daysInMonth(year, month)));
    }),
    { numRuns: 2_000 },
  );
});

test('property: firstPeriodFrom finds the first period starting at or after a time', () => {
  fc.assert(
    fc.property(anchorArb, cadenceArb, fc.integer({ min: 0, max: 40 * 366 }), (anchor, cadence, days) => {
      const at = new Date(anchor.getTime() + days * DAY + 3_600_000);
      const p = firstPeriodFrom(anchor, cadence, at);
      assert.ok(p >= 1);
      assert.ok(periodStart(anchor, cadence, p) >= at);
      if (p > 1) assert.ok(periodStart(anchor, cadence, p - 1) < at);
    }),
    { numRuns: 1_000 },
  );
});

test('retry schedule: 1, 2, 2, 2 days after each declined attempt, then weekly while past due', () => {
  const first = new Date('2027-03-01T09:00:00.000Z');
  const claims = [first];
  for (let attempt = 1; attempt <= 6; attempt++) claims.push(nextAttemptAt(claims.at(-1)!, attempt));
  assert.deepEqual(
    claims.map((c) => (c.getTime() - first.getTime()) / DAY),
    [0, 1, 3, 5, 7, 14, 21],
  );
  assert.equal(RENEWAL_ATTEMPTS_BEFORE_PAST_DUE, 5);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => exhaustsRetries(a)),
    [false, false, false, false, true, true],
  );
  assert.throws(() => nextAttemptAt(first, 0), RangeError);
});
