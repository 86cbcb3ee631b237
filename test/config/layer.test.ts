// FIREBREAK_CONFIG layering: tunables only from the file, bindings from the
// file unless the environment sets them, secret references resolved, and
// the services' own environment schemas still the last word.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadApiConfig, parseApiConfig } from '../../src/api/apiConfig.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { DEFAULT_CONFIG_DIR, namespaceFile } from '../../src/config/drillRecords.ts';
import { layerServiceConfig } from '../../src/config/layer.ts';
import { isFirebreakError } from '../../src/errors/index.ts';
import { parseRelayConfig } from '../../src/outbox/relayConfig.ts';

const WORKER_MAIN = fileURLToPath(new URL('../../src/worker/main.ts', import.meta.url));
const API_STAGING = namespaceFile(DEFAULT_CONFIG_DIR, 'api', 'staging');
const ENV = {
  QUEUE_DATABASE_URL: 'postgres://127.0.0.1:5/queue',
  ADMIN_KEY_SHA256: sha256('fba_test'),
  CATALOG_PATH: '/tmp/catalog.json',
};
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'firebreak-config-layer-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function apiNamespace(edit: (text: string) => string): Promise<string> {
  const file = join(dir, `api-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, edit(await readFile(API_STAGING, 'utf8')));
  return file;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID', String(err));
    return err.message;
  }
  assert.fail('expected FB_CONFIG_INVALID');
}

test('without FIREBREAK_CONFIG the environment alone configures the process, as before', () => {
  const layered = layerServiceConfig('api', { ...ENV, QUEUE_POOL_MAX: '25' });
  assert.equal(layered.namespace, null);
  assert.equal(parseApiConfig({ ...ENV, QUEUE_POOL_MAX: '25' }).QUEUE_POOL_MAX, 25);
  assert.equal(parseApiConfig(ENV).QUEUE_POOL_MAX, 10);
});

test("the namespace's tunables reach the service's config, and its hash comes along", async () => {
  const file = await apiNamespace((t) =>
    t.replace('max: 10', 'max: 7').replace('storeTimeoutMs: 5000', 'storeTimeoutMs: 4000'),
  );
  const loaded = loadApiConfig({ ...ENV, FIREBREAK_CONFIG: file });
  assert.equal(loaded.config.QUEUE_POOL_MAX, 7);
  assert.equal(loaded.config.API_STORE_TIMEOUT_MS, 4000);
  assert.equal(loaded.config.QUEUE_CONNECT_TIMEOUT_MS, 3000);
  assert.equal(
    loaded.config.QUEUE_DATABASE_URL,
    ENV.QUEUE_DATABASE_URL,
    'resolved from env:QUEUE_DATABASE_URL',
  );
  assert.match(loaded.namespace?.hash ?? '', /^sha256:/);
  assert.deepEqual(
    loaded.overridden,
    ['CATALOG_PATH'],
    "the environment's CATALOG_PATH wins over the file's path",
  );
});

test('a tunable set in the environment as well is refused unless it agrees with the file', async () => {
  const file = await apiNamespace((t) => t);
  const message = configError(() => parseApiConfig({ ...ENV, FIREBREAK_CONFIG: file, QUEUE_POOL_MAX: '20' }));
  assert.match(message, /QUEUE_POOL_MAX=20 is set but tunables\.queuePool\.max is 10/);
  assert.match(message, /Unset the variable, or change the file and promote it/);
  assert.equal(parseApiConfig({ ...ENV, FIREBREAK_CONFIG: file, QUEUE_POOL_MAX: '10' }).QUEUE_POOL_MAX, 10);
});

test('secret references: env: and file: are resolved, a missing one is named, never printed', async () => {
  const secretFile = join(dir, 'queue-url');
  await writeFile(secretFile, 'postgres://app:s3cret@127.0.0.1:6/queue\n');
  const file = await apiNamespace((t) =>
    t.replace('{ secretRef: env:QUEUE_DATABASE_URL }', `{ secretRef: "file:${secretFile}" }`),
  );
  const { QUEUE_DATABASE_URL: _unset, ...rest } = ENV;
  assert.equal(
    parseApiConfig({ ...rest, FIREBREAK_CONFIG: file }).QUEUE_DATABASE_URL,
    'postgres://app:s3cret@127.0.0.1:6/queue',
  );
  // The environment still wins for a connection URL (tests and drills point processes at their own databases).
  assert.equal(parseApiConfig({ ...ENV, FIREBREAK_CONFIG: file }).QUEUE_DATABASE_URL, ENV.QUEUE_DATABASE_URL);

  const missing = configError(() =>
    parseApiConfig({ CATALOG_PATH: 'c.json', FIREBREAK_CONFIG: API_STAGING }),
  );
  assert.match(
    missing,
    /bindings\.queueDatabaseUrl: secretRef env:QUEUE_DATABASE_URL is not set in the environment/,
  );
  await rm(secretFile);
  const unreadable = configError(() => parseApiConfig({ ...rest, FIREBREAK_CONFIG: file }));
  assert.match(unreadable, /bindings\.queueDatabaseUrl: secretRef file:.*queue-url cannot be read/);
  assert.doesNotMatch(unreadable, /s3cret/);
});

test("a process reads only its own service's namespace", () => {
  const message = configError(() =>
    parseApiConfig({ ...ENV, FIREBREAK_CONFIG: namespaceFile(DEFAULT_CONFIG_DIR, 'worker', 'staging') }),
  );
  assert.match(message, /service: must be api: this is read as the api namespace/);
});

test('the relay: its namespace passes through its own environment schema', () => {
  const config = parseRelayConfig({
    FIREBREAK_CONFIG: namespaceFile(DEFAULT_CONFIG_DIR, 'relay', 'staging'),
    LEDGER_DATABASE_URL: 'postgres://127.0.0.1:5/ledger',
    KAFKA_BROKERS: '127.0.0.1:9092',
  });
  assert.equal(config.EVENT_TOPIC_RETENTION_MS, 259_200_000);
  assert.equal(config.RELAY_RETRY_MAX_MS, 10_000);
  assert.deepEqual(config.KAFKA_BROKERS, ['127.0.0.1:9092']);
});

test('a worker started on an invalid namespace exits 2 with one line naming the file, line and key', async () => {
  const file = join(dir, 'worker', 'staging.yaml');
  await mkdir(join(dir, 'worker'), { recursive: true });
  await writeFile(
    file,
    (await readFile(namespaceFile(DEFAULT_CONFIG_DIR, 'worker', 'staging'), 'utf8')).replace(
      'timeoutMs: 5000',
      'timeoutMs: 5s',
    ),
  );
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', WORKER_MAIN],
      { env: { PATH: process.env.PATH ?? '', FIREBREAK_CONFIG: file }, timeout: 20_000 },
      (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
    );
  });
  assert.equal(code, 2, stderr);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(
    stderr,
    /^FB_CONFIG_INVALID: invalid config namespace: .*worker\/staging\.yaml:\d+:16: tunables\.provider\.timeoutMs: must be a number from 100 to 120000 ms \(got "5s"\)/,
  );
});
