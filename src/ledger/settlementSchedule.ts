// When the next settlement of a subscription falls due. All arithmetic is in
// UTC on the anchor (the first charge): period n is anchor + n cadences, and
// a monthly anchor on the 29th-31st is clamped to the last day of shorter
// months without drifting (Jan 31 → Feb 28/29 → Mar 31), as card networks do.

export type Cadence = 'weekly' | 'monthly' | 'yearly';

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
      return new Date(anchor.getTime() + period * 7 * 24 * 3600 * 1000);
    case 'monthly':
      return addMonthsClamped(anchor, period);
    case 'yearly':
      return addMonthsClamped(anchor, period * 12);
  }
}
