// Safe reload in the real API process under steady load. Clients send
// checkouts (and read them back) without a pause and without retries while
// the API's namespace file changes under it:
//   1. pool size 10 -> 4 and a new database URL (same data, another
//      application_name): every request succeeds, the old pool's connections
//      are gone from pg_stat_activity, the new pool never exceeds 4;
//   2. the URL's secret file rotated to a database on another server, then
//      SIGHUP: the same;
//   3. an invalid file, 4. an unreachable database, 5. a restart-only change:
//      each is refused, the API keeps serving on the config it had, and
//      GET /v1/admin/config and the metrics say why.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sha256 } from '../../src/catalog/index.ts';
import { DEFAULT_CONFIG_DIR, namespaceFile } from '../../src/config/drillRecords.ts';
import { readNamespace } from '../../src/config/namespace.ts';
import type { ConfigStatus } from '../../src/config/reloadable.ts';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { ADMIN_KEY, amountBody, catalogDocument, CREATOR_A } from '../api/apiFixture.ts';
import { freshDatabase, sharedPostgres } from '../helpers/postgres.ts';

const MAIN = fileURLToPath(new URL('../../src/api/main.ts', import.meta.url));
const CLIENTS = 4;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'firebreak-api-reload-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const withApp = (url: string, app: string) => `${url}?application_name=${app}`;

