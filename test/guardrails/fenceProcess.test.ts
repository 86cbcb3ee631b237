// The fence in Firebreak's real processes: a staging worker or API pointed at
// production's databases and Redis exits 3 before its first write (and pushes
// the refusal to a Pushgateway); a running worker whose database server is
// replaced by a production one exits 3 on reconnect; what FIREBREAK_ENV
// unset, FIREBREAK_ADOPT and a bad FIREBREAK_ENV do.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sha256 } from '../../src/catalog/index.ts';
import { runUntilExit } from '../../src/drill/scenarios/crossEnv.ts';
import { Fence } from '../../src/guardrails/fence/fence.ts';
import { parseResourceUrl } from '../../src/guardrails/fence/resourceUrl.ts';
import {
  postgresChanges,
  postgresEvidence,
  redisChanges,
  redisEvidence,
} from '../../src/guardrails/fence/writeEvidence.ts';
import { PostgresServer } from '../../src/stack/postgresServer.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { sharedRedis } from '../helpers/redis.ts';

const WORKER = fileURLToPath(new URL('../../src/worker/main.ts', import.meta.url));
const API = fileURLToPath(new URL('../../src/api/main.ts', import.meta.url));
/** Nothing listens here; a worker with an empty queue never calls its provider. */
const NO_PSP = 'http://127.0.0.1:9';

const dir = await mkdtemp(join(tmpdir(), 'firebreak-fence-process-'));
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

const stamp = (env: string, url: string) => new Fence({ env }).stamp(parseResourceUrl(url));

async function stampedEnv(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ env: string }>(`SELECT env FROM firebreak_environment`);
    return rows[0]?.env ?? null;
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

