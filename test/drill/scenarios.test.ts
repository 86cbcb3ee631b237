// Drill scenarios through the real CLI: a fault alongside seeded traffic,
// its result under "scenarios" in --json, and the money audit after it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { skipWithoutKcat } from '../helpers/kafka.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function drill(args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'drill', ...args], { timeout: 280_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

interface ScenarioJson {
  verdict: string;
  summary: string;
  measurements: Record<string, number | null>;
  violations: string[];
}

test(
  'drill --scenario kafka-outage: the broker hangs under traffic, checkouts keep committing, every event reaches the bus once',
  { skip: skipWithoutKcat },
  async () => {
    const r = await drill([
      '--json',
      '--checkouts',
      '200',
      '--creators',
      '8',
      '--seed',
      'ko',
      '--scenario',
      'kafka-outage',
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.doesNotMatch(r.stderr, /TimeoutNegativeWarning/, 'the known kafkajs timer warning is filtered');
    const result = JSON.parse(r.stdout) as {
      verdict: string;
      accepted: number;
      eventBus: string;
      events: { committed: number; distinct: number; missing: number; unexpected: number };
      scenarios: Record<string, ScenarioJson>;
    };
    assert.equal(result.verdict, 'pass');
    assert.equal(result.eventBus, 'kafka');
    const ko = result.scenarios['kafka-outage'];
    assert.ok(ko, 'the scenario is reported under scenarios');
    assert.equal(ko.verdict, 'pass', ko.violations.join('; '));
    assert.equal(ko.measurements.acceptedDuringOutage, 150);
    assert.equal(ko.measurements.clientErrorsDuringOutage, 0);
    assert.ok((ko.measurements.committedDuringOutage ?? 0) > 0, 'the worker committed without Kafka');
    assert.ok((ko.measurements.peakUnpublished ?? 0) > 0, 'the outbox held events during the outage');
    assert.equal(typeof ko.measurements.drainMs, 'number');
    // The scenario's own checkouts are audited with the drill's.
    assert.equal(result.accepted, 350);
    assert.equal(result.events.committed, result.events.distinct);
    assert.equal(result.events.missing, 0);
    assert.equal(result.events.unexpected, 0);
    assert.match(r.stderr, /scenario kafka-outage: PASS/);
  },
);

test('drill --scenario renewals: the scheduler clock jumps 40 days and every due period is billed exactly once', async () => {
  const r = await drill([
    '--json',
    '--checkouts',
    '200',
    '--creators',
    '6',
    '--seed',
    'rn',
    '--scenario',
    'renewals',
  ]);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const result = JSON.parse(r.stdout) as {
    verdict: string;
    renewals: { subscriptions: number; charged: number; periodsBilledTwice: number; dueUnbilled: number };
    scenarios: Record<string, ScenarioJson>;
  };
  assert.equal(result.verdict, 'pass');
  const rn = result.scenarios.renewals;
  assert.ok(rn, 'the scenario is reported under scenarios');
  assert.equal(rn.verdict, 'pass', rn.violations.join('; '));
  assert.ok((rn.measurements.subscriptions ?? 0) > 0);
  assert.ok((rn.measurements.renewalsCharged ?? 0) >= (rn.measurements.subscriptions ?? 0) / 2);
  assert.equal(rn.measurements.periodsBilledTwice, 0);
  assert.equal(rn.measurements.periodsMissing, 0);
  // The drill's own audit sees the same renewals at the scheduler's clock.
  assert.equal(result.renewals.charged, rn.measurements.renewalsCharged);
  assert.equal(result.renewals.dueUnbilled, 0);
});
