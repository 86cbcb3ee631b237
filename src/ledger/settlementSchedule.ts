// When the next settlement of a subscription falls due, and when a declined
// renewal is tried again.
//
// Periods: all arithmetic is in UTC on the anchor (the first charge): period n
// starts at anchor + n cadences, always computed from the anchor, never from
// the previous period, so nothing accumulates. A monthly anchor on the
// 29th-31st is clamped to the last day of shorter months without drifting
// (Jan 31 → Feb 28/29 → Mar 31), as card networks do; a yearly Feb 29 anchor
// bills on Feb 28 in common years and Feb 29 again in leap years. The time of
// day is the anchor's, in UTC, so a daylight-saving change never moves a
// period by an hour nor makes one day hold two. (Billing on a creator's local
// calendar day would need the creator's zone here; that is a later refinement.)
//
// Retries (like Stripe's Smart Retries, with a fixed schedule): attempt 1 is
// the charge at the period's start. After a decline, the next attempt is due
// RENEWAL_RETRY_DELAYS_DAYS[k-1] days after attempt k was claimed: 1, 2, 2, 2
// days, i.e. days 1, 3, 5 and 7 after the period's start when nothing runs
// late. Measuring from the previous claim (not from the period's start) means
// a scheduler that was down delays the retries instead of firing them all at
// once. If the fifth attempt is declined the subscription is past due; it is
// then tried once every PAST_DUE_RETRY_DAYS days, for the same period, until a
// charge succeeds (the subscription is restored) or someone cancels it. A
// period is therefore never skipped, and the next one is not billed before it.

export type Cadence = 'weekly' | 'monthly' | 'yearly';

const DAY_MS = 24 * 3600 * 1000;

function daysInMonthUtc(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

function addMonthsClamped(anchor: Date, months: number): Date {
  const total = anchor.getUTCMonth() + months;
  const year = anchor.getUTCFullYear() + Math.floor(total / 12);
  const month = ((total % 12) + 12) % 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonthUtc(year, month));
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

/** Start of billing period `period` (0 = the anchor itself). */
export function periodStart(anchor: Date, cadence: Cadence, period: number): Date {
  if (!Number.isInteger(period) || period < 0) throw new RangeError(`period must be a non-negative integer`);
  switch (cadence) {
    case 'weekly':
      return new Date(anchor.getTime() + period * 7 * DAY_MS);
    case 'monthly':
      return addMonthsClamped(anchor, period);
    case 'yearly':
      return addMonthsClamped(anchor, period * 12);
  }
}

/** The first period whose start is at or after `at` (at least 1: period 0 is the first charge). */
export function firstPeriodFrom(anchor: Date, cadence: Cadence, at: Date): number {
  // Start from an estimate a little below the answer and walk up: exact at month ends and leap days.
  const approxDays = { weekly: 7, monthly: 31, yearly: 366 }[cadence];
  let period = Math.max(1, Math.floor((at.getTime() - anchor.getTime()) / (approxDays * DAY_MS)));
  while (period > 1 && periodStart(anchor, cadence, period - 1) >= at) period--;
  while (periodStart(anchor, cadence, period) < at) period++;
  return period;
}

/** Days from the claim of attempt k to the earliest claim of attempt k+1, for k = 1..4. */
export const RENEWAL_RETRY_DELAYS_DAYS: readonly number[] = [1, 2, 2, 2];
/** A period whose attempt this many times in a row was declined makes the subscription past due. */
export const RENEWAL_ATTEMPTS_BEFORE_PAST_DUE = RENEWAL_RETRY_DELAYS_DAYS.length + 1;
/** While past due, the outstanding period is tried again this often. */
export const PAST_DUE_RETRY_DAYS = 7;

/** When the attempt after a declined `attempt` (claimed at `claimedAt`) falls due. */
export function nextAttemptAt(claimedAt: Date, attempt: number): Date {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer`);
  const days = RENEWAL_RETRY_DELAYS_DAYS[attempt - 1] ?? PAST_DUE_RETRY_DAYS;
  return new Date(claimedAt.getTime() + days * DAY_MS);
}

/** True when a decline of `attempt` exhausts the retry schedule (the subscription becomes past due). */
export function exhaustsRetries(attempt: number): boolean {
  return attempt >= RENEWAL_ATTEMPTS_BEFORE_PAST_DUE;
}