/** A service process watched as it runs: its output so far, its ready message, its exit. */
function watch(entry: string, env: Record<string, string>) {
  const child = fork(entry, [], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return Promise.resolve();
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const ready = new Promise<void>((resolve) =>
    child.on('message', (m: { type?: string }) => m.type === 'ready' && resolve()),
  );
  const exited = (once(child, 'close') as Promise<[number | null, string | null]>).then(([code]) => code);
  return { output: () => output, ready, exited };
}

/** A line of the output that starts with the code and mentions the name. */
const refusalLine = (output: string, code: string, name: string) =>
  output.split('\n').find((l) => l.startsWith(`${code}: `) && l.includes(name));

test('a staging worker pointed at production-stamped databases exits 3 before any write, naming both', async () => {
  const ledger = await freshDatabase();
  const queue = await freshDatabase();
  await stamp('production', ledger);
  await stamp('production', queue);
  const before = [await postgresEvidence(ledger), await postgresEvidence(queue)];

  const r = await runUntilExit(WORKER, {
    FIREBREAK_ENV: 'staging',
    LEDGER_DATABASE_URL: ledger,
    QUEUE_DATABASE_URL: queue,
    PSP_URL: NO_PSP,
  });
  assert.equal(r.becameReady, false, r.output);
  assert.equal(r.code, 3, r.output);
  for (const name of ['ledger database', 'queue database']) {
    const line = refusalLine(r.output, 'FB_ENV_MISMATCH', name);
    assert.ok(line, `no refusal line for the ${name}:\n${r.output}`);
    assert.match(line, /belongs to environment "production" .*this process runs as "staging"/);
    assert.match(line, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/t_\w+/);
  }
  assert.ok(!r.output.includes(ledger) && !r.output.includes(queue), 'no URL with its password is printed');
  // The worker migrates its queue database at start: that it did not is one of the proofs.
  const afterEvidence = [await postgresEvidence(ledger), await postgresEvidence(queue)];
  assert.deepEqual(
    [
      ...postgresChanges('ledger', before[0]!, afterEvidence[0]!),
      ...postgresChanges('queue', before[1]!, afterEvidence[1]!),
    ],
    [],
  );
  assert.deepEqual(afterEvidence[1]!.relations, [
    'firebreak_environment (r)',
    'firebreak_environment_pkey (i)',
  ]);
});

test('a staging API refuses a production database and Redis together, and pushes the refusal to the Pushgateway', async () => {
  const queue = await freshDatabase();
  await stamp('production', queue);
  const redis = await sharedRedis();
  await stamp('production', redis.url());
  const catalogPath = join(dir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(makeTestCatalog().catalog));

  const pushes: { method: string; url: string; body: string }[] = [];
  const gateway = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      pushes.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200).end();
    });
  });
  gateway.listen(0, '127.0.0.1');
  await once(gateway, 'listening');
  cleanups.push(() => new Promise((r) => gateway.close(r)));
  const address = gateway.address();
  const gatewayUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const beforeDb = await postgresEvidence(queue);
  const beforeRedis = await redisEvidence(redis.url());
  const r = await runUntilExit(API, {
    FIREBREAK_ENV: 'staging',
    FIREBREAK_PUSHGATEWAY_URL: gatewayUrl,
    QUEUE_DATABASE_URL: queue,
    REDIS_URL: redis.url(),
    CATALOG_PATH: catalogPath,
    ADMIN_KEY_SHA256: sha256('admin'),
  });
  assert.equal(r.code, 3, r.output);
  assert.match(refusalLine(r.output, 'FB_ENV_MISMATCH', 'queue database') ?? '', /"production".*"staging"/);
  assert.match(
    refusalLine(r.output, 'FB_ENV_MISMATCH', 'cache redis') ?? '',
    /^FB_ENV_MISMATCH: cache redis redis:\/\/127\.0\.0\.1:\d+\/0 belongs to environment "production"/,
  );
  assert.deepEqual(postgresChanges('queue', beforeDb, await postgresEvidence(queue)), []);
  assert.deepEqual(redisChanges('redis', beforeRedis, await redisEvidence(redis.url())), []);

  assert.equal(pushes.length, 1, 'pushed once, before exiting');
  assert.equal(pushes[0]!.method, 'PUT');
  assert.equal(pushes[0]!.url, '/metrics/job/firebreak_env_fence/service/api/environment/staging');
  assert.match(pushes[0]!.body, /^firebreak_env_fence_refusals_total\{resource_kind="postgres"\} 1$/m);
  assert.match(pushes[0]!.body, /^firebreak_env_fence_refusals_total\{resource_kind="redis"\} 1$/m);
  assert.match(pushes[0]!.body, /^firebreak_env_fence_refusals_total\{resource_kind="kafka"\} 0$/m);
});

test('a running worker whose database server is replaced by a production one exits 3 on reconnect', async () => {
  const a = await PostgresServer.start({ name: 'fence-proc-a' });
  cleanups.push(() => a.destroy());
  const ledger = await a.createDatabase('ledger');
  const queue = await a.createDatabase('queue');
  await stamp('staging', ledger);
  await stamp('staging', queue);
  const worker = watch(WORKER, {
    FIREBREAK_ENV: 'staging',
    LEDGER_DATABASE_URL: ledger,
    QUEUE_DATABASE_URL: queue,
    PSP_URL: NO_PSP,
  });
  await worker.ready;

  // The failover: the staging server goes, a production server answers on the same port, with
  // databases of the same names that are stamped from the moment they exist (a stamped template).
  await a.stop();
  const b = await PostgresServer.start({ name: 'fence-proc-b', port: a.port });
  cleanups.push(() => b.destroy());
  const template = await b.createDatabase('prod_template');
  await stamp('production', template);
  await b.createDatabase('queue', 'prod_template');
  await b.createDatabase('ledger', 'prod_template');
  const before = await postgresEvidence(b.url('queue'));

  assert.equal(await worker.exited, 3, worker.output());
  const log = worker.output();
  assert.match(
    refusalLine(log, 'FB_ENV_MISMATCH', 'database') ?? log,
    /database postgres:\/\/postgres@127\.0\.0\.1:\d+\/(queue|ledger) belongs to environment "production" .*runs as "staging"/,
  );
  assert.deepEqual(postgresChanges('queue', before, await postgresEvidence(b.url('queue'))), []);
});

