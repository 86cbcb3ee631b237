// The API as a real process (`node src/api/main.ts`): real HTTP on loopback,
// the ready message over IPC, graceful stop on SIGTERM, and bad configuration
// refused with exit code 2 and one line.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseApiConfig } from '../../src/api/apiConfig.ts';
import { checkoutIdFor } from '../../src/api/checkoutId.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { ADMIN_KEY, amountBody, catalogDocument, CREATOR_A } from './apiFixture.ts';

const MAIN = fileURLToPath(new URL('../../src/api/main.ts', import.meta.url));
let workDir: string;
let catalogPath: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'firebreak-api-main-'));
  catalogPath = join(workDir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(catalogDocument));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (err, _stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr });
      },
    );
  });
}

test('the API process serves real HTTP on loopback and stops gracefully on SIGTERM', async () => {
  const logFile = join(workDir, 'api.log');
  const api = new ServiceProcess({
    name: 'api',
    entry: MAIN,
    env: {
      QUEUE_DATABASE_URL: await freshDatabase(),
      CATALOG_PATH: catalogPath,
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
      LOG_LEVEL: 'info',
    },
    logFile,
  });
  const ready = await api.start();
  try {
    assert.equal(typeof ready.port, 'number');
    assert.equal(typeof ready.adminPort, 'number');
    assert.notEqual(ready.port, ready.adminPort);
    const base = `http://127.0.0.1:${String(ready.port)}`;
    const adminBase = `http://127.0.0.1:${String(ready.adminPort)}`;

    const created = await fetch(`${base}/v1/checkouts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CREATOR_A.apiKey}`,
        'idempotency-key': 'process-1',
        'content-type': 'application/json',
      },
      body: JSON.stringify(amountBody()),
    });
    assert.equal(created.status, 202, await created.clone().text());
    const { checkoutId } = (await created.json()) as { checkoutId: string };
    assert.equal(checkoutId, checkoutIdFor(CREATOR_A.id, 'process-1'));

    const status = await fetch(`${base}/v1/checkouts/${checkoutId}`, {
      headers: { authorization: `Bearer ${CREATOR_A.apiKey}` },
    });
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { status: string }).status, 'queued');

    assert.equal((await fetch(`${adminBase}/livez`)).status, 200);
    assert.equal((await fetch(`${adminBase}/readyz`)).status, 200);
    const metrics = await (await fetch(`${adminBase}/metrics`)).text();
    assert.match(metrics, /firebreak_api_checkouts_accepted_total\{replayed="false"\} 1/);
    assert.match(metrics, /process_cpu_user_seconds_total/);
    const dlq = await fetch(`${adminBase}/v1/admin/dlq`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(dlq.status, 200);
    const asCreator = await fetch(`${adminBase}/v1/admin/dlq`, {
      headers: { authorization: `Bearer ${CREATOR_A.apiKey}` },
    });
    assert.equal(asCreator.status, 403);
  } finally {
    await api.stop();
  }
  assert.equal(api.running, false);
  const log = await readFile(logFile, 'utf8');
  assert.match(log, /checkout API stopped/);
  assert.doesNotMatch(log, new RegExp(CREATOR_A.apiKey), 'the API key never reaches the log');
  assert.doesNotMatch(log, new RegExp(ADMIN_KEY), 'nor the admin key');
});

test('missing or bad configuration exits 2 with one line naming the variable', async () => {
  const missing = await runMain({ CATALOG_PATH: catalogPath, ADMIN_KEY_SHA256: sha256(ADMIN_KEY) });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^FB_CONFIG_INVALID: .*QUEUE_DATABASE_URL is required[^\n]*\n$/);

  const bad = await runMain({
    QUEUE_DATABASE_URL: 'postgres://127.0.0.1:1/queue',
    CATALOG_PATH: catalogPath,
    ADMIN_KEY_SHA256: ADMIN_KEY,
    API_PORT: 'eighty',
  });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /API_PORT must be/);
  assert.match(bad.stderr, /ADMIN_KEY_SHA256 must be the lowercase hex sha256 digest/);
  assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/, 'no stack');
});

test('an unreadable catalog exits 2 naming the file', async () => {
  const result = await runMain({
    QUEUE_DATABASE_URL: 'postgres://127.0.0.1:1/queue',
    CATALOG_PATH: join(workDir, 'missing.json'),
    ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^FB_CONFIG_INVALID: cannot read catalog file .*missing\.json/);
});

test('the API listens on loopback unless told otherwise', () => {
  const config = parseApiConfig({
    QUEUE_DATABASE_URL: 'postgres://h/db',
    CATALOG_PATH: 'c.json',
    ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
  });
  assert.equal(config.API_HOST, '127.0.0.1');
  assert.equal(config.API_PORT, 0);
  assert.equal(config.API_ADMIN_PORT, 0);
  assert.equal(config.LOG_LEVEL, 'info');
});
