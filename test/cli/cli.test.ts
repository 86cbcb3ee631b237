// The firebreak command as a user runs it: a real process, its exit code, its output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function firebreak(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 240_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const usageCases: [string, string[], RegExp][] = [
  [
    'a non-numeric --checkouts',
    ['drill', '--checkouts', 'abc'],
    /^FB_USAGE: --checkouts: must be a whole number/,
  ],
  ['a zero --checkouts', ['drill', '--checkouts', '0'], /^FB_USAGE: --checkouts: must be between 1 and/],
  [
    'a rate above 1',
    ['drill', '--decline-rate', '1.5'],
    /^FB_USAGE: --decline-rate: must be a decimal between 0 and 1/,
  ],
  [
    'an unknown flag',
    ['drill', '--checkout', '5'],
    /^FB_USAGE: firebreak drill: Unknown option '--checkout'/,
  ],
  [
    'an unknown scenario',
    ['drill', '--scenario', 'kafka-outag'],
    /^FB_USAGE: --scenario: unknown scenario "kafka-outag"; known: .*kafka-outage.*, or all/,
  ],
  [
    'an empty scenario name',
    ['drill', '--scenario', 'kafka-outage,'],
    /^FB_USAGE: --scenario: empty scenario name/,
  ],
  ['an unknown command', ['dril'], /^FB_USAGE: unknown command "dril"/],
  ['dlq without a subcommand', ['dlq'], /^FB_USAGE: firebreak dlq: expected "list" or "redrive"/],
  [
    'dlq list without a queue URL',
    ['dlq', 'list'],
    /^FB_USAGE: --queue-url: is required \(or set QUEUE_DATABASE_URL\)/,
  ],
];

for (const [name, args, message] of usageCases) {
  test(`bad usage exits 2 with a clear message: ${name}`, async () => {
    const r = await firebreak(args, { QUEUE_DATABASE_URL: '' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}

test('help lists the commands', async () => {
  const r = await firebreak(['help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /firebreak drill/);
  assert.match(r.stdout, /firebreak dlq list/);
  assert.match(r.stdout, /--scenario NAME/);
  assert.match(r.stdout, /kafka-outage/);
});

test('drill --json prints one JSON document with the verdict and counts, and cleans up', async (t) => {
  // Its own TMPDIR, so other test files running at the same time cannot confuse the clean-up check.
  const ownTmp = await mkdtemp(join(tmpdir(), 'cli-drill-'));
  await chmod(ownTmp, 0o777); // the Postgres servers run as the "postgres" user when we are root
  t.after(() => rm(ownTmp, { recursive: true, force: true }));
  const reports = await mkdtemp(join(tmpdir(), 'cli-drill-reports-'));
  t.after(() => rm(reports, { recursive: true, force: true }));
  const r = await firebreak(
    ['drill', '--json', '--checkouts', '40', '--creators', '4', '--seed', 'cli', '--report-dir', reports],
    { TMPDIR: ownTmp },
  );
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(result.verdict, 'pass');
  assert.equal(result.accepted, 40);
  for (const key of [
    'charged',
    'declined',
    'deadLettered',
    'lost',
    'doubleCharged',
    'driftCents',
    'outOfOrder',
  ]) {
    assert.equal(typeof result[key], 'number', key);
  }
  assert.equal(
    (result.charged as number) + (result.declined as number) + (result.deadLettered as number),
    40,
  );
  assert.match(r.stderr, /traffic: 40\/40 sent/, 'progress goes to stderr');
  assert.deepEqual(await readdir(ownTmp), [], 'no files or directories left behind');
  const [runDir = ''] = await readdir(reports);
  assert.ok(runDir.startsWith('drill-'), 'the run wrote its report directory');
  assert.deepEqual((await readdir(join(reports, runDir))).sort(), [
    'journal.json',
    'report.html',
    'summary.md',
  ]);
  assert.match(r.stderr, /report: .*report\.html/);
});
