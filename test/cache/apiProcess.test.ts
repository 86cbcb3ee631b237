// The API process with REDIS_URL: it migrates and syncs the lookup tables in
// its own database, serves the catalog lookups through Redis under keys
// prefixed with its environment, exports the cache metrics, and stops
// cleanly. A bad REDIS_URL is refused at start (exit 2, one line); without
// REDIS_URL there are no lookup routes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sha256 } from '../../src/catalog/index.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { sharedRedis } from '../helpers/redis.ts';
import { ADMIN_KEY, CREATOR_A, catalogDocument } from '../api/apiFixture.ts';

const MAIN = fileURLToPath(new URL('../../src/api/main.ts', import.meta.url));
let workDir: string;
let catalogPath: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'firebreak-cache-api-'));
  catalogPath = join(workDir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(catalogDocument));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

test(
  'with REDIS_URL the API serves price lists through Redis and exports the cache metrics',
  { timeout: 60_000 },
  async () => {
    const redisUrl = (await sharedRedis()).url();
    const api = new ServiceProcess({
      name: 'api',
      entry: MAIN,
      env: {
        QUEUE_DATABASE_URL: await freshDatabase(),
        CATALOG_PATH: catalogPath,
        ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
        REDIS_URL: redisUrl,
        FIREBREAK_ENV: 'staging',
        // The throwaway database and Redis carry no environment stamp (src/guardrails/fence).
        FIREBREAK_ADOPT: '1',
        CATALOG_FALLBACK_MAX_PER_SEC: '7',
        LOG_LEVEL: 'info',
      },
      logFile: join(workDir, 'api.log'),
    });
    const ready = await api.start();
    const redis = new Redis(redisUrl).on('error', () => {});
    try {
      const base = `http://127.0.0.1:${String(ready.port)}`;
      const res = await fetch(`${base}/v1/creators/${CREATOR_A.id}/plans`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { plans: unknown[] }).plans.length, 2);
      const key = `staging:api:creator-plans:v1:${CREATOR_A.id}`;
      await waitFor('the entry under the staging prefix', async () => (await redis.exists(key)) === 1);
      assert.equal((await fetch(`${base}/v1/creators/${CREATOR_A.id}/plans`)).status, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${String(ready.adminPort)}/metrics`)).text();
      assert.match(metrics, /firebreak_cache_hits_total\{cache="creator-plans"\} 1/);
      assert.match(metrics, /firebreak_cache_misses_total\{cache="creator-plans",reason="absent"\} 1/);
      assert.match(metrics, /firebreak_cache_fallback_limit\{guard="catalog",limit="rate_per_sec"\} 7/);
    } finally {
      await redis.quit();
      await api.stop();
    }
    const log = await readFile(join(workDir, 'api.log'), 'utf8');
    assert.match(log, /catalog lookup tables synced from the catalog file/);
    assert.match(log, /checkout API stopped/, 'stopped cleanly, Redis and the lookup pool closed');
  },
);

test(
  'without REDIS_URL there are no lookup routes; a bad REDIS_URL stops the process with exit 2',
  { timeout: 60_000 },
  async () => {
    const queueUrl = await freshDatabase();
    const env = {
      QUEUE_DATABASE_URL: queueUrl,
      CATALOG_PATH: catalogPath,
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
    };
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [MAIN],
        { env: { PATH: process.env.PATH ?? '', ...env, REDIS_URL: 'http://cache:6379' }, timeout: 20_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
      );
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^FB_CONFIG_INVALID: .*REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');

    const api = new ServiceProcess({
      name: 'api-plain',
      entry: MAIN,
      env,
      logFile: join(workDir, 'api-plain.log'),
    });
    const ready = await api.start();
    try {
      const res = await fetch(`http://127.0.0.1:${String(ready.port)}/v1/creators/${CREATOR_A.id}/plans`);
      assert.equal(res.status, 404);
    } finally {
      await api.stop();
    }
  },
);
