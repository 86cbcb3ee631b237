// The reconciler: continuously compares every committed checkout in the
// ledger with the provider's record and restores what was rewritten. It exists
// because of the write-ups' nightly job, which rewrote committed checkout rows
// to status 'failed' with the retry flag set; and because DESIGN.md asks that
// every charge reconcile to the cent against the provider's own record,
// continuously, not once a drill.
//
// A pass:
//   1. read the ledger a page at a time in commit order (ledgerState.ts);
//   2. after each page, fetch what the provider recorded since the last
//      refresh (providerRecord.ts). Order matters: the worker's capture is
//      recorded at the provider before its ledger commit, so every row of a
//      page read first already has its result at the provider;
//   3. compare each row with its result (truth.ts);
//   4. for each checkout that differs: look its key up at the provider again
//      and repair it in one transaction with its audit row (repair.ts), or,
//      when it cannot be repaired, leave it for a person.
//
// Each (checkout, kind) found is counted once in ledger_tampering_detected_total
// (the LedgerTamperingDetected alert), whether repaired or not; one left
// unrepaired shows in ledger_reconciliation_unrepaired until it is gone.
//
// It never captures: the provider is only read. A second capture of a
// tampered checkout is impossible for reasons that do not depend on it (the
// worker charges only from queue messages, always with the checkout's own
// idempotency key, and the ledger's commit is ON CONFLICT DO NOTHING); the
// reconciler makes sure the ledger tells the truth again within one pass.
//
// Hand-written rather than a library: no reconciliation library knows our
// ledger or the provider's API, and the loop is the scheduler's.

import { setTimeout as delay } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Ledger } from '../ledger/index.ts';
import { jitteredDelayMs } from '../resilience/index.ts';
import { readFxRates, readLedgerPage } from './ledgerState.ts';
import { ProviderRecordMirror, type ProviderRecordClient } from './providerRecord.ts';
import { createReconcilerMetrics, type ReconcilerMetrics } from './reconcilerMetrics.ts';
import { repairCheckout, type RepairOutcome } from './repair.ts';
import { evaluate, providerKeyOf, UNREPAIRABLE_KINDS, type DiscrepancyKind, type FxRateOf } from './truth.ts';

/** How often a pass starts in production. A pass over a large ledger takes seconds; a minute bounds how long a rewrite goes unnoticed. */
export const DEFAULT_INTERVAL_MS = 60_000;
/** Checkouts per ledger read: one short snapshot each. */
export const DEFAULT_PAGE_SIZE = 1_000;

export interface Finding {
  readonly checkoutId: string;
  readonly kinds: readonly DiscrepancyKind[];
  readonly details: readonly string[];
  readonly detectedAt: Date;
}

export interface ReconcilerEvents {
  /** A discrepancy seen for the first time (counted). */
  readonly onDetected?: (finding: Finding & { readonly repairable: boolean }) => void;
  readonly onRepaired?: (finding: Finding & { readonly repairId: string; readonly repairedAt: Date }) => void;
  /** A repair that failed (the checkout is tried again next pass). */
  readonly onRepairError?: (checkoutId: string, err: unknown) => void;
  readonly onPass?: (summary: PassSummary) => void;
  readonly onError?: (err: unknown) => void;
}

export interface ReconcilerOptions {
  readonly ledger: Ledger;
  readonly provider: ProviderRecordClient;
  readonly registry: Registry;
  /** Written into reconciliation_repairs.repaired_by, e.g. "reconciler pid 123 on host". */
  readonly repairedBy: string;
  readonly intervalMs?: number;
  readonly pageSize?: number;
  readonly now?: () => Date;
  readonly events?: ReconcilerEvents;
}

export interface PassSummary {
  readonly checked: number;
  /** Checkouts whose rows differed from the provider's record in this pass. */
  readonly differing: number;
  readonly repaired: number;
  /** Discrepancies (checkout, kind) open after this pass: unrepairable, or whose repair failed. */
  readonly open: number;
  readonly providerResults: number;
  readonly durationMs: number;
}

export class Reconciler {
  readonly #o: Required<Omit<ReconcilerOptions, 'events'>> & { events: ReconcilerEvents };
  readonly #metrics: ReconcilerMetrics;
  readonly #mirror: ProviderRecordMirror;
  /** `${checkoutId}/${kind}` of every discrepancy counted and not yet gone. */
  readonly #open = new Map<string, DiscrepancyKind>();
  readonly #abort = new AbortController();
  #loopDone: Promise<void> | undefined;
  #running = false;

