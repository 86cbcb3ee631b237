// Redis failing must neither hang a request nor flood the database: a Redis
// that stops answering (SIGSTOP: connections open, no replies) costs a read
// the command timeout; a Redis that is gone fails reads at once (no offline
// queue); either way the miss goes through the same guard (single-flight and
// caps), and the cache is used again once Redis is back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  CacheMetrics,
  FallbackGuard,
  FallbackUnavailableError,
  ReadThroughCache,
  closeCacheRedis,
  openCacheRedis,
} from '../../src/cache/index.ts';
import type { RedisServer } from '../../src/stack/redisServer.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { sharedRedis } from '../helpers/redis.ts';
import { A_WIDGET, metricValue, widgetSchema } from './cacheFixture.ts';

let server: RedisServer;
let redis: Redis;

before(async () => {
  server = await sharedRedis('outage');
  redis = openCacheRedis(server.url(), { commandTimeoutMs: 200 });
  await waitFor('the cache client to connect', () => redis.status === 'ready');
});
after(async () => {
  await closeCacheRedis(redis);
});

function setup(ratePerSec = 1_000, burst?: number) {
  const registry = new Registry();
  const metrics = CacheMetrics.of(registry);
  const cache = new ReadThroughCache({
    redis,
    namespace: { env: 'outage', service: 'svc' },
    schema: widgetSchema,
    fallback: new FallbackGuard({
      name: 'test',
      metrics,
      ratePerSec,
      ...(burst === undefined ? {} : { burst }),
      maxConcurrent: 4,
    }),
    metrics,
    ttlMs: 60_000,
    negativeTtlMs: 5_000,
  });
  let loads = 0;
  let gate: Promise<unknown> = Promise.resolve();
  const load = async () => {
    loads += 1;
    await gate;
    return A_WIDGET;
  };
  return {
    cache,
    load,
    loads: () => loads,
    /** Holds every load until `until` resolves, so readers that miss meanwhile overlap with it. */
    holdLoads: (until: Promise<unknown>) => {
      gate = until;
    },
    metric: (name: string, labels: Record<string, string>) => metricValue(registry, name, labels),
  };
}

test(
  'a wedged Redis (SIGSTOP) costs a read its command timeout, not a hang; 30 readers of one key share one load',
  { timeout: 15_000 },
  async () => {
    const { cache, load, loads, metric, holdLoads } = setup();
    await cache.get('w-1', load);
    await waitFor('the entry to be written', async () => (await redis.exists(cache.key('w-1'))) === 1);
    process.kill(server.pid!, 'SIGSTOP');
    try {
      // The load stands for a query that takes longer than the readers' timeouts are apart.
      holdLoads(
        waitFor(
          'all 30 readers to miss',
          async () => (await metric('firebreak_cache_misses_total', { reason: 'redis_error' })) >= 30,
        ),
      );
      const values = await Promise.all(Array.from({ length: 30 }, () => cache.get('w-1', load)));
      for (const v of values) assert.deepEqual(v, A_WIDGET);
      assert.equal(loads(), 2, 'one load before the fault, one shared by all 30 readers during it');
      assert.equal(await metric('firebreak_cache_misses_total', { reason: 'redis_error' }), 30);
      assert.equal(await metric('firebreak_cache_fallback_coalesced_total', { guard: 'test' }), 29);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
    // Back: served from Redis again.
    await waitFor('a hit after Redis resumes', async () => {
      await cache.get('w-1', load);
      return (await metric('firebreak_cache_hits_total', { cache: 'widget' })) >= 1;
    });
  },
);

test(
  'Redis gone: reads fail at once, the guard caps the loads, and the cache comes back with Redis',
  { timeout: 30_000 },
  async () => {
    const { cache, load, loads, metric } = setup(10, 10);
    await server.kill();
    try {
      await waitFor('the client to notice', () => redis.status !== 'ready');
      // 100 different ids at once: no coalescing to help, only the rate cap.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => cache.get(`id-${i}`, load)),
      );
      const served = outcomes.filter((o) => o.status === 'fulfilled').length;
      const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      assert.ok(loads() <= 10, `${loads()} loads reached the database; the cap is a burst of 10`);
      assert.equal(served, loads());
      assert.equal(refused.length, 100 - served);
      for (const err of refused) {
        assert.ok(err instanceof FallbackUnavailableError, String(err));
        assert.ok(err.reason === 'rate_limited' || err.reason === 'concurrency_limited', err.reason);
      }
      assert.equal(await metric('firebreak_cache_misses_total', { reason: 'redis_error' }), 100);
    } finally {
      await server.resume();
    }
    await waitFor('the client to reconnect', () => redis.status === 'ready', { timeoutMs: 15_000 });
    // The first reads after the outage may still be rate-limited; the bucket refills at 10/s.
    await waitFor('the entry written once Redis is back', async () => {
      await cache.get('back', load).catch(() => {});
      return (await redis.exists(cache.key('back'))) === 1;
    });
    assert.equal(await redis.exists(cache.key('back')), 1);
  },
);
