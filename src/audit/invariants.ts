// The money invariants of DESIGN.md 1-4, evaluated over plain snapshots of
// the stores. Pure functions: the auditor reads the stores, this decides, so
// a test can hand it a deliberately broken snapshot and watch it fail.

import { isCurrencyCode, toUsdMinor } from '../money/index.ts';

export interface LedgerCheckoutRow {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly status: 'charged' | 'declined' | 'failed';
  readonly commitSeq: bigint;
}

export interface LedgerChargeRow {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly captureId: string;
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly usdMinor: bigint;
  readonly fxSnapshotId: string;
}

export interface ProviderCaptureRow {
  readonly checkoutId: string;
  readonly captureId: string;
  readonly status: 'captured' | 'declined';
  readonly currency: string;
  readonly amountMinor: bigint;
}

export interface AuditSnapshot {
  /** Checkouts the clients were told were accepted (202). */
  readonly accepted: readonly { checkoutId: string; creatorId: string }[];
  /** Acceptance order as recorded by the intake: checkout id → queue sequence. */
  readonly acceptanceSequence: ReadonlyMap<string, bigint>;
  readonly deadLettered: ReadonlySet<string>;
  readonly ledgerCheckouts: readonly LedgerCheckoutRow[];
  readonly ledgerCharges: readonly LedgerChargeRow[];
  /** Journal transactions whose debits and credits differ. */
  readonly unbalancedTransactions: number;
  /** creator id → USD cents credited to the creator in the journal. */
  readonly creatorPayableUsd: ReadonlyMap<string, bigint>;
  /** `${snapshotId}/${currency}` → USD per unit. */
  readonly fxRates: ReadonlyMap<string, string>;
  readonly providerRecords: readonly ProviderCaptureRow[];
}

export interface InvariantVerdicts {
  readonly accepted: number;
  readonly charged: number;
  readonly declined: number;
  readonly deadLettered: number;
  /** Accepted but neither in the ledger nor dead-lettered. */
  readonly lost: number;
  /** Checkouts captured more than once at the provider, or charged in the ledger without a matching capture. */
  readonly doubleCharged: number;
  /** Provider captures with no ledger charge (money taken, not booked). */
  readonly unbookedCaptures: number;
  /** Sum over creators of |ledger USD − recomputed USD|, in cents. */
  readonly driftCents: bigint;
  readonly unbalancedTransactions: number;
  /** Adjacent pairs within a creator whose commit order contradicts acceptance order. */
  readonly outOfOrder: number;
  readonly violations: string[];
}

