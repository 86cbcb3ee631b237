// Liveness is answered apart from the app's work: with the API saturated,
// /livez on the admin port still answers every probe within 100 ms, while
// /readyz says "not ready" (take me out of rotation) and /metrics still
// answers (its queue read is bounded). The incident: health checks shared the
// saturated pool, so busy instances were restarted for being busy.
//
// "Saturated" here means the real API process (src/api/main.ts, real sockets)
// has no capacity left for checkouts:
//   - the queue tables are locked by another session, so every checkout that
//     reaches the database blocks: all 10 connections of the API's pool are
//     held by blocked statements (we wait until Postgres shows them waiting);
//   - autocannon (a separate process) keeps 200 more checkouts in flight,
//     queued behind the pool and answered 503 + Retry-After after the timeouts;
//   - a second autocannon keeps the event loop busy with cheap requests (401s).
// What liveness must not do is share any of that. It does share the event
// loop (one process), so a fully blocked loop would stop it too; that is a
// hung process, and load shedding (@fastify/under-pressure, second test) is
// what keeps the loop from getting there.
//
// Robust on a loaded 2-core machine: every phase waits on a condition with a
// deadline; the load generators run at the lowest CPU priority and, where
// permitted, the API and the prober above other jobs on the box (their
// contention is not what is measured); a loopback probe takes a few ms here,
// so 100 ms leaves an order of magnitude for noise.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Registry } from 'prom-client';
import { buildAdminApp, buildApp } from '../../src/api/index.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { ADMIN_KEY, amountBody, catalogDocument, CREATOR_A, testCatalog } from './apiFixture.ts';
import { openStores } from './apiStores.ts';

const MAIN = fileURLToPath(new URL('../../src/api/main.ts', import.meta.url));
const AUTOCANNON = fileURLToPath(import.meta.resolve('autocannon'));
/** The API's queue pool size (src/api/queuePool.ts). */
const API_POOL_MAX = 10;
const PROBES = 10;
const PROBE_BUDGET_MS = 100;

let workDir: string;
const children: ChildProcess[] = [];

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'firebreak-liveness-'));
});
after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(workDir, { recursive: true, force: true });
});

interface Probe {
  readonly status: number;
  readonly ms: number;
}

