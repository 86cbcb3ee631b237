// What a checkout's ledger rows must say, given the provider's record, and
// where they say something else. Pure: the reconciler reads, this decides, so a
// test can hand it any tampered state.
//
// THE RULE OF AUTHORITY
// - Whether money moved, how much and in which currency is the provider's
//   record: the result under the checkout's idempotency key (`checkout-<id>`).
//   The customer's money moved as the provider says, whatever the ledger says.
// - How it was booked is the ledger's own write-once history: the charge row's
//   FX snapshot id (USD cents are re-derived from that snapshot's rate with the
//   one rounding rule, money/fx.ts), and the double entry every charge gets:
//   debit psp_clearing, credit the creator's creator_payable, both the USD cents.
// - The checkout row's outcome columns are a summary of the two and are always
//   restored from them: captured -> 'charged', declined -> 'declined' (with the
//   provider's reference and decline code), retry false. Firebreak never
//   writes 'failed' or retry = true: a committed row saying so was rewritten.
// Repairs are made only when every value to write is known. When it is not
// (the provider has no result, the ledger books a charge the provider never
// captured or lacks one it did, the FX snapshot has no rate), nothing is
// written: the finding is counted, logged and left for a person.

import { isCurrencyCode, toUsdMinor } from '../money/index.ts';
import type { ProviderResult } from './providerRecord.ts';

export const PROVIDER_KEY_PREFIX = 'checkout-';

/** The provider idempotency key of a checkout (the worker's, src/worker/paymentWorker.ts). */
export const providerKeyOf = (checkoutId: string): string => `${PROVIDER_KEY_PREFIX}${checkoutId}`;

/** Discrepancies the reconciler repairs. */
export const REPAIRABLE_KINDS = ['checkout_status', 'checkout_terms', 'charge_amount', 'journal'] as const;
/** Discrepancies it can only report: nothing is written, a person decides. */
export const UNREPAIRABLE_KINDS = [
  'no_provider_record',
  'charge_unexpected',
  'charge_missing',
  'fx_rate_missing',
] as const;
export const DISCREPANCY_KINDS = [...REPAIRABLE_KINDS, ...UNREPAIRABLE_KINDS] as const;
export type RepairableKind = (typeof REPAIRABLE_KINDS)[number];
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number];

export interface CheckoutRow {
  readonly id: string;
  readonly creatorId: string;
  readonly customerRef: string;
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly status: string;
  readonly retry: boolean;
  readonly providerRef: string;
  readonly declineCode: string | null;
}

export interface ChargeRow {
  readonly id: string;
  readonly creatorId: string;
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly usdMinor: bigint;
  readonly fxSnapshotId: string;
  readonly providerCaptureId: string;
}

export interface EntryRow {
  readonly account: string;
  readonly creatorId: string | null;
  readonly debitUsdMinor: bigint;
  readonly creditUsdMinor: bigint;
}

/** One checkout's rows as the ledger holds them. */
export interface LedgerState {
  readonly checkout: CheckoutRow;
  readonly charge: ChargeRow | null;
  /** The charge's journal transaction (null when there is no charge, or the transaction row is gone). */
  readonly transactionId: string | null;
  readonly entries: readonly EntryRow[];
}

/** What the rows must say. Fields a kind does not cover are left as they are. */
export interface TrueState {
  readonly checkout: Omit<CheckoutRow, 'id'>;
  readonly charge: Omit<ChargeRow, 'id' | 'fxSnapshotId'> | null;
  readonly entries: readonly EntryRow[] | null;
}

export interface Evaluation {
  readonly kinds: readonly DiscrepancyKind[];
  /** One line per difference, for logs and the repair's audit row. */
  readonly details: readonly string[];
  /** Set when every kind found is repairable: the values to write. */
  readonly truth: TrueState | null;
}

/** USD per unit of `currency` in FX snapshot `snapshotId`, as a decimal string. */
export type FxRateOf = (snapshotId: string, currency: string) => string | undefined;

const OK: Evaluation = { kinds: [], details: [], truth: null };

function entryKey(e: EntryRow): string {
  return `${e.account}|${e.creatorId ?? ''}|${e.debitUsdMinor}|${e.creditUsdMinor}`;
}

function sameEntries(a: readonly EntryRow[], b: readonly EntryRow[]): boolean {
  if (a.length !== b.length) return false;
  const left = a.map(entryKey).sort();
  const right = b.map(entryKey).sort();
  return left.every((k, i) => k === right[i]);
}

/** The two entries every charge books (commitOutcome.ts): the provider owes us, we owe the creator. */
export function journalOf(creatorId: string, usdMinor: bigint): EntryRow[] {
  return [
    { account: 'psp_clearing', creatorId: null, debitUsdMinor: usdMinor, creditUsdMinor: 0n },
    { account: 'creator_payable', creatorId, debitUsdMinor: 0n, creditUsdMinor: usdMinor },
  ];
}