export function evaluateInvariants(s: AuditSnapshot): InvariantVerdicts {
  const violations: string[] = [];
  const inLedger = new Map(s.ledgerCheckouts.map((c) => [c.checkoutId, c]));

  // 1. No loss.
  const lostIds = s.accepted.filter((a) => !inLedger.has(a.checkoutId) && !s.deadLettered.has(a.checkoutId));
  if (lostIds.length > 0)
    violations.push(
      `no-loss: ${lostIds.length} accepted checkouts never reached a terminal state (e.g. ${lostIds[0]!.checkoutId})`,
    );

  // 2. No double charge: one provider capture and one ledger charge per checkout, matched by capture id.
  const capturesByCheckout = new Map<string, ProviderCaptureRow[]>();
  for (const r of s.providerRecords) {
    if (r.status !== 'captured') continue;
    capturesByCheckout.set(r.checkoutId, [...(capturesByCheckout.get(r.checkoutId) ?? []), r]);
  }
  const captureIds = new Map(
    s.providerRecords.filter((r) => r.status === 'captured').map((r) => [r.captureId, r]),
  );
  let doubleCharged = 0;
  for (const [checkoutId, caps] of capturesByCheckout) {
    if (caps.length > 1) {
      doubleCharged++;
      violations.push(
        `no-double-charge: checkout ${checkoutId} captured ${caps.length} times at the provider`,
      );
    }
  }
  const chargeByCheckout = new Map<string, LedgerChargeRow>();
  for (const c of s.ledgerCharges) {
    if (chargeByCheckout.has(c.checkoutId)) {
      doubleCharged++;
      violations.push(`no-double-charge: checkout ${c.checkoutId} has two ledger charges`);
    }
    chargeByCheckout.set(c.checkoutId, c);
    const capture = captureIds.get(c.captureId);
    if (!capture || capture.checkoutId !== c.checkoutId) {
      doubleCharged++;
      violations.push(
        `no-double-charge: ledger charge for ${c.checkoutId} has no matching provider capture ${c.captureId}`,
      );
    } else if (capture.amountMinor !== c.amountMinor || capture.currency !== c.currency) {
      violations.push(
        `cent-exact: ledger charge for ${c.checkoutId} is ${c.amountMinor} ${c.currency}, the provider captured ${capture.amountMinor} ${capture.currency}`,
      );
    }
  }
  let unbookedCaptures = 0;
  for (const checkoutId of capturesByCheckout.keys()) {
    if (!chargeByCheckout.has(checkoutId)) {
      unbookedCaptures++;
      violations.push(
        `no-double-charge: provider captured checkout ${checkoutId} but the ledger has no charge for it`,
      );
    }
  }

  // 3. Cent-exact: journal balanced; per-creator USD equals a recomputation from the provider's captures.
  if (s.unbalancedTransactions > 0)
    violations.push(`cent-exact: ${s.unbalancedTransactions} journal transactions do not balance`);
  const recomputed = new Map<string, bigint>();
  for (const c of s.ledgerCharges) {
    const capture = captureIds.get(c.captureId);
    if (!capture) continue;
    const rate = s.fxRates.get(`${c.fxSnapshotId}/${capture.currency}`);
    if (!isCurrencyCode(capture.currency) || rate === undefined) {
      violations.push(
        `cent-exact: no FX rate ${c.fxSnapshotId}/${capture.currency} for checkout ${c.checkoutId}`,
      );
      continue;
    }
    const usd = toUsdMinor(capture.amountMinor, capture.currency, rate);
    // Each charge row's own USD figure too, not only the creator's total in the journal.
    if (c.usdMinor !== usd)
      violations.push(
        `cent-exact: the charge for ${c.checkoutId} is booked as ${c.usdMinor} USD cents, the provider's capture converts to ${usd}`,
      );
    recomputed.set(c.creatorId, (recomputed.get(c.creatorId) ?? 0n) + usd);
  }
  let driftCents = 0n;
  for (const creatorId of new Set([...recomputed.keys(), ...s.creatorPayableUsd.keys()])) {
    const booked = s.creatorPayableUsd.get(creatorId) ?? 0n;
    const expected = recomputed.get(creatorId) ?? 0n;
    const diff = booked > expected ? booked - expected : expected - booked;
    if (diff !== 0n)
      violations.push(
        `cent-exact: creator ${creatorId} booked ${booked} USD cents, provider record gives ${expected}`,
      );
    driftCents += diff;
  }

  // 4. Per-creator order: commit order follows acceptance order.
  let outOfOrder = 0;
  const byCreator = new Map<string, LedgerCheckoutRow[]>();
  for (const c of s.ledgerCheckouts) byCreator.set(c.creatorId, [...(byCreator.get(c.creatorId) ?? []), c]);
  for (const [creatorId, rows] of byCreator) {
    rows.sort((a, b) => (a.commitSeq < b.commitSeq ? -1 : 1));
    let previous: bigint | undefined;
    for (const row of rows) {
      const seq = s.acceptanceSequence.get(row.checkoutId);
      if (seq === undefined) continue;
      if (previous !== undefined && seq < previous) {
        outOfOrder++;
        violations.push(
          `order: creator ${creatorId} committed checkout ${row.checkoutId} (accepted #${seq}) after one accepted #${previous}`,
        );
      }
      previous = seq;
    }
  }

  return {
    accepted: s.accepted.length,
    charged: s.ledgerCheckouts.filter((c) => c.status === 'charged').length,
    declined: s.ledgerCheckouts.filter((c) => c.status === 'declined').length,
    deadLettered: s.deadLettered.size,
    lost: lostIds.length,
    doubleCharged,
    unbookedCaptures,
    driftCents,
    unbalancedTransactions: s.unbalancedTransactions,
    outOfOrder,
    violations,
  };
}

export function invariantsHold(v: InvariantVerdicts): boolean {
  return v.violations.length === 0;
}
