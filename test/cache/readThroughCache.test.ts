// The read-through cache against a real Redis: values and "none" round-trip
// through envelopes under versioned keys; every kind of poison is a counted
// miss, is deleted and is answered from the loader (never an exception); the
// previous version is served, older and newer are not; and a rollout where
// old and new readers share a Redis never makes either side see poison.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  CacheMetrics,
  FallbackGuard,
  ReadThroughCache,
  defineCacheSchema,
  encodeEnvelope,
  encodeEnvelopeAt,
  type CacheSchema,
} from '../../src/cache/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { sharedRedis } from '../helpers/redis.ts';
import { A_WIDGET, WidgetV2, metricValue, poisonBlobs, widgetSchema, type Widget } from './cacheFixture.ts';

let redis: Redis;
let envCounter = 0;

before(async () => {
  const server = await sharedRedis();
  redis = new Redis(server.url()).on('error', () => {});
});
after(async () => {
  await redis.quit();
});

/** A cache in a namespace of its own (keys never collide between tests), a loader that counts. */
function setup<T = Widget>(
  schema: CacheSchema<T> = widgetSchema as unknown as CacheSchema<T>,
  env = `t${++envCounter}`,
) {
  const registry = new Registry();
  const metrics = CacheMetrics.of(registry);
  const cache = new ReadThroughCache<T>({
    redis,
    namespace: { env, service: 'svc' },
    schema,
    fallback: new FallbackGuard({ name: 'test', metrics, ratePerSec: 1_000, maxConcurrent: 10 }),
    metrics,
    ttlMs: 60_000,
    negativeTtlMs: 5_000,
  });
  return {
    cache,
    registry,
    env,
    miss: (reason: string) =>
      metricValue(registry, 'firebreak_cache_misses_total', { cache: schema.name, reason }),
    hits: () => metricValue(registry, 'firebreak_cache_hits_total', { cache: schema.name }),
    deleted: (reason: string) =>
      metricValue(registry, 'firebreak_cache_poison_deleted_total', { cache: schema.name, reason }),
  };
}

function counting<T>(value: T) {
  const calls = { n: 0 };
  return { calls, load: () => Promise.resolve((calls.n++, value)) };
}

test('keys are <env>:<service>:<schema>:v<version>:<id>', () => {
  const { cache, env } = setup();
  assert.equal(cache.key('w-1'), `${env}:svc:widget:v3:w-1`);
  assert.equal(cache.key('w-1', 2), `${env}:svc:widget:v2:w-1`);
  assert.throws(() => cache.key('has:colon'), TypeError);
});

test('a miss loads, writes the envelope back, and the next read is a hit', async () => {
  const { cache, hits, miss } = setup();
  const { calls, load } = counting(A_WIDGET);
  assert.deepEqual(await cache.get('w-1', load), A_WIDGET);
  assert.equal(calls.n, 1);
  assert.equal(await miss('absent'), 1);
  const stored = await waitFor('the write-back', () => redis.getBuffer(cache.key('w-1')));
  assert.deepEqual(stored, encodeEnvelope(widgetSchema, A_WIDGET));
  assert.ok((await redis.pttl(cache.key('w-1'))) > 50_000, 'written with the TTL (less jitter)');
  assert.deepEqual(await cache.get('w-1', load), A_WIDGET);
  assert.equal(calls.n, 1);
  assert.equal(await hits(), 1);
});

test('"none" is remembered (negative entry, short TTL), so unknown ids do not each reach the loader', async () => {
  const { cache, hits } = setup();
  const { calls, load } = counting<Widget | null>(null);
  assert.equal(await cache.get('missing', load), null);
  await waitFor('the negative entry', async () => (await redis.exists(cache.key('missing'))) === 1);
  assert.equal(await cache.get('missing', load), null);
  assert.equal(calls.n, 1);
  assert.equal(await hits(), 1);
  const ttl = await redis.pttl(cache.key('missing'));
  assert.ok(ttl > 0 && ttl <= 5_500, `negative TTL ${ttl}`);
});

