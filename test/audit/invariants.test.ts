// The auditor must catch each kind of broken invariant; a clean snapshot passes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateInvariants, type AuditSnapshot } from '../../src/audit/invariants.ts';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

function clean(): AuditSnapshot {
  return {
    accepted: [
      { checkoutId: 'c1', creatorId: A },
      { checkoutId: 'c2', creatorId: A },
      { checkoutId: 'c3', creatorId: B },
      { checkoutId: 'c4', creatorId: B },
    ],
    acceptanceSequence: new Map([
      ['c1', 1n],
      ['c2', 2n],
      ['c3', 3n],
      ['c4', 4n],
    ]),
    deadLettered: new Set(['c4']),
    ledgerCheckouts: [
      { checkoutId: 'c1', creatorId: A, status: 'charged', commitSeq: 10n },
      { checkoutId: 'c3', creatorId: B, status: 'declined', commitSeq: 11n },
      { checkoutId: 'c2', creatorId: A, status: 'charged', commitSeq: 12n },
    ],
    ledgerCharges: [
      {
        checkoutId: 'c1',
        creatorId: A,
        captureId: 'p1',
        currency: 'EUR',
        amountMinor: 1000n,
        usdMinor: 1084n,
        fxSnapshotId: 'fx',
      },
      {
        checkoutId: 'c2',
        creatorId: A,
        captureId: 'p2',
        currency: 'JPY',
        amountMinor: 1500n,
        usdMinor: 1005n,
        fxSnapshotId: 'fx',
      },
    ],
    unbalancedTransactions: 0,
    creatorPayableUsd: new Map([[A, 2089n]]),
    fxRates: new Map([
      ['fx/EUR', '1.0842'],
      ['fx/JPY', '0.0067'],
    ]),
    providerRecords: [
      { checkoutId: 'c1', captureId: 'p1', status: 'captured', currency: 'EUR', amountMinor: 1000n },
      { checkoutId: 'c2', captureId: 'p2', status: 'captured', currency: 'JPY', amountMinor: 1500n },
      { checkoutId: 'c3', captureId: 'd3', status: 'declined', currency: 'USD', amountMinor: 500n },
    ],
  };
}

test('a clean snapshot passes with the right counts', () => {
  const v = evaluateInvariants(clean());
  assert.deepEqual(v.violations, []);
  assert.equal(v.accepted, 4);
  assert.equal(v.charged, 2);
  assert.equal(v.declined, 1);
  assert.equal(v.deadLettered, 1);
  assert.equal(v.driftCents, 0n);
});

test('a lost checkout fails no-loss', () => {
  const s = { ...clean(), deadLettered: new Set<string>() };
  const v = evaluateInvariants(s);
  assert.equal(v.lost, 1);
  assert.match(v.violations.join('\n'), /no-loss/);
});

test('a double capture at the provider fails no-double-charge', () => {
  const s = clean();
  const v = evaluateInvariants({
    ...s,
    providerRecords: [
      ...s.providerRecords,
      { checkoutId: 'c1', captureId: 'p1b', status: 'captured', currency: 'EUR', amountMinor: 1000n },
    ],
  });
  assert.equal(v.doubleCharged, 1);
  assert.match(v.violations.join('\n'), /captured 2 times/);
});

test('a ledger charge without a provider capture fails no-double-charge', () => {
  const s = clean();
  const v = evaluateInvariants({
    ...s,
    providerRecords: s.providerRecords.filter((r) => r.captureId !== 'p2'),
  });
  assert.ok(v.doubleCharged >= 1);
});

test('a capture the ledger never booked is reported', () => {
  const s = clean();
  const v = evaluateInvariants({
    ...s,
    providerRecords: [
      ...s.providerRecords,
      { checkoutId: 'c9', captureId: 'p9', status: 'captured', currency: 'USD', amountMinor: 5n },
    ],
  });
  assert.equal(v.unbookedCaptures, 1);
});

test('one cent of drift fails cent-exact', () => {
  const s = clean();
  const v = evaluateInvariants({ ...s, creatorPayableUsd: new Map([[A, 2090n]]) });
  assert.equal(v.driftCents, 1n);
  assert.match(v.violations.join('\n'), /cent-exact/);
});

test('an unbalanced journal fails cent-exact', () => {
  const v = evaluateInvariants({ ...clean(), unbalancedTransactions: 1 });
  assert.match(v.violations.join('\n'), /do not balance/);
});

test('an out-of-order commit within a creator fails order', () => {
  const s = clean();
  const v = evaluateInvariants({
    ...s,
    acceptanceSequence: new Map([...s.acceptanceSequence, ['c1', 5n]]),
  });
  assert.equal(v.outOfOrder, 1);
});

test("a charge row whose USD amount differs from the provider's capture fails cent-exact", () => {
  const s = clean();
  const [first, second] = s.ledgerCharges;
  const v = evaluateInvariants({ ...s, ledgerCharges: [{ ...first!, usdMinor: 1085n }, second!] });
  assert.deepEqual(v.violations, [
    "cent-exact: the charge for c1 is booked as 1085 USD cents, the provider's capture converts to 1084",
  ]);
});
