// The drill report a person reads (the JSON is for machines).

import type { DrillResult } from './runDrill.ts';

const mark = (ok: boolean) => (ok ? 'ok  ' : 'FAIL');

export function formatDrillReport(r: DrillResult): string {
  const lines = [
    '',
    `Firebreak drill — seed ${r.seed}, ${r.mode} stack, ledger failover: ${r.failoverMode} (node ${r.versions.node}, postgres ${r.versions.postgres})`,
    '',
    `  checkouts accepted     ${r.accepted}   (${r.rejected} not accepted, ${r.clientVisibleErrors} client-visible errors, ${r.clientRetries} client retries)`,
    `  outcomes               ${r.charged} charged, ${r.declined} declined, ${r.deadLettered} dead-lettered`,
    `  provider faults        declines ${pct(r.providerFaults.declineRate)}, errors ${pct(r.providerFaults.errorRate)}, errors after capture ${pct(r.providerFaults.errorAfterCaptureRate)}`,
    `  redeliveries           ${r.redeliveries}`,
    '',
    'Invariants (audited from the ledger, queue, provider record and event bus directly)',
    `  ${mark(r.lost === 0)} no loss              ${r.lost} accepted checkouts without a terminal state`,
    `  ${mark(r.doubleCharged === 0 && r.unbookedCaptures === 0)} no double charge     ${r.doubleCharged} double, ${r.unbookedCaptures} captures not booked`,
    `  ${mark(r.driftCents === 0 && r.unbalancedTransactions === 0)} cent-exact           drift ${r.driftCents} cents, ${r.unbalancedTransactions} unbalanced journal transactions`,
    `  ${mark(r.outOfOrder === 0)} per-creator order    ${r.outOfOrder} commits out of acceptance order`,
    `  ${mark(r.eventsMissing + r.eventsDuplicated + r.eventsForUncommitted + r.eventsOutOfOrder === 0)} events               ${r.eventsMissing} missing, ${r.eventsDuplicated} with two event ids, ${r.eventsForUncommitted} for uncommitted work, ${r.eventsOutOfOrder} out of order`,
    `                         on ${r.eventBus === 'kafka' ? 'Kafka (librdkafka mock cluster via kcat)' : 'the file sink (kcat not on the PATH)'}: ${r.events.committed} committed, ${r.events.published} published, ${r.events.distinct} distinct`,
    `  ${mark(r.renewals.periodsBilledTwice + r.renewals.wrongAmount + r.renewals.dueUnbilled + r.renewals.inFlight === 0)} renewals             ${r.renewals.subscriptions} subscriptions, ${r.renewals.charged} renewals charged, ${r.renewals.declined} declined, ${r.renewals.periodsBilledTwice} periods billed twice, ${r.renewals.dueUnbilled} due and unbilled`,
    '',
    'Performance',
    `  accept latency         p50 ${r.acceptLatencyMs.p50} ms, p99 ${r.acceptLatencyMs.p99} ms`,
    `  throughput             ${r.throughput.acceptedPerSec} accepted/s, ${r.throughput.settledPerSec} settled/s`,
    `  durations              boot ${secs(r.durationsMs.boot)}, traffic ${secs(r.durationsMs.traffic)}, settle ${secs(r.durationsMs.settle)}, total ${secs(r.durationsMs.total)}`,
  ];
  const scenarios = Object.entries(r.scenarios);
  if (scenarios.length > 0) {
    lines.push('', `Scenarios (recovery SLO ${r.recoverySloSec}s)`);
    for (const [name, result] of scenarios) {
      const recovery =
        result.recoveryMs === undefined
          ? ''
          : result.recoveryMs === null
            ? ' [never recovered]'
            : ` [recovered in ${(result.recoveryMs / 1000).toFixed(1)}s]`;
      lines.push(`  ${mark(result.verdict === 'pass')} ${name.padEnd(20)} ${result.summary}${recovery}`);
    }
  }
  if (r.violations.length > 0) {
    lines.push('', `Violations (${r.violations.length}):`);
    for (const v of r.violations.slice(0, 20)) lines.push(`  - ${v}`);
    if (r.violations.length > 20) lines.push(`  … and ${r.violations.length - 20} more (see --json)`);
  }
  if (r.workDir) lines.push('', `Kept for inspection: ${r.workDir} (service logs, provider record)`);
  lines.push('', `Verdict: ${r.verdict.toUpperCase()}`, '');
  return lines.join('\n');
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** JSON with bigint-safe encoding. */
export function drillResultJson(r: DrillResult): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
