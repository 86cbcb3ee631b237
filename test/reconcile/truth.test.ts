// The reconciler's rule of authority, as a pure function: any rewrite of a
// consistent checkout's rows is found and the true values come back; what
// cannot be known is reported and never guessed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toUsdMinor } from '../../src/money/index.ts';
import { PROVIDER_IDEMPOTENCY_PREFIX } from '../../src/worker/paymentWorker.ts';
import {
  evaluate,
  journalOf,
  providerKeyOf,
  type FxRateOf,
  type LedgerState,
  type ProviderResult,
} from '../../src/reconcile/index.ts';

const RATES: Record<string, string> = { 'fx-1/USD': '1', 'fx-1/EUR': '1.0842', 'fx-1/JPY': '0.006712' };
const fxRateOf: FxRateOf = (snapshot, currency) => RATES[`${snapshot}/${currency}`];
const CHECKOUT = '0b9c1a52-3a43-4a3e-9d8e-7d3c1e9f0a11';
const CREATOR = '5f0f2b4e-1d1a-4c55-8f1e-2b6b9f1d2c33';

function captured(amountMinor: bigint, currency: 'USD' | 'EUR' | 'JPY'): ProviderResult {
  return {
    idempotencyKey: providerKeyOf(CHECKOUT),
    captureId: 'cap_123',
    status: 'captured',
    declineCode: null,
    amountMinor,
    currency,
    checkoutId: CHECKOUT,
    creatorId: CREATOR,
    customerRef: 'cus_1',
  };
}

/** The rows the worker writes for a provider result. */
function consistent(p: ProviderResult): LedgerState {
  const usd =
    p.status === 'captured'
      ? toUsdMinor(p.amountMinor, p.currency as 'USD', fxRateOf('fx-1', p.currency)!)
      : 0n;
  return {
    checkout: {
      id: CHECKOUT,
      creatorId: p.creatorId,
      customerRef: p.customerRef,
      currency: p.currency,
      amountMinor: p.amountMinor,
      status: p.status === 'captured' ? 'charged' : 'declined',
      retry: false,
      providerRef: p.captureId,
      declineCode: p.declineCode,
    },
    charge:
      p.status === 'captured'
        ? {
            id: 'ch_1',
            creatorId: p.creatorId,
            currency: p.currency,
            amountMinor: p.amountMinor,
            usdMinor: usd,
            fxSnapshotId: 'fx-1',
            providerCaptureId: p.captureId,
          }
        : null,
    transactionId: p.status === 'captured' ? 'tx_1' : null,
    entries: p.status === 'captured' ? journalOf(p.creatorId, usd) : [],
  };
}

test("a checkout's provider key is the one the worker captures with", () => {
  assert.equal(providerKeyOf(CHECKOUT), `${PROVIDER_IDEMPOTENCY_PREFIX}${CHECKOUT}`);
});

test('consistent rows, charged or declined, have nothing to repair', () => {
  const charged = captured(12_345n, 'EUR');
  assert.deepEqual(evaluate(consistent(charged), charged, fxRateOf).kinds, []);
  const declined: ProviderResult = { ...charged, status: 'declined', declineCode: 'insufficient_funds' };
  assert.deepEqual(evaluate(consistent(declined), declined, fxRateOf).kinds, []);
});

test("the nightly job's rewrite ('failed', retry set) is a checkout_status discrepancy restored to 'charged'", () => {
  const p = captured(1_999n, 'USD');
  const state = consistent(p);
  const tampered = { ...state, checkout: { ...state.checkout, status: 'failed', retry: true } };
  const e = evaluate(tampered, p, fxRateOf);
  assert.deepEqual(e.kinds, ['checkout_status']);
  assert.equal(e.truth?.checkout.status, 'charged');
  assert.equal(e.truth?.checkout.retry, false);
  assert.equal(e.truth?.checkout.providerRef, 'cap_123');
});