  constructor(options: ReconcilerOptions) {
    this.#o = {
      intervalMs: DEFAULT_INTERVAL_MS,
      pageSize: DEFAULT_PAGE_SIZE,
      now: () => new Date(),
      ...options,
      events: options.events ?? {},
    };
    this.#metrics = createReconcilerMetrics(this.#o.registry);
    this.#mirror = new ProviderRecordMirror(this.#o.provider);
  }

  /** One pass over the whole ledger. Rejects when the ledger or the provider cannot be read. */
  async runOnce(): Promise<PassSummary> {
    const started = performance.now();
    const endTimer = this.#metrics.passDuration.startTimer();
    try {
      const summary = await this.#pass();
      this.#metrics.passes.inc({ outcome: 'ok' });
      this.#metrics.lastSuccess.set(this.#o.now().getTime() / 1000);
      this.#metrics.checked.set(summary.checked);
      return { ...summary, durationMs: Math.round(performance.now() - started) };
    } catch (err) {
      this.#metrics.passes.inc({ outcome: 'error' });
      throw err;
    } finally {
      endTimer();
    }
  }

  async #pass(): Promise<Omit<PassSummary, 'durationMs'>> {
    const pool = this.#o.ledger.pool;
    const rates = await readFxRates(pool);
    const fxRateOf: FxRateOf = (snapshotId, currency) => rates.get(`${snapshotId}/${currency}`);
    const differing: Finding[] = [];
    let checked = 0;
    let providerResults = 0;
    for (let after = 0n; ;) {
      const page = await readLedgerPage(pool, after, this.#o.pageSize);
      if (page.length === 0) break;
      providerResults += await this.#mirror.refresh();
      const detectedAt = this.#o.now();
      for (const state of page) {
        const found = evaluate(state, this.#mirror.get(providerKeyOf(state.checkout.id)), fxRateOf);
        if (found.kinds.length > 0)
          differing.push({
            checkoutId: state.checkout.id,
            kinds: found.kinds,
            details: found.details,
            detectedAt,
          });
      }
      checked += page.length;
      after = page[page.length - 1]!.commitSeq;
      if (page.length < this.#o.pageSize) break;
    }

    const seen = new Set<string>();
    let repaired = 0;
    let failed: unknown;
    for (const suspect of differing) {
      const { checkoutId, detectedAt } = suspect;
      // Confirm with the provider itself before touching anything.
      const provider = await this.#o.provider.lookup(providerKeyOf(checkoutId));
      if (provider) this.#mirror.remember(provider);
      let outcome: RepairOutcome;
      try {
        outcome = await this.#o.ledger.transaction((client) =>
          repairCheckout(client, {
            checkoutId,
            provider,
            fxRateOf,
            detectedAt,
            repairedBy: this.#o.repairedBy,
          }),
        );
      } catch (err) {
        failed ??= err;
        this.#o.events.onRepairError?.(checkoutId, err);
        // Counted as the pass saw it, and left open: the next pass tries again.
        this.#count(suspect, false, seen);
        continue;
      }
      if (outcome.kind === 'repaired') {
        repaired++;
        const finding = {
          checkoutId,
          kinds: outcome.evaluation.kinds,
          details: outcome.evaluation.details,
          detectedAt,
        };
        this.#count(finding, true, seen);
        for (const kind of finding.kinds) {
          this.#open.delete(`${checkoutId}/${kind}`);
          seen.delete(`${checkoutId}/${kind}`);
        }
        this.#metrics.repairs.inc();
        this.#o.events.onRepaired?.({ ...finding, repairId: outcome.repairId, repairedAt: this.#o.now() });
      } else if (outcome.kind === 'unrepairable') {
        const finding = {
          checkoutId,
          kinds: outcome.evaluation.kinds,
          details: outcome.evaluation.details,
          detectedAt,
        };
        this.#count(finding, false, seen);
      }
    }
    // A discrepancy no longer found was resolved (by a person): if it comes back, it counts again.
    for (const key of [...this.#open.keys()]) if (!seen.has(key)) this.#open.delete(key);
    this.#refreshUnrepairedGauge();
    if (failed !== undefined)
      throw new Error('a repair failed; the checkout is tried again next pass', { cause: failed });
    return { checked, differing: differing.length, repaired, open: this.#open.size, providerResults };
  }

  /** Counts the kinds of a finding not already open, and marks them seen in this pass. */
  #count(finding: Finding, repairable: boolean, seen: Set<string>): void {
    const fresh = finding.kinds.filter((kind) => !this.#open.has(`${finding.checkoutId}/${kind}`));
    for (const kind of finding.kinds) {
      this.#open.set(`${finding.checkoutId}/${kind}`, kind);
      seen.add(`${finding.checkoutId}/${kind}`);
    }
    for (const kind of fresh) this.#metrics.detected.inc({ kind });
    if (fresh.length > 0) this.#o.events.onDetected?.({ ...finding, kinds: fresh, repairable });
  }

  #refreshUnrepairedGauge(): void {
    const counts = new Map<string, number>();
    for (const kind of this.#open.values()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
    this.#metrics.unrepaired.reset();
    for (const kind of UNREPAIRABLE_KINDS) this.#metrics.unrepaired.set({ kind }, 0);
    for (const [kind, n] of counts) this.#metrics.unrepaired.set({ kind }, n);
  }

  /** Runs a pass every intervalMs until stop(); a failed pass backs off (full jitter) and carries on. */
  start(): void {
    if (this.#running) throw new Error('reconciler already started');
    this.#running = true;
    this.#loopDone = this.#loop();
  }

  /** Stops after the pass in progress, if any, finishes. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    await this.#loopDone;
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      try {
        const summary = await this.runOnce();
        failures = 0;
        this.#o.events.onPass?.(summary);
      } catch (err) {
        failures++;
        this.#o.events.onError?.(err);
      }
      if (!this.#running) break;
      const waitMs =
        failures === 0
          ? this.#o.intervalMs
          : Math.max(100, jitteredDelayMs(failures, Math.min(this.#o.intervalMs, 1_000), 60_000));
      await delay(waitMs, undefined, { signal: this.#abort.signal }).catch(() => {});
    }
  }
}