/** One probe as a kubelet sends it: a new connection, a GET, a deadline. */
function probe(port: number, path: string, timeoutMs = 5_000): Promise<Probe> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    request.on('timeout', () => request.destroy(new Error(`${path} took over ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

async function text(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${String(port)}${path}`);
  return res.text();
}

/** autocannon as its own process, so the load's CPU is not the prober's. Runs until killed. */
function autocannon(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, [AUTOCANNON, '--duration', '600', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its own output (the progress bar, or its usage text if an argument is wrong) goes to a file.
  const log = createWriteStream(join(workDir, `autocannon-${String(children.length)}.log`));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  children.push(child);
  // Load comes from other machines in real life: here it must not steal the
  // CPU the API and the prober need on a 2-core box, so it runs at low priority.
  try {
    if (child.pid !== undefined) setPriority(child.pid, 19);
  } catch {
    // already gone: the assertions on exitCode below will say so
  }
  return child;
}

/**
 * Other jobs on a shared 2-core CI machine compete for the CPU; that contention
 * is not what this test measures (the API's own saturation is), so the API
 * and the prober run ahead of them where the OS allows it (root). Elsewhere
 * this is a no-op and the 100 ms budget has to absorb the noise.
 */
function raisePriority(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, -10);
  } catch {
    // not permitted: run at normal priority
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

test('with the checkout path saturated, /livez answers every probe within 100 ms', async (t) => {
  const databaseUrl = await freshDatabase();
  const catalogPath = join(workDir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(catalogDocument));
  const api = new ServiceProcess({
    name: 'api',
    entry: MAIN,
    env: {
      QUEUE_DATABASE_URL: databaseUrl,
      CATALOG_PATH: catalogPath,
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
      LOG_LEVEL: 'error',
    },
    logFile: join(workDir, 'api.log'),
  });
  const ready = await api.start();
  raisePriority(api.pid);
  raisePriority(process.pid);
  const port = Number(ready.port);
  const adminPort = Number(ready.adminPort);
  const base = `http://127.0.0.1:${String(port)}`;

  const locker = new pg.Client({ connectionString: databaseUrl });
  const monitor = new pg.Client({ connectionString: databaseUrl });
  // Killed connections at teardown must not crash the test process.
  locker.on('error', () => {});
  monitor.on('error', () => {});
  await Promise.all([locker.connect(), monitor.connect()]);
  let checkoutLoad: ChildProcess | undefined;
  let cpuLoad: ChildProcess | undefined;
  try {
    assert.equal((await probe(adminPort, '/readyz')).status, 200, 'ready before the load');

    await locker.query('BEGIN');
    await locker.query('LOCK TABLE checkout_intake, queue_message, queue_group IN ACCESS EXCLUSIVE MODE');
    checkoutLoad = autocannon([
      '--connections',
      '200',
      '--method',
      'POST',
      '--headers',
      `authorization=Bearer ${CREATOR_A.apiKey}`,
      '--headers',
      'content-type=application/json',
      // One key for all: each request still takes a pool connection and blocks.
      // (autocannon's [<id>] replacement cannot be passed through its CLI parser.)
      '--headers',
      'idempotency-key=liveness-load',
      '--body',
      JSON.stringify(amountBody()),
      `${base}/v1/checkouts`,
    ]);
    cpuLoad = autocannon(['--connections', '10', `${base}/v1/checkouts/${CREATOR_A.id}`]);

    // Saturated: every pool connection is a statement blocked on the lock ...
    await waitFor(
      'all of the API pool blocked on the locked queue tables',
      async () => {
        const result = await monitor.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return (result.rows[0]?.n ?? 0) >= API_POOL_MAX;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // ... so readiness, which needs one round trip on that pool, says so.
    await waitFor(
      'readyz to report not ready',
      async () => (await probe(adminPort, '/readyz')).status === 503,
      {
        timeoutMs: 30_000,
        intervalMs: 50,
      },
    );

    const probes: Probe[] = [];
    for (let i = 0; i < PROBES; i++) {
      probes.push(await probe(adminPort, '/livez'));
      await delay(50); // pacing, as a prober spaces its probes; not a wait for a condition
    }
    const report = probes.map((p) => `${p.status} in ${p.ms.toFixed(1)} ms`).join(', ');
    t.diagnostic(`livez under saturation: ${report}`);
    for (const p of probes) {
      assert.equal(p.status, 200, report);
      assert.ok(p.ms < PROBE_BUDGET_MS, `every liveness probe within ${PROBE_BUDGET_MS} ms: ${report}`);
    }

    // Still saturated after the probes (they ran under load, not after it) ...
    assert.equal(checkoutLoad.exitCode, null, 'the checkout load was still running');
    assert.equal(cpuLoad.exitCode, null, 'the event-loop load was still running');
    assert.equal((await probe(adminPort, '/readyz')).status, 503, 'still not ready');
    // ... and a checkout now is refused with 503 + Retry-After, not left hanging.
    const refused = await fetch(`${base}/v1/checkouts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CREATOR_A.apiKey}`,
        'idempotency-key': 'liveness-direct',
        'content-type': 'application/json',
      },
      body: JSON.stringify(amountBody()),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(refused.status, 503);
    assert.ok(refused.headers.get('retry-after'), 'Retry-After on the 503');

    // /metrics answers too: its queue stats read times out (1 s) instead of waiting on the pool.
    const scrape = await probe(adminPort, '/metrics', 10_000);
    assert.equal(scrape.status, 200);
    const metrics = await text(adminPort, '/metrics');
    assert.match(metrics, /^checkout_queue_stats_up\{queue="fifo"\} 0$/m, 'queue gauges flagged stale');
    const shed =
      /firebreak_api_http_requests_total\{method="POST",route="\/v1\/checkouts",status="503"\} (\d+)/.exec(
        metrics,
      );
    assert.ok(Number(shed?.[1] ?? 0) > 0, 'checkouts were being refused while liveness answered');
  } finally {
    if (checkoutLoad) await stopChild(checkoutLoad);
    if (cpuLoad) await stopChild(cpuLoad);
    await locker.query('ROLLBACK').catch(() => {});
    await Promise.allSettled([locker.end(), monitor.end()]);
    await api.stop();
    try {
      setPriority(process.pid, 0);
    } catch {
      // lowering back needs no privilege; nothing to do if it was never raised
    }
  }
});

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: the overload being simulated
  }
}

test('an overloaded event loop is shed over real HTTP with 503 and Retry-After; the admin port is not', async () => {
  const stores = await openStores();
  const registry = new Registry();
  const app = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    registry,
    retryAfterSec: 3,
    loadShedding: { maxEventLoopDelayMs: 20, sampleIntervalMs: 50 },
  });
  const admin = buildAdminApp({ queue: stores.queue, registry, adminKeySha256: sha256(ADMIN_KEY) });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    await admin.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const adminAddress = admin.server.address();
    assert.ok(address && typeof address === 'object' && adminAddress && typeof adminAddress === 'object');
    const shed = await waitFor(
      'the API to shed load',
      async () => {
        blockEventLoop(300);
        // The sampler reads the stall on its next ticks; ask a few times while it does.
        for (let attempt = 0; attempt < 10; attempt++) {
          await delay(5);
          const res = await fetch(`http://127.0.0.1:${String(address.port)}/v1/checkouts`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${CREATOR_A.apiKey}`,
              'idempotency-key': 'overloaded',
              'content-type': 'application/json',
            },
            body: JSON.stringify(amountBody()),
          });
          if (res.status === 503) return res;
          await res.body?.cancel();
        }
        return undefined;
      },
      { timeoutMs: 20_000, intervalMs: 1 },
    );
    assert.equal(shed.headers.get('retry-after'), '3');
    assert.equal(((await shed.json()) as { error: { code: string } }).error.code, 'FB_OVERLOADED');
    // The admin listener has no load shedding: liveness is never refused for load.
    assert.equal((await probe(adminAddress.port, '/livez')).status, 200);
  } finally {
    await app.close();
    await admin.close();
    await stores.close();
  }
});
