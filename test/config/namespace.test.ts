// Config namespaces: the repository's files validate, every key feeds a
// variable the service reads, and every kind of bad input is reported with
// the file, line, column, key path and what is expected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { contentHash } from '../../src/config/contentHash.ts';
import { DEFAULT_CONFIG_DIR, namespaceFile } from '../../src/config/drillRecords.ts';
import { ENVIRONMENTS } from '../../src/config/fields.ts';
import { formatProblem, parseNamespace, readNamespace } from '../../src/config/namespace.ts';
import { looksLikeSecret } from '../../src/config/secretRef.ts';
import { SERVICE_SPECS, SERVICES } from '../../src/config/services/index.ts';

const repoText = (service: (typeof SERVICES)[number], env: 'staging' | 'prod') =>
  readFileSync(namespaceFile(DEFAULT_CONFIG_DIR, service, env), 'utf8');

function problemsOf(text: string, file = 'config/worker/staging.yaml') {
  const result = parseNamespace(text, file, { env: 'staging' });
  assert.equal(result.ok, false, 'expected the namespace to be refused');
  return result.ok ? [] : result.problems.map(formatProblem);
}

test('every namespace in config/ validates, and staging and prod carry the same tunables', () => {
  for (const service of SERVICES) {
    const hashes = ENVIRONMENTS.map((env) => {
      const result = readNamespace(namespaceFile(DEFAULT_CONFIG_DIR, service, env), { service, env });
      assert.ok(
        result.ok,
        `${service}/${env}: ${result.ok ? '' : result.problems.map(formatProblem).join('\n')}`,
      );
      return result.ok ? result.namespace.hash : '';
    });
    assert.equal(hashes[0], hashes[1], `${service}: prod is staging's tunables, promoted`);
  }
});