type Mutation = (s: LedgerState) => LedgerState;
const MUTATIONS: Record<string, Mutation> = {
  status: (s) => ({ ...s, checkout: { ...s.checkout, status: 'failed' } }),
  retry: (s) => ({ ...s, checkout: { ...s.checkout, retry: true } }),
  providerRef: (s) => ({ ...s, checkout: { ...s.checkout, providerRef: 'cap_other' } }),
  declineCode: (s) => ({ ...s, checkout: { ...s.checkout, declineCode: 'do_not_honor' } }),
  checkoutAmount: (s) => ({ ...s, checkout: { ...s.checkout, amountMinor: s.checkout.amountMinor + 1n } }),
  customer: (s) => ({ ...s, checkout: { ...s.checkout, customerRef: 'cus_evil' } }),
  chargeAmount: (s) => ({ ...s, charge: { ...s.charge!, amountMinor: s.charge!.amountMinor - 1n } }),
  chargeUsd: (s) => ({ ...s, charge: { ...s.charge!, usdMinor: s.charge!.usdMinor + 1n } }),
  chargeCurrency: (s) => ({
    ...s,
    charge: { ...s.charge!, currency: s.charge!.currency === 'USD' ? 'EUR' : 'USD' },
  }),
  chargeCapture: (s) => ({ ...s, charge: { ...s.charge!, providerCaptureId: 'cap_other' } }),
  creditLeg: (s) => ({
    ...s,
    entries: s.entries.map((e) =>
      e.creditUsdMinor > 0n ? { ...e, creditUsdMinor: e.creditUsdMinor + 1n } : e,
    ),
  }),
  bothLegs: (s) => ({
    ...s,
    entries: s.entries.map((e) => ({
      ...e,
      debitUsdMinor: e.debitUsdMinor > 0n ? e.debitUsdMinor * 2n : 0n,
      creditUsdMinor: e.creditUsdMinor > 0n ? e.creditUsdMinor * 2n : 0n,
    })),
  }),
  legDeleted: (s) => ({ ...s, entries: s.entries.slice(1) }),
  legAdded: (s) => ({
    ...s,
    entries: [
      ...s.entries,
      { account: 'creator_payable', creatorId: CREATOR, debitUsdMinor: 5n, creditUsdMinor: 0n },
    ],
  }),
  payee: (s) => ({
    ...s,
    entries: s.entries.map((e) => (e.creatorId ? { ...e, creatorId: 'someone-else' } : e)),
  }),
  transactionGone: (s) => ({ ...s, transactionId: null, entries: [] }),
};

test('any rewrite of a charged checkout is found, and the truth gives back every original value', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 10n ** 12n }),
      fc.constantFrom('USD' as const, 'EUR' as const, 'JPY' as const),
      fc.uniqueArray(fc.constantFrom(...Object.keys(MUTATIONS)), { minLength: 1, maxLength: 5 }),
      (amount, currency, names) => {
        const p = captured(amount, currency);
        const original = consistent(p);
        const tampered = names.reduce((s, n) => MUTATIONS[n]!(s), original);
        const e = evaluate(tampered, p, fxRateOf);
        assert.ok(e.kinds.length > 0, `not found: ${names.join(', ')}`);
        assert.ok(e.truth, `no truth for ${names.join(', ')}: ${e.kinds.join(', ')}`);
        const { id: _id, ...checkout } = original.checkout;
        assert.deepEqual(e.truth.checkout, checkout);
        const { id: _cid, fxSnapshotId: _fx, ...charge } = original.charge!;
        assert.deepEqual(e.truth.charge, charge);
        assert.deepEqual(e.truth.entries, original.entries);
      },
    ),
    { numRuns: 300 },
  );
});

test('what cannot be known is reported, never guessed', () => {
  const p = captured(500n, 'EUR');
  const state = consistent(p);
  const none = evaluate(state, undefined, fxRateOf);
  assert.deepEqual([none.kinds, none.truth], [['no_provider_record'], null]);
  const declined: ProviderResult = { ...p, status: 'declined', declineCode: 'card_declined' };
  const unexpected = evaluate(state, declined, fxRateOf);
  assert.deepEqual([unexpected.kinds, unexpected.truth], [['charge_unexpected'], null]);
  const missing = evaluate({ ...state, charge: null, transactionId: null, entries: [] }, p, fxRateOf);
  assert.deepEqual([missing.kinds, missing.truth], [['charge_missing'], null]);
  const noRate = evaluate({ ...state, charge: { ...state.charge!, fxSnapshotId: 'fx-gone' } }, p, fxRateOf);
  assert.deepEqual([noRate.kinds, noRate.truth], [['fx_rate_missing'], null]);
  const otherCheckout = evaluate(state, { ...p, checkoutId: 'another' }, fxRateOf);
  assert.deepEqual(otherCheckout.kinds, ['no_provider_record']);
});
