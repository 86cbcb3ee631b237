// The fault catalogue through the real CLI, one drill per scenario with a
// small seeded burst: the scenario's own verdict and behaviour (no
// client-visible errors, no dead letters, recovery happened) and the drill's
// money audit after it (nothing lost, nothing charged twice). Timing targets
// (kill → first charge under 10 s, liveness under 100 ms) are measurements,
// recorded in docs/drills.md, not asserted here.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const reportDir = await mkdtemp(join(tmpdir(), 'firebreak-fault-reports-'));
after(() => rm(reportDir, { recursive: true, force: true }));

interface ScenarioJson {
  verdict: string;
  summary: string;
  measurements: Record<string, number | string | boolean | null>;
  violations: string[];
  recoveryMs?: number | null;
}

interface DrillJson {
  verdict: string;
  accepted: number;
  lost: number;
  doubleCharged: number;
  unbookedCaptures: number;
  driftCents: number;
  violations: string[];
  scenarios: Record<string, ScenarioJson>;
}

async function drill(
  scenario: string,
  seed: string,
  checkouts = 150,
): Promise<{ result: DrillJson; s: ScenarioJson }> {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        CLI,
        'drill',
        '--json',
        '--checkouts',
        String(checkouts),
        '--creators',
        '8',
        '--seed',
        seed,
        '--scenario',
        scenario,
        '--report-dir',
        reportDir,
      ],
      { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const result = JSON.parse(r.stdout) as DrillJson;
  const s = result.scenarios[scenario];
  assert.ok(s, `the scenario is reported under scenarios: ${Object.keys(result.scenarios).join(', ')}`);
  assert.equal(s.verdict, 'pass', s.violations.join('; '));
  assert.equal(result.verdict, 'pass', result.violations.join('; '));
  // The money audit across the fault.
  assert.equal(result.lost, 0);
  assert.equal(result.doubleCharged, 0);
  assert.equal(result.unbookedCaptures, 0);
  assert.equal(result.driftCents, 0);
  assert.match(r.stderr, new RegExp(`${scenario}: inject`));
  assert.match(r.stderr, new RegExp(`${scenario}: heal`));
  return { result, s };
}

test('drill --scenario primary-kill: the ledger dies under load, the API never errs, nothing dead-lettered, charges resume', async () => {
  const { s } = await drill('primary-kill', 'pk');
  const m = s.measurements;
  assert.equal(m.mode, 'restart');
  assert.equal(m.acceptedDuringFault, 100);
  assert.equal(m.clientErrorsDuringFault, 0);
  assert.equal(m.deadLettersCaused, 0);
  assert.equal(typeof m.killToFirstChargeMs, 'number', 'a charge committed after the kill');
  assert.equal(s.recoveryMs, m.killToFirstChargeMs);
});

test('drill --scenario db-latency: the services’ ledger round trips slow by the latency, nothing fails, throughput comes back', async () => {
  const { s } = await drill('db-latency', 'dl');
  const m = s.measurements;
  assert.equal(m.latencyMs, 500);
  assert.ok(Number(m.roundTripDuringMs) >= 450, `round trip during the fault: ${m.roundTripDuringMs} ms`);
  assert.ok(Number(m.roundTripAfterMs) < 450, `round trip after heal: ${m.roundTripAfterMs} ms`);
  assert.equal(m.clientErrors, 0);
  assert.equal(m.deadLettersCaused, 0);
  assert.equal(typeof m.healToFirstChargeMs, 'number');
});

test('drill --scenario worker-kill: the worker dies holding messages, they are redelivered and settle once', async () => {
  const { s } = await drill('worker-kill', 'wk');
  const m = s.measurements;
  assert.ok(Number(m.heldAtKill) > 0, 'the worker held messages when it was killed');
  assert.equal(typeof m.killToHeldSettledMs, 'number', 'every held message settled');
  assert.equal(typeof m.restartToFirstChargeMs, 'number');
  assert.equal(m.clientErrorsDuringFault, 0);
});

test('drill --scenario provider-outage: errors then a total outage; the breaker holds messages, none dead-lettered', async () => {
  const { s } = await drill('provider-outage', 'po');
  const m = s.measurements;
  assert.equal(m.chargedDuringOutage, 0, 'nothing charged while the provider was down');
  assert.ok(Number(m.chargedDuringErrors) > 0, 'charges got through the 50% errors');
  assert.equal(m.breakerOpened, true);
  assert.equal(m.deadLettersCaused, 0);
  assert.equal(m.clientErrorsDuringFault, 0);
  assert.equal(typeof m.healToFirstChargeMs, 'number');
});

test('drill --scenario retry-storm: no-backoff clients get 202 or 503 + Retry-After, liveness stays green, nothing accepted is lost', async () => {
  const { s } = await drill('retry-storm', 'rs', 100);
  const m = s.measurements;
  assert.ok(Number(m.requests) >= Number(m.accepted) && Number(m.accepted) > 0);
  assert.equal(m.otherErrors, 0);
  assert.equal(m.shedWithoutRetryAfter, 0);
  assert.ok(Number(m.livenessSamples) > 20, 'liveness was sampled throughout');
  assert.equal(m.livenessFailed, 0);
  assert.equal(m.lost, 0);
});
