// `firebreak config` as a user runs it: validate, diff and promote on a copy of
// config/, with drill records in a scratch state file; exit codes and output.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { globSync } from 'node:fs';
import { DEFAULT_CONFIG_DIR, recordDrillResult, stagingConfigHash } from '../../src/config/drillRecords.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'firebreak-config-cli-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function firebreak(args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A fresh copy of the repository's config/ and an empty state file location. */
async function workspace(name: string) {
  const dir = join(root, name, 'config');
  await cp(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  const state = join(root, name, 'drill-records.jsonl');
  const file = (service: string, env: string) => join(dir, service, `${env}.yaml`);
  const snapshot = async () =>
    Object.fromEntries(
      await Promise.all(globSync(join(dir, '*', '*.yaml')).map(async (f) => [f, await readFile(f, 'utf8')])),
    ) as Record<string, string>;
  return { dir, state, file, snapshot, flags: ['--dir', dir, '--state', state] };
}

test('validate: every namespace in the repository is valid', async () => {
  const r = await firebreak(['config', 'validate']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(
    r.stdout.match(/^ok {7}config\/\w+\/(staging|prod)\.yaml +[0-9a-f]{12}$/gm)?.length,
    8,
    r.stdout,
  );
  assert.match(r.stdout, /8 namespaces: 8 valid, 0 invalid/);
});

test('validate: an invalid namespace and a stray file, in text and JSON, exit 2', async () => {
  const w = await workspace('validate');
  const text = await readFile(w.file('api', 'prod'), 'utf8');
  await writeFile(w.file('api', 'prod'), text.replace('max: 10', 'max: 500'));
  await writeFile(join(w.dir, 'api', 'qa.yaml'), text);
  const r = await firebreak(['config', 'validate', '--dir', w.dir]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /^INVALID {2}.*api\/prod\.yaml$/m);
  assert.match(
    r.stdout,
    /api\/prod\.yaml:\d+:10: tunables\.queuePool\.max: must be at most 100 connections \(got 500\)/,
  );
  assert.match(
    r.stdout,
    /STRAY .*api\/qa\.yaml: not a namespace file \(expected staging\.yaml or prod\.yaml\)/,
  );
  assert.match(r.stdout, /8 namespaces: 7 valid, 1 invalid; 1 stray file/);

  const j = await firebreak([
    'config',
    'validate',
    '--dir',
    w.dir,
    '--service',
    'api',
    '--env',
    'prod',
    '--json',
  ]);
  assert.equal(j.code, 2);
  const doc = JSON.parse(j.stdout) as {
    ok: boolean;
    namespaces: { ok: boolean; problems: { path: string; line: number }[] }[];
  };
  assert.equal(doc.ok, false);
  assert.equal(doc.namespaces.length, 1);
  assert.equal(doc.namespaces[0]?.problems[0]?.path, 'tunables.queuePool.max');
  assert.equal(typeof doc.namespaces[0]?.problems[0]?.line, 'number');

  const bad = await firebreak(['config', 'validate', '--service', 'billing']);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^FB_USAGE: --service: must be one of api, worker, relay, scheduler \(got "billing"\)/,
  );
});

test('diff: key by key, tunables apart from bindings, and as JSON', async () => {
  const w = await workspace('diff');
  const text = await readFile(w.file('worker', 'staging'), 'utf8');
  await writeFile(w.file('worker', 'staging'), text.replace('timeoutMs: 5000', 'timeoutMs: 3000'));
  const r = await firebreak(['config', 'diff', '--service', 'worker', '--dir', w.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /tunables \(promoted\): staging [0-9a-f]{12}, prod [0-9a-f]{12}: 1 differ\n {2}~ tunables\.provider\.timeoutMs: 3000 -> 5000/,
  );
  // ledger, queue and provider URLs; the queue backend (staging postgres, prod sqs) and prod's SQS queues and region.
  assert.match(r.stdout, /bindings \(kept per environment\): 7 differ/);
  assert.match(
    r.stdout,
    /~ bindings\.ledgerDatabaseUrl: \{ secretRef: env:LEDGER_DATABASE_URL \} -> \{ secretRef: file:\/run\/secrets\/ledger-database-url \}/,
  );
  const j = await firebreak(['config', 'diff', '--service', 'worker', '--dir', w.dir, '--json']);
  const doc = JSON.parse(j.stdout) as {
    tunablesIdentical: boolean;
    changes: { path: string; promoted: boolean; from: unknown; to: unknown }[];
  };
  assert.equal(doc.tunablesIdentical, false);
  assert.deepEqual(doc.changes[0], {
    path: 'tunables.provider.timeoutMs',
    kind: 'changed',
    from: 3000,
    to: 5000,
    promoted: true,
  });
});

test('promote: refused without a drill record, refused after a failed drill, naming what is missing', async () => {
  const w = await workspace('refused');
  const text = await readFile(w.file('worker', 'staging'), 'utf8');
  await writeFile(w.file('worker', 'staging'), text.replace('timeoutMs: 5000', 'timeoutMs: 250'));
  const before = await w.snapshot();
  const hash = stagingConfigHash('worker', { configDir: w.dir });

  const none = await firebreak(['config', 'promote', '--service', 'worker', '--to', 'prod', ...w.flags]);
  assert.equal(none.code, 1);
  assert.equal(
    none.stderr.trim(),
    `FB_CONFIG_NOT_PROMOTABLE: worker: staging config ${hash} (${join(w.dir, 'worker', 'staging.yaml')}) has no staging drill on record in ${w.state}. Run "firebreak drill --config staging" to drill this exact content; it records the result, and a passing one makes it promotable.`,
  );

  await recordDrillResult(
    {
      config: w.file('worker', 'staging'),
      verdict: 'fail',
      seed: '42',
      drill: 'firebreak drill --config staging',
      summary: '0/30 checkouts settled in 20s',
      violations: ['30 of 30 checkouts did not settle within the 20s SLO'],
      at: new Date('2026-11-20T03:00:00Z'),
    },
    { stateFile: w.state },
  );
  const failed = await firebreak([
    'config',
    'promote',
    '--service',
    'worker',
    '--to',
    'prod',
    ...w.flags,
    '--json',
  ]);
  assert.equal(failed.code, 1);
  const doc = JSON.parse(failed.stdout) as { promoted: boolean; error: { code: string; message: string } };
  assert.equal(doc.promoted, false);
  assert.equal(doc.error.code, 'FB_CONFIG_NOT_PROMOTABLE');
  assert.match(
    doc.error.message,
    /failed its latest staging drill \(firebreak drill --config staging, seed 42, at 2026-11-20T03:00:00\.000Z\): 0\/30 checkouts settled in 20s \[30 of 30 checkouts did not settle within the 20s SLO\]/,
  );
  assert.deepEqual(await w.snapshot(), before, 'a refused promotion writes nothing');
});

test('promote: a passing drill of exactly this content writes prod, keeping its bindings, touching nothing else', async () => {
  const w = await workspace('promoted');
  const staging = (await readFile(w.file('worker', 'staging'), 'utf8')).replace(
    'concurrency: 16 # messages',
    'concurrency: 24 # messages',
  );
  // A pass for the content before the change proves nothing about the change.
  await recordDrillResult(
    { config: w.file('worker', 'staging'), verdict: 'pass', seed: '1', drill: 'test', summary: 'ok' },
    { stateFile: w.state },
  );
  await writeFile(w.file('worker', 'staging'), staging);
  const stale = await firebreak(['config', 'promote', '--service', 'worker', '--to', 'prod', ...w.flags]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /has no staging drill on record/);

  await recordDrillResult(
    {
      config: w.file('worker', 'staging'),
      verdict: 'pass',
      seed: '7',
      drill: 'test drill',
      summary: 'all settled',
    },
    { stateFile: w.state },
  );
  const before = await w.snapshot();
  const dry = await firebreak([
    'config',
    'promote',
    '--service',
    'worker',
    '--to',
    'prod',
    '--dry-run',
    ...w.flags,
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would promote staging -> prod.*\(dry run: nothing written\)/);
  assert.deepEqual(await w.snapshot(), before);

  const r = await firebreak(['config', 'promote', '--service', 'worker', '--to', 'prod', ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^promoted worker staging -> prod: .*prod\.yaml now carries [0-9a-f]{12} \(was [0-9a-f]{12}\)$/m,
  );
  assert.match(r.stdout, /proof: test drill, seed 7, at .*: pass \(all settled\)/);
  assert.match(r.stdout, /~ tunables\.concurrency: 16 -> 24/);
  const after = await w.snapshot();
  const prod = after[w.file('worker', 'prod')] ?? '';
  assert.match(prod, /concurrency: 24 # messages \(hence creators\) charged at once/);
  assert.match(prod, /^env: prod$/m);
  assert.match(prod, /ledgerDatabaseUrl: \{ secretRef: file:\/run\/secrets\/ledger-database-url \}/);
  assert.match(prod, /^# tunables: written only by: firebreak config promote/m, "prod's own header stays");
  for (const [f, text] of Object.entries(before))
    if (f !== w.file('worker', 'prod')) assert.equal(after[f], text, `${f} must not change`);

  const diff = await firebreak(['config', 'diff', '--service', 'worker', '--dir', w.dir]);
  assert.match(diff.stdout, /tunables \(promoted\): .*: identical/);
  const again = await firebreak(['config', 'promote', '--service', 'worker', '--to', 'prod', ...w.flags]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already carries staging's tunables [0-9a-f]{12}; nothing written/);
});

test('promote: bad usage and a damaged state file', async () => {
  const w = await workspace('usage');
  const toStaging = await firebreak(['config', 'promote', '--service', 'api', '--to', 'staging', ...w.flags]);
  assert.equal(toStaging.code, 2);
  assert.match(toStaging.stderr, /^FB_USAGE: --to: only prod is promoted to/);
  const noService = await firebreak(['config', 'promote', '--to', 'prod', ...w.flags]);
  assert.equal(noService.code, 2);
  assert.match(noService.stderr, /^FB_USAGE: --service: must be one of/);
  await appendFile(w.state, '{"service":"api","verdict":"pass"}\n');
  const damaged = await firebreak(['config', 'promote', '--service', 'api', '--to', 'prod', ...w.flags]);
  assert.equal(damaged.code, 2);
  assert.match(
    damaged.stderr,
    /^FB_CONFIG_INVALID: .*drill-records\.jsonl:1: not a drill record \(env: .*remove the line and re-run firebreak drill --config staging/,
  );
  const sub = await firebreak(['config', 'push']);
  assert.equal(sub.code, 2);
  assert.match(
    sub.stderr,
    /^FB_USAGE: firebreak config: expected "validate", "diff" or "promote", got "push"/,
  );
});
