// The incident, replayed against the real HTTP route: a writer keeps
// overwriting every price-list entry with the wrong serializer (MessagePack)
// while 48 clients read price lists as fast as they are answered. The
// database must see no more fallback queries than the guard's cap allows
// (counted twice: by a wrapper around the source, and by Postgres itself as
// scans of catalog_creator), never more at once than the concurrency cap;
// the API must keep answering: 200s, and beyond the cap 503 with
// Retry-After, never a 500.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildApp } from '../../src/api/index.ts';
import { CatalogIndex } from '../../src/catalog/index.ts';
import { CachePoisoner, msgpack } from '../../src/cache/index.ts';
import {
  CatalogLookups,
  PostgresCatalogLookups,
  catalogLookupPool,
  runLookupLoad,
} from '../../src/cache/catalog/index.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { sharedRedis } from '../helpers/redis.ts';
import { openStores, type TestStores } from '../api/apiStores.ts';
import { metricValue } from './cacheFixture.ts';
import { CountingSource, catalogDatabase, creatorTableScans } from './catalogFixture.ts';

const SERVER = 'poison-load';
const RATE_PER_SEC = 20;
const BURST = 20;
const MAX_CONCURRENT = 2;
const REQUESTS = 3_000;
const CLIENTS = 48;

const rng = new SeededRandom('cache-poison-under-load');
const drill = makeDrillCatalog(rng.fork('catalog'), 200);
let stores: TestStores;
let databaseUrl: string;
let pool: pg.Pool;
let redis: Redis;
let poisonRedis: Redis;
let app: FastifyInstance;

before(async () => {
  [stores, databaseUrl] = await Promise.all([
    openStores({ server: SERVER }),
    catalogDatabase(drill.catalog, SERVER),
  ]);
  const url = (await sharedRedis()).url();
  // The Redis helper's after() hook may stop the server before ours closes these clients.
  redis = new Redis(url).on('error', () => {});
  poisonRedis = new Redis(url).on('error', () => {});
});
after(async () => {
  await app?.close();
  await stores.close();
  await redis.quit();
  await poisonRedis.quit();
});

test(
  '100% of entries poisoned with the wrong serializer under load: fallback queries stay under the cap, no 500s',
  { timeout: 120_000 },
  async (t) => {
    pool = catalogLookupPool(databaseUrl, MAX_CONCURRENT);
    const source = new CountingSource(new PostgresCatalogLookups(pool));
    const registry = new Registry();
    const guardCreatedAt = performance.now();
    const lookups = new CatalogLookups({
      redis,
      source,
      registry,
      env: 'load',
      guard: { ratePerSec: RATE_PER_SEC, burst: BURST, maxConcurrent: MAX_CONCURRENT },
    });
    app = buildApp({
      catalog: new CatalogIndex(drill.catalog),
      queue: stores.queue,
      intake: stores.intake,
      registry,
      catalogLookups: lookups,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');

    // The staging writer: every creator's price list, in MessagePack, under the production key.
    const poisoner = new CachePoisoner({
      redis: poisonRedis,
      entries: drill.catalog.creators.map((c) => [
        lookups.creatorPlansCache.key(c.id),
        msgpack({ creatorId: c.id, creatorName: c.name, plans: [] }),
      ]),
    });
    await poisoner.poisonOnce();
    poisoner.start();
    let load;
    try {
      load = await runLookupLoad({
        baseUrl: `http://127.0.0.1:${address.port}`,
        paths: drill.catalog.creators.map((c) => `/v1/creators/${c.id}/plans`),
        concurrency: CLIENTS,
        requests: REQUESTS,
        rng: rng.fork('load'),
      });
    } finally {
      await poisoner.stop();
    }
    await waitFor('the last fallback queries to finish', () => source.active === 0);
    const elapsedSec = (performance.now() - guardCreatedAt) / 1000;
    const cap = BURST + RATE_PER_SEC * elapsedSec;
    const poisonMisses = await metricValue(registry, 'firebreak_cache_misses_total', {
      reason: 'foreign_format',
    });
    const hits = await metricValue(registry, 'firebreak_cache_hits_total');
    const coalesced = await metricValue(registry, 'firebreak_cache_fallback_coalesced_total');
    const rejected = await metricValue(registry, 'firebreak_cache_fallback_rejected_total');
    t.diagnostic(
      `${load.sent} requests in ${(load.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(load.byStatus)} ${JSON.stringify(load.byCode)}; ` +
        `poison misses ${poisonMisses}, hits ${hits}, poison rounds ${poisoner.rounds}; ` +
        `fallback queries ${source.queries} (cap ${cap.toFixed(0)} over ${elapsedSec.toFixed(1)} s, peak ${source.peakActive} at once), ` +
        `coalesced ${coalesced}, refused by the guard ${rejected}`,
    );

    // The API kept serving, and refused only the way clients can handle.
    assert.equal(load.sent, REQUESTS);
    assert.equal(load.byStatus['500'] ?? 0, 0, 'no 500s');
    assert.equal(load.byStatus.network ?? 0, 0, 'no dropped connections');
    assert.deepEqual(
      Object.keys(load.byStatus).filter((s) => s !== '200' && s !== '503'),
      [],
      'only 200 and 503',
    );
    assert.ok((load.byStatus['200'] ?? 0) > 0, 'price lists were served throughout');
    assert.equal(load.missingRetryAfter, 0, 'every 503 carries Retry-After');
    assert.deepEqual(
      Object.keys(load.byCode).filter((c) => c !== 'FB_CATALOG_UNAVAILABLE' && c !== 'FB_OVERLOADED'),
      [],
    );
    // The fault took effect: readers kept finding poison.
    assert.ok(poisonMisses > REQUESTS / 4, `only ${poisonMisses} reads found poison`);
    // The database was protected.
    assert.ok(source.queries <= cap, `${source.queries} fallback queries > cap ${cap.toFixed(1)}`);
    assert.ok(source.peakActive <= MAX_CONCURRENT, `${source.peakActive} queries at once`);
    assert.equal(await metricValue(registry, 'firebreak_cache_fallback_queries_total'), source.queries);

    // Postgres's own count agrees with the wrapper's (backends flush their statistics on exit).
    await pool.end();
    await waitFor(
      'the scans to be flushed',
      async () => (await creatorTableScans(databaseUrl)) >= source.queries,
    );
    assert.equal(
      await creatorTableScans(databaseUrl),
      source.queries,
      'scans of catalog_creator = fallback queries',
    );
  },
);
