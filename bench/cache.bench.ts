// The cache-poison bench: how many database queries a fully poisoned cache
// sends to the database, with the fallback guard and without it, in one run
// on this machine.
//
//   node bench/cache.bench.ts [--duration 10] [--clients 64] [--json] ...   (--help lists every flag)
//
// One Postgres server and one Redis server (throwaway). For each phase
// (guarded, then unguarded) a fresh database cloned from a synced template
// (so its statistics start at zero), the catalog lookup routes listening on
// loopback, a writer rewriting every price-list entry with the wrong
// serializer (MessagePack) as fast as Redis takes it, and `clients` HTTP
// clients reading price lists in a closed loop for `duration` seconds.
// Fallback queries are counted by a wrapper around the source and by
// Postgres (scans of catalog_creator, flushed when the pool closes). The two
// phases differ only in the fallback: the guard as the API ships it (caps,
// single-flight, breaker; pool of `concurrency`), or none (every miss is a
// query on a pool of 10, the API's usual pool size).

import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import { installErrorReplies } from '../src/api/errorReplies.ts';
import { catalogRoutes } from '../src/api/catalogRoutes.ts';
import { CachePoisoner, FallbackUnavailableError, msgpack, type Fallback } from '../src/cache/index.ts';
import {
  CatalogLookups,
  PostgresCatalogLookups,
  catalogLookupPool,
  migrateCatalogLookups,
  runLookupLoad,
  syncCatalogLookups,
  type CatalogLookupSource,
  type LookupLoadResult,
} from '../src/cache/catalog/index.ts';
import type { Catalog } from '../src/catalog/index.ts';
import { makeDrillCatalog } from '../src/drill/drillCatalog.ts';
import { PostgresServer } from '../src/stack/postgresServer.ts';
import { RedisServer } from '../src/stack/redisServer.ts';
import { SeededRandom } from '../src/util/seededRandom.ts';
import { waitFor } from '../src/util/waitFor.ts';

const HELP = `Usage: node bench/cache.bench.ts [options]

  --duration SEC     length of each phase (default 10)
  --clients N        concurrent HTTP clients reading price lists (default 64)
  --creators N       creators (distinct cache keys) (default 200)
  --rate N           the guard's fallback rate cap per second (default 50, as the API ships)
  --concurrency N    the guard's fallback concurrency cap (default 4, as the API ships)
  --seed S           catalog and load seed (default cache-bench)
  --json             print the result as JSON on stdout (progress stays on stderr)
  --help`;

interface Options {
  readonly durationSec: number;
  readonly clients: number;
  readonly creators: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly seed: string;
  readonly json: boolean;
}

