// The public lookup routes in the checkout app (app.inject), over a real
// Redis and the lookup tables in the API's real Postgres database: shapes and
// headers, served from the cache on the second read, "none" remembered,
// input errors, poison answered from the database, and the database going
// away: 503 FB_CATALOG_UNAVAILABLE with Retry-After (breaker open after
// repeated failures), never a 500, and 200 again once it is back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/index.ts';
import { parseCatalog } from '../../src/catalog/index.ts';
import { CatalogLookups, catalogLookupPool, PostgresCatalogLookups } from '../../src/cache/catalog/index.ts';
import type { PostgresServer } from '../../src/stack/postgresServer.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { sharedPostgres } from '../helpers/postgres.ts';
import { sharedRedis } from '../helpers/redis.ts';
import {
  CREATOR_A,
  PLAN_A_USD,
  PLAN_B_EUR,
  UNKNOWN_CREATOR_ID,
  catalogDocument,
  testCatalog,
  type ErrorBody,
} from '../api/apiFixture.ts';
import { openStores, type TestStores } from '../api/apiStores.ts';
import type { CountingSource } from './catalogFixture.ts';
import { openCatalogSource } from './catalogFixture.ts';
import { metricValue, msgpackWidget } from './cacheFixture.ts';

const SERVER = 'catalog-routes';
let pgServer: PostgresServer;
let stores: TestStores;
let redis: Redis;
let registry: Registry;
let source: CountingSource;
let lookups: CatalogLookups;
let app: FastifyInstance;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  pgServer = await sharedPostgres(SERVER);
  stores = await openStores({ server: SERVER });
  redis = new Redis((await sharedRedis()).url()).on('error', () => {});
  const opened = await openCatalogSource(stores.databaseUrl, parseCatalog(catalogDocument));
  source = opened.source;
  registry = new Registry();
  lookups = new CatalogLookups({
    redis,
    source,
    registry,
    env: 'routes',
    guard: {
      ratePerSec: 1_000,
      maxConcurrent: 4,
      breakerThreshold: 3,
      halfOpenAfterMs: 500,
      timeoutMs: 1_000,
    },
  });
  app = buildApp({
    catalog: testCatalog(),
    queue: stores.queue,
    intake: stores.intake,
    registry,
    catalogLookups: lookups,
  });
  closers.push(
    () => app.close(),
    () => opened.pool.end(),
    () => stores.close(),
    () => redis.quit(),
  );
});
after(async () => {
  for (const close of closers) await close();
});

const get = (url: string) => app.inject({ method: 'GET', url });

test('a price list, then the same from the cache without a query', async () => {
  const first = await get(`/v1/creators/${CREATOR_A.id}/plans`);
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.headers['cache-control'], 'public, max-age=300');
  const body = first.json<{ creatorId: string; plans: { planId: string; amountMinor: string }[] }>();
  assert.equal(body.creatorId, CREATOR_A.id);
  assert.equal(body.plans.length, 2);
  assert.ok(body.plans.some((p) => p.planId === PLAN_A_USD && p.amountMinor === '999'));
  const key = `routes:api:creator-plans:v1:${CREATOR_A.id}`;
  await waitFor('the entry to be cached', async () => (await redis.exists(key)) === 1);
  const queries = source.queries;
  const second = await get(`/v1/creators/${CREATOR_A.id.toUpperCase()}/plans`);
  assert.equal(second.statusCode, 200);
  assert.deepEqual(second.json(), body);
  assert.equal(source.queries, queries, 'served from Redis');
  assert.ok((await metricValue(registry, 'firebreak_cache_hits_total', { cache: 'creator-plans' })) >= 1);
});

test('a plan and FX rates', async () => {
  const plan = await get(`/v1/plans/${PLAN_B_EUR}`);
  assert.equal(plan.statusCode, 200, plan.body);
  assert.deepEqual(plan.json(), {
    planId: PLAN_B_EUR,
    creatorId: '7d2f1e0a-5b4c-4d3e-8f9a-0b1c2d3e4f50',
    name: 'B weekly',
    currency: 'EUR',
    amountMinor: '250',
    cadence: 'weekly',
  });
  const eur = await get('/v1/fx/EUR');
  assert.equal(eur.statusCode, 200);
  assert.equal(eur.headers['cache-control'], 'public, max-age=60');
  assert.deepEqual(eur.json(), { currency: 'EUR', usdPerUnit: '1.0842', snapshotId: 'test-fx-1' });
  assert.deepEqual((await get('/v1/fx/USD')).json(), {
    currency: 'USD',
    usdPerUnit: '1',
    snapshotId: 'test-fx-1',
  });
});

