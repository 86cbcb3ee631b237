// The reconciler's metrics. ledger_tampering_detected_total is what the
// LedgerTamperingDetected alert reads (deploy/prometheus/rules.yml); every
// kind exists at 0 from the first scrape, because a counter that appears at 1
// is invisible to increase().

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DISCREPANCY_KINDS, UNREPAIRABLE_KINDS } from './truth.ts';

export interface ReconcilerMetrics {
  readonly detected: Counter<'kind'>;
  readonly repairs: Counter;
  readonly unrepaired: Gauge<'kind'>;
  readonly passes: Counter<'outcome'>;
  readonly passDuration: Histogram;
  readonly lastSuccess: Gauge;
  readonly checked: Gauge;
}

export function createReconcilerMetrics(registry: Registry): ReconcilerMetrics {
  const m: ReconcilerMetrics = {
    detected: new Counter({
      name: 'ledger_tampering_detected_total',
      help: 'Discrepancies found between the ledger and the provider record (or inside the ledger books), by kind; each checkout and kind counted once.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    repairs: new Counter({
      name: 'ledger_reconciliation_repairs_total',
      help: 'Checkouts whose ledger rows the reconciler restored (one reconciliation_repairs row each).',
      registers: [registry],
    }),
    unrepaired: new Gauge({
      name: 'ledger_reconciliation_unrepaired',
      help: 'Discrepancies found in the last pass that the reconciler cannot repair and left for a person, by kind.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    passes: new Counter({
      name: 'ledger_reconciliation_passes_total',
      help: 'Reconciliation passes over the whole ledger, by outcome (ok, error).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    passDuration: new Histogram({
      name: 'ledger_reconciliation_pass_duration_seconds',
      help: 'Duration of one pass: read the ledger, refresh the provider record, compare, repair.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'ledger_reconciliation_last_success_timestamp_seconds',
      help: 'Unix time the last pass completed; a stale value means nothing is watching the ledger.',
      registers: [registry],
    }),
    checked: new Gauge({
      name: 'ledger_reconciliation_checkouts_checked',
      help: 'Checkouts compared with the provider record in the last pass.',
      registers: [registry],
    }),
  };
  for (const kind of DISCREPANCY_KINDS) m.detected.inc({ kind }, 0);
  for (const kind of UNREPAIRABLE_KINDS) m.unrepaired.set({ kind }, 0);
  m.passes.inc({ outcome: 'ok' }, 0);
  m.passes.inc({ outcome: 'error' }, 0);
  return m;
}