test('every kind of poison under the current key is a counted miss, is deleted, and the reader gets the value', async () => {
  for (const [kind, { bytes, reason }] of Object.entries(poisonBlobs())) {
    const { cache, miss, deleted } = setup();
    const key = cache.key('w-1');
    await redis.set(key, bytes);
    const { calls, load } = counting(A_WIDGET);
    assert.deepEqual(await cache.get('w-1', load), A_WIDGET, kind);
    assert.equal(calls.n, 1, kind);
    assert.equal(await miss(reason), 1, `${kind}: counted as ${reason}`);
    assert.equal(await deleted(reason), 1, kind);
    // The poison is gone, replaced by the good entry the fallback wrote back.
    const good = encodeEnvelope(widgetSchema, A_WIDGET);
    await waitFor(`${kind}: the poison replaced`, async () => (await redis.getBuffer(key))?.equals(good));
  }
});

test('poison under the previous-version key is deleted too (nothing writes it back there)', async () => {
  for (const [kind, { bytes }] of Object.entries(poisonBlobs())) {
    const { cache, miss } = setup();
    const previousKey = cache.key('w-1', 2);
    await redis.set(previousKey, bytes);
    assert.deepEqual(await cache.get('w-1', counting(A_WIDGET).load), A_WIDGET, kind);
    await waitFor(
      `${kind}: the previous-version poison deleted`,
      async () => (await redis.exists(previousKey)) === 0,
    );
    assert.equal(await miss('absent'), 0, kind);
  }
});

test('the previous version is served (upgraded) without loading; an older one is refused and deleted', async () => {
  const { cache, hits, miss } = setup();
  await redis.set(cache.key('v2'), encodeEnvelopeAt('widget', 2, { name: 'Silver', tags: ['weekly'] }));
  const { calls, load } = counting(A_WIDGET);
  assert.deepEqual(await cache.get('v2', load), { displayName: 'Silver', tags: ['weekly'] });
  // Also under the previous version's own key, as an old writer stores it.
  await redis.set(cache.key('v2b', 2), encodeEnvelopeAt('widget', 2, { name: 'Bronze', tags: [] }));
  assert.deepEqual(await cache.get('v2b', load), { displayName: 'Bronze', tags: [] });
  assert.equal(calls.n, 0);
  assert.equal(await hits(), 2);

  await redis.set(cache.key('v1'), encodeEnvelopeAt('widget', 1, { title: 'Ancient' }));
  assert.deepEqual(await cache.get('v1', load), A_WIDGET);
  assert.equal(calls.n, 1);
  assert.equal(await miss('unknown_version'), 1);
});

test('rollout: old (v2) and new (v3, reads v2) readers share one Redis; neither ever sees poison', async () => {
  const env = `t${++envCounter}`;
  const oldSchema = defineCacheSchema({ name: 'widget', version: 2, payload: WidgetV2 });
  const old = setup(oldSchema, env);
  const young = setup(widgetSchema, env);
  const oldValue = { name: 'Gold tier', tags: ['monthly'] };
  // An old instance fills the cache; the new one reads its entry (readers first).
  assert.deepEqual(await old.cache.get('w-1', () => Promise.resolve(oldValue)), oldValue);
  await waitFor('the old write-back', async () => (await redis.exists(old.cache.key('w-1'))) === 1);
  const { calls, load } = counting(A_WIDGET);
  assert.deepEqual(await young.cache.get('w-1', load), { displayName: 'Gold tier', tags: ['monthly'] });
  assert.equal(calls.n, 0);
  // The new instance writes v3 for another id; the old one, reading only v2 keys, just misses.
  await young.cache.get('w-2', load);
  await waitFor('the new write-back', async () => (await redis.exists(young.cache.key('w-2'))) === 1);
  assert.deepEqual(await old.cache.get('w-2', () => Promise.resolve(oldValue)), oldValue);
  for (const side of [old, young]) {
    for (const reason of [
      'foreign_format',
      'corrupt_envelope',
      'wrong_schema',
      'unknown_version',
      'checksum_mismatch',
      'invalid_payload',
    ])
      assert.equal(await side.miss(reason), 0, `${side === old ? 'old' : 'new'} reader saw ${reason}`);
  }
});

test('put and invalidate, for services that write entries themselves', async () => {
  const { cache, hits } = setup();
  assert.equal(await cache.put('w-9', A_WIDGET), true);
  assert.deepEqual(await cache.get('w-9', () => Promise.reject(new Error('not called'))), A_WIDGET);
  assert.equal(await hits(), 1);
  await cache.invalidate('w-9');
  assert.equal(await redis.exists(cache.key('w-9')), 0);
});
