// The row-rewrite scenario through the real CLI, in a small drill: the
// nightly job's rewrite and retry against the whole embedded stack, the
// reconciler process catching it, and the drill's audit after it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

test('drill --scenario row-rewrite: rewritten rows are detected, restored, never captured twice, and counted for the alert', async () => {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        CLI,
        'drill',
        '--json',
        '--checkouts',
        '120',
        '--creators',
        '5',
        '--seed',
        'rr-test',
        '--scenario',
        'row-rewrite',
      ],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const result = JSON.parse(r.stdout) as {
    verdict: string;
    doubleCharged: number;
    unbookedCaptures: number;
    driftCents: number;
    scenarios: Record<
      string,
      {
        verdict: string;
        violations: string[];
        measurements: Record<string, number | boolean | null>;
        recoveryMs: number;
      }
    >;
  };
  assert.equal(result.verdict, 'pass');
  const rr = result.scenarios['row-rewrite'];
  assert.ok(rr, 'the scenario is reported under scenarios');
  assert.equal(rr.verdict, 'pass', rr.violations.join('; '));
  const m = rr.measurements;
  const rows = m.rowsRewritten as number;
  assert.ok(rows >= 3 && rows <= 6);
  assert.equal(m.rowsRestored, rows);
  assert.equal(m.repairAuditRows, rows);
  assert.equal(m.secondCaptures, 0);
  assert.equal(m.ledgerCharges, rows);
  assert.equal(m.retriesSettled, true);
  assert.ok((m.tamperingAlertIncrement as number) >= rows);
  assert.equal(typeof m.detectionMs, 'number');
  assert.ok((m.repairMs as number) >= (m.detectionMs as number));
  assert.equal(rr.recoveryMs, m.repairMs);
  // And the drill's own audit agrees: nothing captured twice, every cent where it was.
  assert.equal(result.doubleCharged, 0);
  assert.equal(result.unbookedCaptures, 0);
  assert.equal(result.driftCents, 0);
  assert.match(r.stderr, /row-rewrite: inject/);
  assert.match(r.stderr, /row-rewrite: recovered/);
});
