// Reconciliation of the ledger against the provider's record: detect rows that
// were rewritten (the write-ups' nightly job), restore them from the provider's
// record and the ledger's own history, count and alert. main.ts runs it as a
// process; docs/drills.md ("row-rewrite and reconciliation") shows it at work.

export { Reconciler, type Finding, type PassSummary, type ReconcilerOptions } from './reconciler.ts';
export {
  ProviderRecordClient,
  ProviderRecordMirror,
  ProviderReadError,
  type ProviderResult,
} from './providerRecord.ts';
export {
  evaluate,
  journalOf,
  providerKeyOf,
  DISCREPANCY_KINDS,
  REPAIRABLE_KINDS,
  UNREPAIRABLE_KINDS,
} from './truth.ts';
export type { DiscrepancyKind, FxRateOf, LedgerState, TrueState } from './truth.ts';