/** Compares one checkout's ledger rows with the provider's result for its key. */
export function evaluate(
  state: LedgerState,
  provider: ProviderResult | undefined,
  fxRateOf: FxRateOf,
): Evaluation {
  const c = state.checkout;
  if (provider === undefined || provider.checkoutId !== c.id) {
    return {
      kinds: ['no_provider_record'],
      details: [
        `the provider has no result for ${providerKeyOf(c.id)}, yet the ledger holds checkout ${c.id} (${c.status})`,
      ],
      truth: null,
    };
  }
  const captured = provider.status === 'captured';
  const unrepairable: DiscrepancyKind[] = [];
  const details: string[] = [];
  if (!captured && state.charge !== null) {
    unrepairable.push('charge_unexpected');
    details.push(
      `the ledger books charge ${state.charge.id} but the provider declined ${providerKeyOf(c.id)}`,
    );
  }
  if (captured && state.charge === null) {
    unrepairable.push('charge_missing');
    details.push(
      `the provider captured ${provider.captureId} but the ledger has no charge for checkout ${c.id}`,
    );
  }
  let usdMinor: bigint | null = null;
  if (captured && state.charge !== null) {
    const rate = fxRateOf(state.charge.fxSnapshotId, provider.currency);
    if (rate === undefined || !isCurrencyCode(provider.currency)) {
      unrepairable.push('fx_rate_missing');
      details.push(
        `FX snapshot ${state.charge.fxSnapshotId} has no ${provider.currency} rate for checkout ${c.id}`,
      );
    } else {
      usdMinor = toUsdMinor(provider.amountMinor, provider.currency, rate);
    }
  }
  if (unrepairable.length > 0) return { kinds: unrepairable, details, truth: null };

  const truth: TrueState = {
    checkout: {
      creatorId: provider.creatorId,
      customerRef: provider.customerRef,
      currency: provider.currency,
      amountMinor: provider.amountMinor,
      status: captured ? 'charged' : 'declined',
      retry: false,
      providerRef: provider.captureId,
      declineCode: captured ? null : provider.declineCode,
    },
    charge:
      usdMinor === null
        ? null
        : {
            creatorId: provider.creatorId,
            currency: provider.currency,
            amountMinor: provider.amountMinor,
            usdMinor,
            providerCaptureId: provider.captureId,
          },
    entries: usdMinor === null ? null : journalOf(provider.creatorId, usdMinor),
  };

  const kinds: RepairableKind[] = [];
  const t = truth.checkout;
  if (
    c.status !== t.status ||
    c.retry !== t.retry ||
    c.providerRef !== t.providerRef ||
    c.declineCode !== t.declineCode
  ) {
    kinds.push('checkout_status');
    details.push(
      `checkout ${c.id} says ${c.status}${c.retry ? ' (retry set)' : ''} ref ${c.providerRef}, the provider ${provider.status} ${provider.captureId}`,
    );
  }
  if (
    c.creatorId !== t.creatorId ||
    c.customerRef !== t.customerRef ||
    c.currency !== t.currency ||
    c.amountMinor !== t.amountMinor
  ) {
    kinds.push('checkout_terms');
    details.push(
      `checkout ${c.id} is ${c.amountMinor} ${c.currency} for ${c.customerRef}, the provider's request was ${t.amountMinor} ${t.currency} for ${t.customerRef}`,
    );
  }
  const ch = state.charge;
  if (ch !== null && truth.charge !== null) {
    const tc = truth.charge;
    if (
      ch.creatorId !== tc.creatorId ||
      ch.currency !== tc.currency ||
      ch.amountMinor !== tc.amountMinor ||
      ch.usdMinor !== tc.usdMinor ||
      ch.providerCaptureId !== tc.providerCaptureId
    ) {
      kinds.push('charge_amount');
      details.push(
        `charge ${ch.id} is ${ch.amountMinor} ${ch.currency} (${ch.usdMinor} USD cents, capture ${ch.providerCaptureId}), the provider captured ${tc.amountMinor} ${tc.currency} (${tc.usdMinor} USD cents, ${tc.providerCaptureId})`,
      );
    }
  }
  if (
    truth.entries !== null &&
    (state.transactionId === null || !sameEntries(state.entries, truth.entries))
  ) {
    kinds.push('journal');
    const debits = state.entries.reduce((s, e) => s + e.debitUsdMinor, 0n);
    const credits = state.entries.reduce((s, e) => s + e.creditUsdMinor, 0n);
    details.push(
      state.transactionId === null
        ? `charge ${ch?.id} has no journal transaction`
        : `the journal of charge ${ch?.id} has ${state.entries.length} entries, debits ${debits} credits ${credits}; it must be ${usdMinor} each way`,
    );
  }
  return kinds.length === 0 ? OK : { kinds, details, truth };
}