test('unknown ids are 404, and remembered: asking again does not reach the database', async () => {
  const first = await get(`/v1/creators/${UNKNOWN_CREATOR_ID}/plans`);
  assert.equal(first.statusCode, 404);
  assert.equal(first.json<ErrorBody>().error.code, 'FB_NOT_FOUND');
  assert.equal(first.json<ErrorBody>().error.field, 'params.creatorId');
  await waitFor(
    'the negative entry',
    async () => (await redis.exists(`routes:api:creator-plans:v1:${UNKNOWN_CREATOR_ID}`)) === 1,
  );
  const queries = source.queries;
  assert.equal((await get(`/v1/creators/${UNKNOWN_CREATOR_ID}/plans`)).statusCode, 404);
  assert.equal(source.queries, queries);
  assert.equal((await get(`/v1/plans/${UNKNOWN_CREATOR_ID}`)).statusCode, 404);
});

test('malformed input is refused before the cache: 400 for a bad UUID, 422 for an unknown currency', async () => {
  const queries = source.queries;
  const badId = await get('/v1/creators/not-a-uuid/plans');
  assert.equal(badId.statusCode, 400);
  assert.deepEqual(badId.json<ErrorBody>().error.code, 'FB_INVALID_FIELD');
  assert.equal(badId.json<ErrorBody>().error.field, 'params.creatorId');
  assert.equal((await get('/v1/plans/123')).json<ErrorBody>().error.field, 'params.planId');
  for (const currency of ['usd', 'XXX', 'EURO']) {
    const res = await get(`/v1/fx/${currency}`);
    assert.equal(res.statusCode, 422, currency);
    assert.equal(res.json<ErrorBody>().error.code, 'FB_UNKNOWN_CURRENCY');
  }
  assert.equal(source.queries, queries);
});

test('a poisoned entry is answered from the database, counted, and replaced', async () => {
  const key = `routes:api:plan:v1:${PLAN_A_USD}`;
  await redis.set(key, msgpackWidget());
  const res = await get(`/v1/plans/${PLAN_A_USD}`);
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json<{ planId: string }>().planId, PLAN_A_USD);
  assert.equal(
    await metricValue(registry, 'firebreak_cache_misses_total', { cache: 'plan', reason: 'foreign_format' }),
    1,
  );
  await waitFor(
    'the good entry written back',
    async () => (await redis.getBuffer(key))?.subarray(0, 5).toString() === 'FBC1 ',
  );
});

test(
  'database down: 503 FB_CATALOG_UNAVAILABLE with Retry-After (never 500), breaker opens, then 200 again',
  { timeout: 60_000 },
  async () => {
    // Ids nobody has read yet, so every request misses.
    const ids = Array.from(
      { length: 12 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    await pgServer.stop();
    try {
      const statuses: number[] = [];
      for (const id of ids) {
        const res = await get(`/v1/creators/${id}/plans`);
        statuses.push(res.statusCode);
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.json<ErrorBody>().error.code, 'FB_CATALOG_UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
      }
      const queriesTried = await metricValue(registry, 'firebreak_cache_fallback_queries_total', {
        guard: 'catalog',
      });
      const refusedOpen = await metricValue(registry, 'firebreak_cache_fallback_rejected_total', {
        guard: 'catalog',
        reason: 'breaker_open',
      });
      assert.ok(refusedOpen >= 1, 'the breaker opened and refused without querying');
      assert.equal(
        await metricValue(registry, 'firebreak_cache_fallback_breaker_state', { guard: 'catalog' }),
        1,
      );
      assert.ok(queriesTried < ids.length + 8, `queries tried: ${queriesTried}`);
    } finally {
      await pgServer.resume();
    }
    // Not from the cache: the answer must come from the database that came back.
    await lookups.creatorPlansCache.invalidate(CREATOR_A.id);
    const queries = source.queries;
    const back = await waitFor(
      'lookups to be answered again',
      async () => {
        const res = await get(`/v1/creators/${CREATOR_A.id}/plans`);
        assert.ok(res.statusCode === 200 || res.statusCode === 503, res.body);
        return res.statusCode === 200 ? res : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.equal(back.json<{ creatorId: string }>().creatorId, CREATOR_A.id);
    assert.ok(source.queries > queries, 'answered by the database');
    assert.equal(await metricValue(registry, 'firebreak_api_http_requests_total', { status: '500' }), 0);
  },
);

test('without a Redis at all (redis: null) lookups still work, every one a guarded database read', async () => {
  const reg = new Registry();
  const pool = catalogLookupPool(stores.databaseUrl, 2);
  try {
    const plain = new CatalogLookups({
      redis: null,
      source: new PostgresCatalogLookups(pool),
      registry: reg,
      env: 'none',
    });
    assert.equal((await plain.fxRate('GBP'))?.usdPerUnit, '1.2711');
    assert.equal(await metricValue(reg, 'firebreak_cache_fallback_queries_total', { guard: 'catalog' }), 1);
  } finally {
    await pool.end();
  }
});
