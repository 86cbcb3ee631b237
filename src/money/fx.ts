// Conversion to USD minor units. This file holds Firebreak's one rounding rule.
//
// A rate is "USD per one whole unit of the source currency", stored as an exact
// decimal string (e.g. "1.0842" for EUR) in an FX snapshot that is saved with
// every charge, so a charge can be re-derived years later from its own row.
//
// ROUNDING RULE: round half to even (banker's rounding) on the exact rational
// result, applied once per charge, never to intermediate values. Half-even has
// no upward bias across many charges, which is why ledgers prefer it.

import { exponentOf, type CurrencyCode } from './currency.ts';

const USD_EXPONENT = 2;
const RATE = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,12})?$/;

export interface ExactRate {
  /** rate = numerator / 10^scale */
  readonly numerator: bigint;
  readonly scale: number;
}

export function parseRate(text: string): ExactRate {
  if (!RATE.test(text))
    throw new RangeError(`FX rate "${text}" is not a positive decimal with at most 12 places`);
  const [whole = '0', frac = ''] = text.split('.');
  const numerator = BigInt(whole + frac);
  if (numerator === 0n) throw new RangeError(`FX rate "${text}" must be greater than zero`);
  return { numerator, scale: frac.length };
}

/** Divides n by d (d > 0) rounding half to even. */
export function divideHalfEven(n: bigint, d: bigint): bigint {
  if (d <= 0n) throw new RangeError('divisor must be positive');
  const sign = n < 0n ? -1n : 1n;
  const abs = n < 0n ? -n : n;
  const q = abs / d;
  const r = abs % d;
  const twice = r * 2n;
  let rounded = q;
  if (twice > d || (twice === d && q % 2n === 1n)) rounded = q + 1n;
  return sign * rounded;
}

/** The single function that turns an amount in any currency into USD cents. */
export function toUsdMinor(amountMinor: bigint, currency: CurrencyCode, rate: string): bigint {
  if (currency === 'USD') return amountMinor;
  const { numerator, scale } = parseRate(rate);
  const exp = exponentOf(currency);
  // usd_minor = amount_minor / 10^exp * rate * 10^USD_EXPONENT
  //           = amount_minor * numerator * 10^USD_EXPONENT / (10^scale * 10^exp)
  const n = amountMinor * numerator * 10n ** BigInt(USD_EXPONENT);
  const d = 10n ** BigInt(scale + exp);
  return divideHalfEven(n, d);
}
