// Scenario cross-env: a staging process pointed at production's state (the
// incident where staging and production shared one Redis). The scenario
// provisions a production-stamped ledger and queue database (migrated,
// seeded, with messages waiting) on the stack's Postgres server, and a
// production-stamped Redis with production keys, then starts the real API and
// the real worker as staging processes (FIREBREAK_ENV=staging) pointed at
// them. Each must exit with code 3, naming every refused resource (password
// redacted) and both environments, and must have written nothing: the
// databases' own write counters, their relations and row counts, and the
// Redis keys and write counter are the same after as before
// (src/guardrails/fence/writeEvidence.ts).
//
// The drill's own staging stack keeps running throughout; its audit runs
// after, as for every scenario.

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { sha256 } from '../../catalog/index.ts';
import { Fence } from '../../guardrails/fence/fence.ts';
import { FENCE_EXIT_CODE } from '../../guardrails/fence/serviceFence.ts';
import { parseResourceUrl } from '../../guardrails/fence/resourceUrl.ts';
import {
  postgresChanges,
  postgresEvidence,
  redisChanges,
  redisEvidence,
} from '../../guardrails/fence/writeEvidence.ts';
import { PostgresIntake } from '../../intake/PostgresIntake.ts';
import { Ledger } from '../../ledger/index.ts';
import { PostgresQueue } from '../../queue/PostgresQueue.ts';
import { RedisServer } from '../../stack/redisServer.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** A refused process exits within seconds; this bounds a process that was not refused at all. */
const EXIT_TIMEOUT_MS = 30_000;
const PRODUCTION_MESSAGES = 5;

export interface ExitResult {
  readonly code: number | null;
  readonly signal: string | null;
  /** stdout and stderr together. */
  readonly output: string;
  /** The process reported ready: it accepted the resources it should have refused. */
  readonly becameReady: boolean;
  readonly ms: number;
}

/**
 * Runs a service entry to its exit (a refused process exits on its own).
 * One that reports ready, or runs past the timeout, is killed and reported.
 */