/** Connections per application_name on a server (the API's pools are told apart by it). */
async function connections(serverUrl: string, app: string): Promise<number> {
  const client = new pg.Client({ connectionString: serverUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'SELECT count(*) n FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

interface Load {
  total: number;
  reads: number;
  failures: string[];
  readBack: boolean;
  stop(): Promise<void>;
}

/** CLIENTS loops of POST /v1/checkouts (and, while readBack, GET of the same checkout), no retries. */
function driveLoad(base: string): Load {
  let running = true;
  const load: Load = {
    total: 0,
    reads: 0,
    failures: [],
    readBack: true,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
  const headers = { authorization: `Bearer ${CREATOR_A.apiKey}`, 'content-type': 'application/json' };
  const loops = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; running; i++) {
      const key = `reload-${c}-${i}`;
      try {
        const res = await fetch(`${base}/v1/checkouts`, {
          method: 'POST',
          headers: { ...headers, 'idempotency-key': key },
          body: JSON.stringify(amountBody()),
        });
        const text = await res.text();
        load.total++;
        if (res.status !== 202) {
          load.failures.push(`POST ${key}: ${res.status} ${text}`);
          continue;
        }
        if (!load.readBack) continue;
        const { checkoutId } = JSON.parse(text) as { checkoutId: string };
        const got = await fetch(`${base}/v1/checkouts/${checkoutId}`, { headers });
        await got.text();
        load.reads++;
        if (got.status !== 200) load.failures.push(`GET ${checkoutId}: ${got.status}`);
      } catch (err) {
        load.failures.push(`${key}: ${(err as Error).message}`);
      }
    }
  });
  return load;
}

test('the API reloads its queue pool under load without a failed request, and refuses bad reloads', async () => {
  const one = await sharedPostgres('one');
  const two = await sharedPostgres('two');
  const dbOne = await freshDatabase('one');
  const dbTwo = await freshDatabase('two');
  // The second server's database is a migrated queue database (what a failover target is).
  await (await PostgresQueue.open({ databaseUrl: dbTwo })).close();
  await (await PostgresIntake.open({ databaseUrl: dbTwo })).close();
  const serverOne = one.url('postgres');
  const serverTwo = two.url('postgres');

  const catalogPath = join(dir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(catalogDocument));
  const urlA = join(dir, 'queue-url-a');
  const urlB = join(dir, 'queue-url-b');
  const urlDead = join(dir, 'queue-url-dead');
  await writeFile(urlA, withApp(dbOne, 'api-pool-a'));
  await writeFile(urlB, withApp(dbOne, 'api-pool-b'));
  await writeFile(urlDead, 'postgres://127.0.0.1:1/queue');
  const template = await readFile(namespaceFile(DEFAULT_CONFIG_DIR, 'api', 'staging'), 'utf8');
  const configFile = join(dir, 'api', 'staging.yaml');
  await mkdir(join(dir, 'api'));
  const namespace = (secretFile: string, max: number, storeTimeoutMs = 5000) =>
    template
      .replace('{ secretRef: env:QUEUE_DATABASE_URL }', `{ secretRef: "file:${secretFile}" }`)
      .replace('max: 10', `max: ${max}`)
      .replace('storeTimeoutMs: 5000', `storeTimeoutMs: ${storeTimeoutMs}`);
  const write = async (text: string) => {
    await writeFile(configFile, text);
    const checked = readNamespace(configFile);
    return checked.ok ? checked.namespace.hash : null;
  };
  const firstHash = await write(namespace(urlA, 10));

  const api = new ServiceProcess({
    name: 'api',
    entry: MAIN,
    env: {
      FIREBREAK_CONFIG: configFile,
      CATALOG_PATH: catalogPath,
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
      LOG_LEVEL: 'info',
    },
    logFile: join(dir, 'api.log'),
  });
  const ready = await api.start();
  const base = `http://127.0.0.1:${String(ready.port)}`;
  const admin = `http://127.0.0.1:${String(ready.adminPort)}`;
  const status = async () =>
    (await (
      await fetch(`${admin}/v1/admin/config`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    ).json()) as ConfigStatus;
  const reloads = () => status().then((s) => Object.values(s.reloads).reduce((a, b) => a + b, 0));
  /** Waits for the next counted reload and checks requests kept flowing while it ran. */
  const nextReload = async (what: string, trigger: () => Promise<void>) => {
    const seen = await reloads();
    const sent = load.total;
    await trigger();
    await waitFor(what, async () => (await reloads()) > seen, { timeoutMs: 30_000, intervalMs: 50 });
    await waitFor(`requests after ${what}`, () => load.total > sent + CLIENTS * 5, { timeoutMs: 30_000 });
    return status();
  };

  const load = driveLoad(base);
  try {
    assert.equal((await status()).hash, firstHash);
    assert.equal(
      (await fetch(`${admin}/v1/admin/config`, { headers: { authorization: `Bearer ${CREATOR_A.apiKey}` } }))
        .status,
      403,
      'the config status is an admin route',
    );
    await waitFor('load on pool a', () => load.reads > 50, { timeoutMs: 30_000 });
    assert.ok((await connections(serverOne, 'api-pool-a')) > 0);

    // 1. Pool size and database URL, by editing the file.
    const secondHash = await write(namespace(urlB, 4));
    const s1 = await nextReload('the reload to pool b', async () => {});
    assert.equal(s1.lastReload?.result, 'applied', JSON.stringify(s1));
    assert.equal(s1.lastReload?.trigger, 'file');
    assert.equal(s1.hash, secondHash);
    assert.equal(await connections(serverOne, 'api-pool-a'), 0, 'the old pool is closed');
    const b = await connections(serverOne, 'api-pool-b');
    assert.ok(b > 0 && b <= 4, `pool b holds ${b} connections (max 4)`);

    // 2. The secret file rotated to a database on another server; SIGHUP re-reads it.
    load.readBack = false; // checkouts made on server one are not on server two
    await writeFile(urlB, withApp(dbTwo, 'api-pool-c'));
    const s2 = await nextReload('the SIGHUP reload to server two', () => {
      process.kill(api.pid!, 'SIGHUP');
      return Promise.resolve();
    });
    assert.equal(s2.lastReload?.result, 'applied', JSON.stringify(s2));
    assert.equal(s2.lastReload?.trigger, 'signal');
    assert.equal(s2.hash, secondHash, 'a rotated secret is not a content change');
    assert.equal(await connections(serverOne, 'api-pool-b'), 0, 'the old pool is closed');
    assert.ok((await connections(serverTwo, 'api-pool-c')) > 0);

    // 3. An invalid file: refused with where and why; the API keeps serving.
    const s3 = await nextReload('the invalid reload', async () => {
      assert.equal(await write(namespace(urlB, 0)), null);
    });
    assert.equal(s3.lastReload?.result, 'invalid');
    assert.equal(s3.lastReloadError?.code, 'FB_CONFIG_INVALID');
    assert.match(
      s3.lastReloadError?.message ?? '',
      /staging\.yaml:\d+:10: tunables\.queuePool\.max: must be at least 1 connection \(got 0\)/,
    );
    assert.equal(s3.hash, secondHash);

    // 4. A database that does not answer: refused after the round trip; the old pool keeps serving.
    const s4 = await nextReload('the unreachable reload', async () => {
      await write(namespace(urlDead, 4));
    });
    assert.equal(s4.lastReload?.result, 'verify_failed');
    assert.equal(s4.lastReloadError?.code, 'FB_CONFIG_RELOAD_FAILED');
    assert.match(
      s4.lastReloadError?.message ?? '',
      /the old config keeps running: the new database pool failed its round trip \(SELECT 1\)/,
    );
    assert.equal(s4.hash, secondHash);
    assert.ok((await connections(serverTwo, 'api-pool-c')) > 0);

    // 5. A setting only a restart applies.
    const s5 = await nextReload('the restart-only reload', async () => {
      await write(namespace(urlB, 4, 4000));
    });
    assert.equal(s5.lastReload?.result, 'restart_required');
    assert.match(
      s5.lastReloadError?.message ?? '',
      /tunables\.http\.storeTimeoutMs \(API_STORE_TIMEOUT_MS\) changed/,
    );
    assert.equal(s5.hash, secondHash);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    for (const [result, n] of [
      ['applied', 2],
      ['invalid', 1],
      ['verify_failed', 1],
      ['restart_required', 1],
    ] as const)
      assert.match(
        metrics,
        new RegExp(`firebreak_config_reloads_total\\{service="api",result="${result}"\\} ${n}\\n`),
      );
    assert.match(
      metrics,
      new RegExp(`firebreak_config_info\\{service="api",env="staging",hash="${secondHash}"\\} 1`),
    );
  } finally {
    await load.stop();
    await api.stop();
  }
  assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.total} requests failed`);
  assert.ok(load.total > 200, `only ${load.total} requests were sent`);
  const log = await readFile(join(dir, 'api.log'), 'utf8');
  assert.match(log, /"result":"applied".*"msg":"config reloaded"/);
  assert.match(
    log,
    /"code":"FB_CONFIG_RELOAD_FAILED".*"msg":"config reload refused; the old config keeps running"/,
  );
  process.stderr.write(`# ${load.total} checkouts (${load.reads} read back) across 5 reloads, 0 failed\n`);
});