/** Leaf paths of a schema: objects are walked, anything else is a leaf. */
function leafPaths(schema: z.ZodType, prefix: string[]): string[] {
  let s: unknown = schema;
  const def = (s as { def?: { type?: string; innerType?: unknown } }).def;
  if (def?.type === 'optional') s = def.innerType;
  const shape = (s as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) return [prefix.join('.')];
  return Object.entries(shape).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

test('every key of every schema feeds exactly one environment variable, and no variable is mapped twice', () => {
  for (const spec of Object.values(SERVICE_SPECS)) {
    const leaves = [
      ...leafPaths(spec.bindings, ['bindings']),
      ...leafPaths(spec.tunables, ['tunables']),
    ].sort();
    const mapped = spec.envVars.map((b) => b.path.join('.')).sort();
    assert.deepEqual(mapped, leaves, `${spec.service}: a key no variable reads is a key nothing reads`);
    const vars = spec.envVars.map((b) => b.env);
    assert.equal(new Set(vars).size, vars.length, `${spec.service}: a variable mapped twice`);
  }
});

test('a type error, a range error, an unknown key and a missing key are each reported where they are', () => {
  const text = `service: worker
env: staging
bindings:
  logLevel: loud
  ledgerDatabaseUrl: { secretRef: env:LEDGER_DATABASE_URL }
  queueDatabaseUrl: { secretRef: env:QUEUE_DATABASE_URL }
  providerUrl: { secretRef: env:PSP_URL }
tunables:
  concurrency: "16"
  queue:
    visibilityTimeoutSec: 300
  provider:
    timeoutMs: 1
    retries: 3
`;
  assert.deepEqual(problemsOf(text), [
    'config/worker/staging.yaml:4:13: bindings.logLevel: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    'config/worker/staging.yaml:9:16: tunables.concurrency: must be a number from 1 to 256 (got "16")',
    'config/worker/staging.yaml:11:5: tunables.queue.maxReceiveCount: is required: must be a number from 2 to 100 receives',
    'config/worker/staging.yaml:13:16: tunables.provider.timeoutMs: must be at least 100 ms (got 1)',
    'config/worker/staging.yaml:14:5: tunables.provider.retries: unknown key (expected one of: timeoutMs)',
  ]);
});

test('a literal secret is refused wherever it is, and never echoed', () => {
  const text = repoText('worker', 'staging')
    .replace('{ secretRef: env:LEDGER_DATABASE_URL }', 'postgres://app:hunter2@ledger.internal:5432/ledger')
    .replace('{ secretRef: env:QUEUE_DATABASE_URL }', '{ secretRef: "postgres://app:hunter2@queue/q" }')
    .replace(
      'providerUrl: { secretRef: env:PSP_URL }',
      'providerUrl: https://psp:sk_live_abc@psp.example.com',
    );
  const problems = problemsOf(text);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(
    problems[0]!,
    /bindings\.ledgerDatabaseUrl: is a secret: give a reference .* never the value itself \(this looks like a URL with a password in it/,
  );
  assert.match(problems[1]!, /bindings\.queueDatabaseUrl\.secretRef: is a secret value, not a reference/);
  assert.match(problems[2]!, /bindings\.providerUrl: holds what looks like a URL with a password in it/);
  for (const p of problems) assert.doesNotMatch(p, /hunter2|sk_live/);

  // Under a key the schema does not know, too.
  const stray = problemsOf(
    repoText('worker', 'staging').replace('\ntunables:', '\napiKey: fbk_live_0123456789abcdef\ntunables:'),
  );
  assert.ok(stray.some((p) => /apiKey: unknown key/.test(p)));
  assert.ok(
    stray.some((p) => /apiKey: looks like a Firebreak API, admin or control key/.test(p)),
    stray.join('\n'),
  );
});

test('YAML errors, an empty file, a wrong service, a wrong environment and a cross-field rule', () => {
  assert.deepEqual(problemsOf('service: worker\nenv: staging\nenv: prod\n'), [
    'config/worker/staging.yaml:3:1: YAML: Map keys must be unique',
  ]);
  assert.match(problemsOf('tunables: [1, 2\n')[0]!, /^config\/worker\/staging\.yaml:\d+:\d+: YAML: /);
  assert.deepEqual(problemsOf(''), [
    'config/worker/staging.yaml: the file is empty: expected a mapping with service, env, bindings and tunables',
  ]);
  const asWorker = parseNamespace(repoText('api', 'staging'), 'x.yaml', { service: 'worker' });
  assert.equal(asWorker.ok, false);
  assert.match(
    asWorker.ok ? '' : formatProblem(asWorker.problems[0]!),
    /service: must be worker: this is read as the worker namespace, and a service reads only its own/,
  );
  assert.deepEqual(problemsOf(repoText('worker', 'prod')), [
    'config/worker/staging.yaml:9:6: env: must be staging: the file name says staging (got "prod")',
  ]);
  const tight = repoText('api', 'staging').replace('storeTimeoutMs: 5000', 'storeTimeoutMs: 2000');
  assert.match(
    problemsOf(tight, 'config/api/staging.yaml')[0]!,
    /tunables\.queuePool\.connectTimeoutMs: must be less than tunables\.http\.storeTimeoutMs \(2000 ms\)/,
  );
});

test('the content hash ignores comments, layout and bindings, and changes with any tunable', () => {
  const base = parseNamespace(repoText('api', 'staging'), 'a.yaml');
  assert.ok(base.ok);
  const hashOf = (text: string) => {
    const r = parseNamespace(text, 'a.yaml');
    assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
    return r.ok ? r.namespace.hash : '';
  };
  const text = repoText('api', 'staging');
  assert.equal(hashOf(text.replaceAll(/ #.*$/gm, '').replace('  http:', '\n\n  http:')), base.namespace.hash);
  assert.equal(hashOf(text.replace('logLevel: info', 'logLevel: debug')), base.namespace.hash);
  assert.notEqual(hashOf(text.replace('max: 10', 'max: 11')), base.namespace.hash);
  assert.equal(contentHash(base.namespace.document), base.namespace.hash);
  assert.match(base.namespace.hash, /^sha256:[0-9a-f]{64}$/);
});

test('what counts as a literal secret', () => {
  for (const s of [
    'postgres://u:p@h/db',
    'fbk_drill_abc',
    'sk_live_123',
    'AKIAABCDEFGHIJKLMNOP',
    '0123456789abcdef0123456789abcdef',
    '-----BEGIN RSA PRIVATE KEY-----',
  ])
    assert.ok(looksLikeSecret(s), s);
  for (const s of [
    'postgres://h/db',
    'checkout-events',
    '/etc/firebreak/catalog.json',
    'info',
    'kafka-0:9092',
  ])
    assert.equal(looksLikeSecret(s), null, s);
});
