// A complete DrillResult for report and paging tests, with a timeline that
// has one fault window and a recovery mark. Override what a test needs.

import type { DrillResult } from '../../src/drill/runDrill.ts';

export function sampleDrillResult(over: Partial<DrillResult> = {}): DrillResult {
  const samples = Array.from({ length: 40 }, (_, i) => ({
    atMs: 1_000 + i * 500,
    accepted: i * 20,
    committed: i < 15 || i > 25 ? i * 18 : null,
    clientErrors: i === 20 ? 3 : i > 20 ? 3 : 0,
    deadLettered: 0,
  }));
  return {
    verdict: 'pass',
    seed: 'seed-1',
    mode: 'embedded',
    failoverMode: 'restart',
    accepted: 780,
    charged: 700,
    declined: 80,
    deadLettered: 0,
    lost: 0,
    doubleCharged: 0,
    unbookedCaptures: 0,
    driftCents: 0,
    unbalancedTransactions: 0,
    outOfOrder: 0,
    eventBus: 'kafka',
    eventsMissing: 0,
    eventsDuplicated: 0,
    eventsForUncommitted: 0,
    eventsOutOfOrder: 0,
    events: { committed: 780, published: 790, distinct: 780, missing: 0, unexpected: 0 },
    renewals: {
      subscriptions: 10,
      charged: 12,
      declined: 1,
      periodsBilledTwice: 0,
      wrongAmount: 0,
      dueUnbilled: 0,
      inFlight: 0,
    },
    rejected: 0,
    clientVisibleErrors: 3,
    clientRetries: 3,
    redeliveries: 2,
    acceptLatencyMs: { p50: 2.1, p99: 9.5 },
    throughput: { acceptedPerSec: 40, settledPerSec: 36 },
    durationsMs: { boot: 3_000, traffic: 20_000, settle: 1_000, total: 25_000 },
    providerFaults: { declineRate: 0.08, errorRate: 0.05, errorAfterCaptureRate: 0.02, latencyMs: 0 },
    recoverySloSec: 300,
    config: null,
    scenarios: {
      'primary-kill': {
        verdict: 'pass',
        summary: 'ledger primary SIGKILLed <b>under load</b>; first charge 4.2s later',
        measurements: { killToFirstChargeMs: 4_200, clientErrors: 0 },
        violations: [],
        recoveryMs: 4_200,
      },
    },
    violations: [],
    timeline: {
      marks: [
        { atMs: 1_000, scenario: null, event: 'phase', detail: 'stack up' },
        { atMs: 8_500, scenario: 'primary-kill', event: 'inject', detail: 'SIGKILL the ledger primary' },
        { atMs: 13_000, scenario: 'primary-kill', event: 'heal', detail: 'primary restarted' },
        { atMs: 13_700, scenario: 'primary-kill', event: 'recovered', detail: 'first charge committed' },
      ],
      samples,
    },
    versions: { node: 'v24.0.0', postgres: '18.4' },
    workDir: null,
    ...over,
  };
}