test('FIREBREAK_ENV unset: runs as dev and adopts loopback resources; set: adopts only with FIREBREAK_ADOPT=1', async () => {
  const env = (ledger: string, queue: string, extra: Record<string, string> = {}) => ({
    LEDGER_DATABASE_URL: ledger,
    QUEUE_DATABASE_URL: queue,
    PSP_URL: NO_PSP,
    ...extra,
  });
  const start = async (name: string, vars: Record<string, string>) => {
    const svc = new ServiceProcess({ name, entry: WORKER, env: vars, logFile: join(dir, `${name}.log`) });
    cleanups.push(() => svc.stop());
    await svc.start();
    await svc.stop();
  };

  const [l1, q1] = [await freshDatabase(), await freshDatabase()];
  await start('dev-worker', env(l1, q1));
  assert.deepEqual([await stampedEnv(l1), await stampedEnv(q1)], ['dev', 'dev']);

  const [l2, q2] = [await freshDatabase(), await freshDatabase()];
  const refused = await runUntilExit(WORKER, env(l2, q2, { FIREBREAK_ENV: 'staging' }));
  assert.equal(refused.code, 3, refused.output);
  assert.ok(refusalLine(refused.output, 'FB_ENV_UNSTAMPED', 'ledger database'), refused.output);
  assert.ok(refusalLine(refused.output, 'FB_ENV_UNSTAMPED', 'queue database'), refused.output);
  assert.deepEqual([await stampedEnv(l2), await stampedEnv(q2)], [null, null]);

  await start('adopting-worker', env(l2, q2, { FIREBREAK_ENV: 'staging', FIREBREAK_ADOPT: '1' }));
  assert.deepEqual([await stampedEnv(l2), await stampedEnv(q2)], ['staging', 'staging']);

  // A dev process never takes over what is stamped for another environment.
  const devOnStaging = await runUntilExit(WORKER, env(l2, q2));
  assert.equal(devOnStaging.code, 3, devOnStaging.output);
  assert.match(
    refusalLine(devOnStaging.output, 'FB_ENV_MISMATCH', 'ledger database') ?? '',
    /"staging".*"dev"/,
  );

  const bad = await runUntilExit(WORKER, env(l2, q2, { FIREBREAK_ENV: 'Prod!' }));
  assert.equal(bad.code, 2, bad.output);
  assert.match(
    bad.output,
    /FB_CONFIG_INVALID: worker: invalid configuration: FIREBREAK_ENV: must be an environment name/,
  );
});

test('a process that cannot reach its database at start is not refused then: it is checked when it connects', async () => {
  const a = await PostgresServer.start({ name: 'fence-proc-late' });
  cleanups.push(() => a.destroy());
  const queue = await a.createDatabase('queue');
  await stamp('production', queue);
  const catalogPath = join(dir, 'late-catalog.json');
  await writeFile(catalogPath, JSON.stringify(makeTestCatalog().catalog));
  await a.stop();
  // The API waits for its queue database at start (up to 20 s); the fence's start-up check cannot reach it.
  const api = watch(API, {
    FIREBREAK_ENV: 'staging',
    QUEUE_DATABASE_URL: queue,
    CATALOG_PATH: catalogPath,
    ADMIN_KEY_SHA256: sha256('admin'),
  });
  await waitFor('the fence to defer its check', () =>
    api.output().includes('cannot check this resource yet'),
  );
  await a.resume();
  assert.equal(await api.exited, 3, api.output());
  assert.match(
    refusalLine(api.output(), 'FB_ENV_MISMATCH', 'queue database') ?? api.output(),
    /^FB_ENV_MISMATCH: queue database postgres:\/\/postgres@127\.0\.0\.1:\d+\/queue belongs to environment "production".*"staging"/,
  );
});