export async function runUntilExit(
  entry: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = EXIT_TIMEOUT_MS,
): Promise<ExitResult> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS'];
  const base = Object.fromEntries(keep.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
  const started = performance.now();
  const child = fork(entry, [], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  let becameReady = false;
  child.on('message', (m: unknown) => {
    if ((m as { type?: unknown } | null)?.type === 'ready') {
      becameReady = true;
      child.kill('SIGKILL');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    // 'close', not 'exit': it comes once stdout and stderr have drained too.
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    return { code, signal, output, becameReady, ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const redisServers = new WeakMap<ScenarioContext, RedisServer>();

/** Sentences for what a refused process's output lacks: exit 3, each resource named, both environments, no password. */
function judgeRefusal(
  what: string,
  result: ExitResult,
  refused: readonly string[],
  secretUrls: readonly string[],
): string[] {
  const out: string[] = [];
  if (result.becameReady) out.push(`${what} accepted production resources and reported ready`);
  else if (result.code !== FENCE_EXIT_CODE)
    out.push(`${what} exited with code ${result.code} (signal ${result.signal}), not ${FENCE_EXIT_CODE}`);
  for (const name of refused) {
    const line = result.output.split('\n').find((l) => l.startsWith('FB_ENV_MISMATCH: ') && l.includes(name));
    if (!line) out.push(`${what} did not report FB_ENV_MISMATCH for its ${name}`);
    else if (!line.includes('"production"') || !line.includes('"staging"'))
      out.push(`${what}'s refusal of its ${name} does not name both environments`);
  }
  for (const url of secretUrls) {
    if (result.output.includes(url)) out.push(`${what} printed a resource URL with its password`);
  }
  return out;
}

export const crossEnvScenario: Scenario = {
  name: 'cross-env',
  description:
    'a staging API and worker pointed at a production-stamped database and Redis are refused (exit 3) with zero writes',
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack } = ctx;
    const server = stack.ledgerServer;
    if (!server) throw new Error('cross-env needs the stack’s Postgres server');
    const token = randomBytes(4).toString('hex');

    ctx.progress('cross-env: provisioning a production-stamped ledger, queue and Redis');
    const ledgerUrl = await server.createDatabase(`prod_ledger_${token}`);
    const queueUrl = await server.createDatabase(`prod_queue_${token}`);
    const production = new Fence({ env: 'production', stampedBy: 'firebreak drill cross-env' });
    const ledger = await Ledger.open({ databaseUrl: ledgerUrl });
    await ledger.seedCatalog(stack.options.drillCatalog.catalog).finally(() => ledger.close());
    const queue = await PostgresQueue.open({ databaseUrl: queueUrl });
    try {
      // Production work waiting in the queue: what a staging worker must never receive.
      for (let i = 0; i < PRODUCTION_MESSAGES; i++)
        await queue.send({
          groupId: `prod-creator-${i}`,
          dedupId: `prod-${token}-${i}`,
          body: 'production checkout',
        });
    } finally {
      await queue.close();
    }
    await (await PostgresIntake.open({ databaseUrl: queueUrl })).close();
    const redis = await RedisServer.start({ name: 'cross-env-production' });
    redisServers.set(ctx, redis);
    const redisUrl = redis.url();
    for (const url of [ledgerUrl, queueUrl, redisUrl]) {
      const verdict = await production.stamp(parseResourceUrl(url));
      if (verdict.outcome !== 'adopted')
        throw new Error(`could not stamp ${url} for production: ${verdict.outcome}`);
    }
    const seed = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await seed.set('production:catalog:v1:plans', '{"plans":[]}');
    await seed.set('production:session:42', 'prod-session');
    await seed.quit();
    // Autovacuum must not be the one writing during the window.
    for (const url of [ledgerUrl, queueUrl]) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('VACUUM ANALYZE').finally(() => client.end());
    }
    const catalogPath = join(ctx.workDir, 'cross-env-catalog.json');
    await writeFile(catalogPath, JSON.stringify(stack.options.drillCatalog.catalog));

    const before = {
      ledger: await postgresEvidence(ledgerUrl),
      queue: await postgresEvidence(queueUrl),
      redis: await redisEvidence(redisUrl),
    };

    ctx.mark('inject', 'staging API and worker started against production-stamped resources');
    ctx.progress(
      'cross-env: starting a staging API (queue database, Redis) and worker (ledger, queue) at production',
    );
    const [api, worker] = await Promise.all([
      runUntilExit(entry('../../api/main.ts'), {
        FIREBREAK_ENV: 'staging',
        QUEUE_DATABASE_URL: queueUrl,
        REDIS_URL: redisUrl,
        CATALOG_PATH: catalogPath,
        ADMIN_KEY_SHA256: sha256(randomBytes(16).toString('hex')),
        LOG_LEVEL: 'warn',
      }),
      runUntilExit(entry('../../worker/main.ts'), {
        FIREBREAK_ENV: 'staging',
        LEDGER_DATABASE_URL: ledgerUrl,
        QUEUE_DATABASE_URL: queueUrl,
        PSP_URL: stack.pspUrl,
        LOG_LEVEL: 'warn',
      }),
    ]);
    ctx.mark('heal', `api exited ${api.code}, worker exited ${worker.code}`);
    await writeFile(join(ctx.workDir, 'cross-env-api.log'), api.output);
    await writeFile(join(ctx.workDir, 'cross-env-worker.log'), worker.output);

    const after = {
      ledger: await postgresEvidence(ledgerUrl),
      queue: await postgresEvidence(queueUrl),
      redis: await redisEvidence(redisUrl),
    };
    const secrets = [ledgerUrl, queueUrl];
    const violations = [
      ...judgeRefusal('the staging API', api, ['queue database', 'cache redis'], secrets),
      ...judgeRefusal('the staging worker', worker, ['ledger database', 'queue database'], secrets),
      ...postgresChanges('production ledger', before.ledger, after.ledger),
      ...postgresChanges('production queue', before.queue, after.queue),
      ...redisChanges('production Redis', before.redis, after.redis),
    ];
    const written =
      after.ledger.tuplesInserted +
      after.ledger.tuplesUpdated +
      after.ledger.tuplesDeleted -
      (before.ledger.tuplesInserted + before.ledger.tuplesUpdated + before.ledger.tuplesDeleted) +
      after.queue.tuplesInserted +
      after.queue.tuplesUpdated +
      after.queue.tuplesDeleted -
      (before.queue.tuplesInserted + before.queue.tuplesUpdated + before.queue.tuplesDeleted);
    return {
      verdict: violations.length === 0 ? 'pass' : 'fail',
      summary:
        violations.length === 0
          ? `staging API and worker refused production's databases and Redis (exit ${FENCE_EXIT_CODE} in ${api.ms} ms and ${worker.ms} ms); zero writes`
          : `the fence let staging near production: ${violations[0]}`,
      measurements: {
        apiExitCode: api.code,
        workerExitCode: worker.code,
        apiRefusalMs: api.ms,
        workerRefusalMs: worker.ms,
        postgresTuplesWritten: written,
        productionQueueMessages: PRODUCTION_MESSAGES,
        redisWrites: after.redis.writesSinceStart - before.redis.writesSinceStart,
        redisKeys: after.redis.keys,
      },
      violations,
    };
  },
  async heal(ctx: ScenarioContext): Promise<void> {
    await redisServers
      .get(ctx)
      ?.destroy()
      .catch(() => {});
    redisServers.delete(ctx);
  },
};