function positive(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`--${flag} must be a whole number from 1 to ${max}, not ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        clients: { type: 'string' },
        creators: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n(--help lists the flags)\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  return {
    durationSec: positive('duration', values.duration, 10, 3_600),
    clients: positive('clients', values.clients, 64, 1_000),
    creators: positive('creators', values.creators, 200, 100_000),
    rate: positive('rate', values.rate, 50, 100_000),
    concurrency: positive('concurrency', values.concurrency, 4, 100),
    seed: values.seed ?? 'cache-bench',
    json: values.json ?? false,
  };
}

/** Counts the queries that reach the database, and how many run at once. */
class CountingSource implements CatalogLookupSource {
  queries = 0;
  active = 0;
  peakActive = 0;
  private readonly inner: CatalogLookupSource;
  constructor(inner: CatalogLookupSource) {
    this.inner = inner;
  }
  private async counted<T>(call: () => Promise<T>): Promise<T> {
    this.queries += 1;
    this.peakActive = Math.max(this.peakActive, ++this.active);
    try {
      return await call();
    } finally {
      this.active -= 1;
    }
  }
  creatorPlans(id: string) {
    return this.counted(() => this.inner.creatorPlans(id));
  }
  plan(id: string) {
    return this.counted(() => this.inner.plan(id));
  }
  fxRate(currency: string) {
    return this.counted(() => this.inner.fxRate(currency));
  }
}

/** No guard at all: every miss is a query (what the incident's readers did). Failures still answer 503. */
const unguarded: Fallback = {
  run: async (_key, load) => {
    try {
      return await load(new AbortController().signal);
    } catch (err) {
      throw new FallbackUnavailableError('failed', 1_000, 'unguarded fallback failed', err);
    }
  },
};

interface PhaseResult {
  readonly phase: 'guarded' | 'unguarded';
  readonly load: LookupLoadResult;
  readonly fallbackQueries: number;
  readonly fallbackQueriesPerSec: number;
  /** Postgres's own count: scans of catalog_creator, one per price-list query. */
  readonly dbScans: number;
  readonly peakConcurrentQueries: number;
  readonly poisonRounds: number;
  readonly poolMax: number;
}

async function scansOf(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = 'catalog_creator'`,
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

async function runPhase(
  phase: 'guarded' | 'unguarded',
  o: Options,
  catalog: Catalog,
  databaseUrl: string,
  redisUrl: string,
  say: (line: string) => void,
): Promise<PhaseResult> {
  const poolMax = phase === 'guarded' ? o.concurrency : 10;
  const pool = catalogLookupPool(databaseUrl, poolMax);
  const source = new CountingSource(new PostgresCatalogLookups(pool));
  const redis = new Redis(redisUrl).on('error', () => {});
  const poisonRedis = new Redis(redisUrl).on('error', () => {});
  const lookups = new CatalogLookups({
    redis,
    source,
    registry: new Registry(),
    env: phase,
    guard: { ratePerSec: o.rate, maxConcurrent: o.concurrency },
    ...(phase === 'unguarded' ? { fallback: unguarded } : {}),
  });
  const app = Fastify();
  installErrorReplies(app, 65_536);
  catalogRoutes(app, { lookups });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  const poisoner = new CachePoisoner({
    redis: poisonRedis,
    entries: catalog.creators.map((c) => [
      lookups.creatorPlansCache.key(c.id),
      msgpack({ creatorId: c.id, creatorName: c.name, plans: [] }),
    ]),
  });
  try {
    await poisoner.poisonOnce();
    poisoner.start();
    say(`${phase}: ${o.clients} clients for ${o.durationSec}s, every entry rewritten with MessagePack`);
    const startedAt = performance.now();
    const load = await runLookupLoad({
      baseUrl: `http://127.0.0.1:${address.port}`,
      paths: catalog.creators.map((c) => `/v1/creators/${c.id}/plans`),
      concurrency: o.clients,
      durationMs: o.durationSec * 1_000,
      rng: new SeededRandom(`${o.seed}:${phase}`),
    });
    await poisoner.stop();
    await waitFor('the last fallback queries', () => source.active === 0, { timeoutMs: 30_000 });
    const seconds = (performance.now() - startedAt) / 1_000;
    await app.close();
    // Backends flush their statistics as they exit.
    await pool.end();
    const dbScans = await waitFor(
      'Postgres to count the scans',
      async () => {
        const n = await scansOf(databaseUrl);
        return n >= source.queries ? n : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    ).catch(() => scansOf(databaseUrl));
    return {
      phase,
      load,
      fallbackQueries: source.queries,
      fallbackQueriesPerSec: source.queries / seconds,
      dbScans,
      peakConcurrentQueries: source.peakActive,
      poisonRounds: poisoner.rounds,
      poolMax,
    };
  } finally {
    await poisoner.stop();
    await app.close();
    redis.disconnect();
    poisonRedis.disconnect();
  }
}

function line(r: PhaseResult): string {
  const s = r.load.byStatus;
  const rps = (r.load.sent / (r.load.elapsedMs / 1000)).toFixed(0);
  return [
    r.phase.padEnd(10),
    `${r.fallbackQueriesPerSec.toFixed(1).padStart(8)} queries/s`,
    `${String(r.fallbackQueries).padStart(7)} queries (Postgres counted ${r.dbScans})`,
    `peak ${r.peakConcurrentQueries} in flight (pool ${r.poolMax})`,
    `${rps} req/s: 200 ${s['200'] ?? 0}, 503 ${s['503'] ?? 0}, 500 ${s['500'] ?? 0}, other ${r.load.sent - (s['200'] ?? 0) - (s['503'] ?? 0) - (s['500'] ?? 0)}`,
  ].join('  ');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const t0 = performance.now();
  const say = (text: string) =>
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);
  let pgServer: PostgresServer | undefined;
  let redisServer: RedisServer | undefined;
  const cleanup = async () => {
    await redisServer?.destroy().catch(() => {});
    await pgServer?.destroy().catch(() => {});
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });
  try {
    say('starting Postgres and Redis');
    [pgServer, redisServer] = await Promise.all([
      PostgresServer.start({ name: 'cache-bench' }),
      RedisServer.start({ name: 'cache-bench' }),
    ]);
    const catalog = makeDrillCatalog(new SeededRandom(o.seed), o.creators).catalog;
    const template = `tpl_${randomUUID().slice(0, 8)}`;
    const templatePool = catalogLookupPool(await pgServer.createDatabase(template), 1);
    await migrateCatalogLookups(templatePool);
    await syncCatalogLookups(templatePool, catalog);
    await templatePool.end();
    const results: PhaseResult[] = [];
    for (const phase of ['guarded', 'unguarded'] as const) {
      const server = pgServer;
      const db = await waitFor('the template to be free', () =>
        server.createDatabase(`${phase}_${randomUUID().slice(0, 8)}`, template).catch((err: unknown) => {
          if (/being accessed by other users/.test(String(err))) return undefined;
          throw err;
        }),
      );
      results.push(await runPhase(phase, o, catalog, db, redisServer.url(), say));
    }
    const [guarded, open] = results as [PhaseResult, PhaseResult];
    const ratio = open.fallbackQueriesPerSec / Math.max(guarded.fallbackQueriesPerSec, 1e-9);
    const cap = `cap ${o.rate}/s (burst ${o.rate}), ${o.concurrency} at once`;
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ options: o, guarded, unguarded: open, ratio }, null, 2)}\n`);
    } else {
      process.stdout.write(
        [
          `cache poison bench: 100% of ${o.creators} price-list entries rewritten with the wrong serializer, ${o.clients} clients, ${o.durationSec}s per phase`,
          line(guarded) + `  (${cap})`,
          line(open),
          `unguarded / guarded fallback queries per second: ${ratio.toFixed(1)}x`,
          '',
        ].join('\n'),
      );
    }
    const overCap = guarded.fallbackQueriesPerSec > o.rate * 1.05 + o.rate / o.durationSec;
    const errors = guarded.load.byStatus['500'] ?? 0;
    if (overCap || errors > 0) {
      process.stderr.write(
        `FAIL: guarded phase ${overCap ? 'exceeded its cap' : ''} ${errors ? `answered ${errors} 500s` : ''}\n`,
      );
      process.exitCode = 1;
    }
  } finally {
    await cleanup();
  }
}

await main();
