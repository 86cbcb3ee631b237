// Money is an integer count of minor units held in a bigint. Nothing on a money
// path is ever a JavaScript number: amounts cross process boundaries as decimal
// strings of digits and are parsed here, once.

import type { CurrencyCode } from './currency.ts';

/** The largest amount Firebreak accepts for one charge, in minor units (10^12). */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000n;

export interface Money {
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
}

const DIGITS = /^[0-9]{1,19}$/;

export type ParseAmountResult =
  { ok: true; amountMinor: bigint } | { ok: false; reason: 'not_integer' | 'not_positive' | 'too_large' };

/**
 * Parses an amount in minor units. Accepts a string of digits or a safe
 * integer number (JSON clients send both); rejects fractions of a minor unit,
 * zero, negatives and anything above MAX_AMOUNT_MINOR.
 */
export function parseAmountMinor(value: unknown): ParseAmountResult {
  let amount: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      return Number.isInteger(value)
        ? { ok: false, reason: 'too_large' }
        : { ok: false, reason: 'not_integer' };
    }
    amount = BigInt(value);
  } else if (typeof value === 'string') {
    if (/^-[0-9]+$/.test(value)) return { ok: false, reason: 'not_positive' };
    if (!DIGITS.test(value))
      return /^[0-9]{20,}$/.test(value)
        ? { ok: false, reason: 'too_large' }
        : { ok: false, reason: 'not_integer' };
    amount = BigInt(value);
  } else {
    return { ok: false, reason: 'not_integer' };
  }
  if (amount <= 0n) return { ok: false, reason: 'not_positive' };
  if (amount > MAX_AMOUNT_MINOR) return { ok: false, reason: 'too_large' };
  return { ok: true, amountMinor: amount };
}

export function formatMinor(amountMinor: bigint, exponent: number): string {
  const negative = amountMinor < 0n;
  const digits = (negative ? -amountMinor : amountMinor).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const frac = exponent === 0 ? '' : `.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${whole}${frac}`;
}
