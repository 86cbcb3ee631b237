import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  divideHalfEven,
  formatMinor,
  parseAmountMinor,
  parseRate,
  toUsdMinor,
} from '../../src/money/index.ts';

test('parseAmountMinor accepts digit strings and safe integers, rejects the rest', () => {
  assert.deepEqual(parseAmountMinor('1999'), { ok: true, amountMinor: 1999n });
  assert.deepEqual(parseAmountMinor(1999), { ok: true, amountMinor: 1999n });
  assert.deepEqual(parseAmountMinor('1000000000000'), { ok: true, amountMinor: 1_000_000_000_000n });
  assert.deepEqual(parseAmountMinor('1000000000001'), { ok: false, reason: 'too_large' });
  assert.deepEqual(parseAmountMinor(0), { ok: false, reason: 'not_positive' });
  assert.deepEqual(parseAmountMinor('-5'), { ok: false, reason: 'not_positive' });
  assert.deepEqual(parseAmountMinor(-5), { ok: false, reason: 'not_positive' });
  assert.deepEqual(parseAmountMinor(10.5), { ok: false, reason: 'not_integer' });
  assert.deepEqual(parseAmountMinor('10.5'), { ok: false, reason: 'not_integer' });
  assert.deepEqual(parseAmountMinor('1e3'), { ok: false, reason: 'not_integer' });
  assert.deepEqual(parseAmountMinor(1e300), { ok: false, reason: 'too_large' });
  assert.deepEqual(parseAmountMinor(null), { ok: false, reason: 'not_integer' });
});

test('divideHalfEven rounds ties to even and everything else to nearest', () => {
  assert.equal(divideHalfEven(5n, 2n), 2n); // 2.5 → 2
  assert.equal(divideHalfEven(7n, 2n), 4n); // 3.5 → 4
  assert.equal(divideHalfEven(11n, 4n), 3n); // 2.75 → 3
  assert.equal(divideHalfEven(9n, 4n), 2n); // 2.25 → 2
  assert.equal(divideHalfEven(-5n, 2n), -2n);
  assert.equal(divideHalfEven(-7n, 2n), -4n);
});

test('toUsdMinor honours ISO exponents (JPY 0, USD 2, KWD 3)', () => {
  assert.equal(toUsdMinor(1999n, 'USD', '1'), 1999n);
  assert.equal(toUsdMinor(1000n, 'EUR', '1.0842'), 1084n); // 10.00 EUR → 10.842 USD → 10.84
  assert.equal(toUsdMinor(1500n, 'JPY', '0.0067'), 1005n); // 1500 JPY → 10.05 USD
  assert.equal(toUsdMinor(1000n, 'KWD', '3.25'), 325n); // 1.000 KWD → 3.25 USD
  assert.equal(toUsdMinor(1n, 'KWD', '3.255'), 0n); // 0.001 KWD → 0.003255 USD → 0 cents
  assert.equal(toUsdMinor(50n, 'EUR', '1.01'), 50n); // 0.505 USD → tie → 50 (even)
  assert.equal(toUsdMinor(150n, 'EUR', '1.01'), 152n); // 1.515 → 151.5 cents → 152 (even)
});

test('parseRate rejects non-decimal, zero and over-precise rates', () => {
  assert.throws(() => parseRate('1e3'), RangeError);
  assert.throws(() => parseRate('0'), RangeError);
  assert.throws(() => parseRate('-1'), RangeError);
  assert.throws(() => parseRate('1.0000000000001'), RangeError);
  assert.deepEqual(parseRate('1.084200000000'), { numerator: 1084200000000n, scale: 12 });
});

test('property: conversion is exact to within half a cent and monotonic', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 1_000_000_000_000n }),
      fc.integer({ min: 1, max: 99_999_999 }),
      (amount, rateMicros) => {
        const rate = `${Math.floor(rateMicros / 1_000_000)}.${String(rateMicros % 1_000_000).padStart(6, '0')}`;
        if (rateMicros < 1) return;
        const usd = toUsdMinor(amount, 'EUR', rate);
        // exact value in units of 1e-8 cents: amount * rateMicros / 1e6 (EUR and USD both have exponent 2)
        const exactTimes1e6 = amount * BigInt(rateMicros);
        const diff = usd * 1_000_000n - exactTimes1e6;
        assert.ok(
          diff <= 500_000n && diff >= -500_000n,
          `off by more than half a cent: ${usd} vs ${exactTimes1e6}/1e6`,
        );
        assert.ok(toUsdMinor(amount + 1n, 'EUR', rate) >= usd);
      },
    ),
    { numRuns: 500 },
  );
});

test('formatMinor renders with the currency exponent', () => {
  assert.equal(formatMinor(1999n, 2), '19.99');
  assert.equal(formatMinor(5n, 2), '0.05');
  assert.equal(formatMinor(1500n, 0), '1500');
  assert.equal(formatMinor(1n, 3), '0.001');
  assert.equal(formatMinor(-250n, 2), '-2.50');
});
