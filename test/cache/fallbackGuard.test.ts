// The fallback guard's gates, one at a time, with loads the test controls
// (deferred promises) and a clock it moves by hand: single-flight, the
// concurrency cap (also after a timeout), the rate cap, and the breaker
// (open, refusing without spending the rate budget, half-open probe, close).

import { afterEach, test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  CacheMetrics,
  FallbackGuard,
  FallbackUnavailableError,
  type FallbackGuardOptions,
} from '../../src/cache/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { metricValue } from './cacheFixture.ts';

afterEach(() => mock.timers.reset());

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function guardWith(options: Partial<FallbackGuardOptions> = {}) {
  const registry = new Registry();
  let nowMs = 0;
  const guard = new FallbackGuard({
    name: 'test',
    metrics: CacheMetrics.of(registry),
    ratePerSec: 1_000,
    maxConcurrent: 10,
    now: () => nowMs,
    ...options,
  });
  return {
    guard,
    registry,
    advance: (ms: number) => {
      nowMs += ms;
    },
    metric: (name: string, labels: Record<string, string> = {}) =>
      metricValue(registry, `firebreak_cache_fallback_${name}`, { guard: 'test', ...labels }),
  };
}

async function refusal(promise: Promise<unknown>): Promise<FallbackUnavailableError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(
      err instanceof FallbackUnavailableError,
      `expected FallbackUnavailableError, got ${String(err)}`,
    );
    return err;
  }
  assert.fail('the guard let the load through');
}

test('single-flight: 50 concurrent misses for one key run one load and all get its value', async () => {
  const { guard, metric } = guardWith();
  const load = deferred<string>();
  let calls = 0;
  const runs = Array.from({ length: 50 }, () =>
    guard.run('k1', () => {
      calls += 1;
      return load.promise;
    }),
  );
  load.resolve('value');
  assert.deepEqual(new Set(await Promise.all(runs)), new Set(['value']));
  assert.equal(calls, 1);
  assert.equal(await metric('queries_total'), 1);
  assert.equal(await metric('coalesced_total'), 49);
  // The key is free again: the next miss loads anew.
  assert.equal(await guard.run('k1', () => Promise.resolve('again')), 'again');
  assert.equal(calls, 1);
});

test('single-flight shares failures too, and different keys are not coalesced', async () => {
  const { guard } = guardWith();
  const boom = new Error('db down');
  const shared = [1, 2, 3].map(() => guard.run('k', () => Promise.reject(boom)));
  for (const run of shared) assert.equal((await refusal(run)).reason, 'failed');
  let calls = 0;
  await Promise.all(['a', 'b', 'c'].map((k) => guard.run(k, () => Promise.resolve(++calls))));
  assert.equal(calls, 3);
});

test('concurrency: beyond maxConcurrent + maxQueued, a load is refused at once, and never reaches the loader', async () => {
  const { guard, metric } = guardWith({ maxConcurrent: 2, maxQueued: 1 });
  const gates = [deferred<void>(), deferred<void>(), deferred<void>()];
  let started = 0;
  const running = gates.map((gate, i) =>
    guard.run(`k${i}`, async () => {
      started += 1;
      await gate.promise;
    }),
  );
  const refused = await refusal(guard.run('k3', () => Promise.resolve()));
  assert.equal(refused.reason, 'concurrency_limited');
  assert.ok(refused.retryAfterMs >= 1_000);
  assert.equal(started, 2, 'the third waits in the queue');
  for (const gate of gates) gate.resolve();
  await Promise.all(running);
  assert.equal(started, 3);
  assert.equal(await metric('rejected_total', { reason: 'concurrency_limited' }), 1);
  await guard.run('k4', () => Promise.resolve());
});

test('a timed-out load keeps its slot until it really ends, so the database never sees more than the cap', async () => {
  const { guard, metric } = guardWith({ maxConcurrent: 1, maxQueued: 0, timeoutMs: 50 });
  const stuck = deferred<string>();
  let signal: AbortSignal | undefined;
  const first = guard.run('slow', (s) => {
    signal = s;
    return stuck.promise;
  });
  assert.equal((await refusal(first)).reason, 'timeout');
  assert.equal(signal?.aborted, true, 'the load is told it was abandoned');
  assert.equal(await metric('failures_total', { reason: 'timeout' }), 1);
  // Its query is still running: the one slot is taken.
  assert.equal((await refusal(guard.run('next', () => Promise.resolve('x')))).reason, 'concurrency_limited');
  assert.equal(await metric('in_flight'), 1);
  stuck.resolve('late');
  // The slot frees once the abandoned load has settled (a few microtasks later).
  const value = await waitFor('the slot to free', () =>
    guard.run('next', () => Promise.resolve('x')).catch(() => undefined),
  );
  assert.equal(value, 'x');
  assert.equal(await metric('in_flight'), 0);
});

test('rate: burst, then refused with a Retry-After until the bucket refills', async () => {
  const { guard, advance, metric } = guardWith({ ratePerSec: 4, burst: 2 });
  await guard.run('a', () => Promise.resolve(1));
  await guard.run('b', () => Promise.resolve(2));
  let called = false;
  const refused = await refusal(
    guard.run('c', () => {
      called = true;
      return Promise.resolve(3);
    }),
  );
  assert.equal(refused.reason, 'rate_limited');
  assert.equal(refused.retryAfterMs, 250);
  assert.equal(called, false);
  advance(250);
  assert.equal(await guard.run('c', () => Promise.resolve(3)), 3);
  assert.equal(await metric('rejected_total', { reason: 'rate_limited' }), 1);
  assert.equal(await metric('limit', { limit: 'rate_per_sec' }), 4);
  assert.equal(await metric('limit', { limit: 'burst' }), 2);
});

test('breaker: opens after consecutive failures, refuses without loading or spending tokens, probes, closes', async () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const events: string[] = [];
  const { guard, metric } = guardWith({
    ratePerSec: 3,
    burst: 3,
    breaker: { threshold: 2, halfOpenAfterMs: 5_000 },
    onEvent: (e) => events.push(e.type),
  });
  for (const k of ['a', 'b']) {
    assert.equal(
      (await refusal(guard.run(k, () => Promise.reject(new Error('ECONNREFUSED'))))).reason,
      'failed',
    );
  }
  assert.equal(guard.breakerState, 'open');
  assert.equal(await metric('breaker_state'), 1);
  let loads = 0;
  for (let i = 0; i < 20; i++) {
    const refused = await refusal(guard.run(`open-${i}`, () => Promise.resolve(++loads)));
    assert.equal(refused.reason, 'breaker_open');
    assert.equal(refused.retryAfterMs, 5_000);
  }
  assert.equal(loads, 0);
  assert.equal(await metric('rejected_total', { reason: 'breaker_open' }), 20);

  mock.timers.tick(5_000);
  // One probe goes through; while it runs, everyone else is refused rather than queued behind it.
  const probe = deferred<number>();
  const probing = guard.run('probe', () => probe.promise);
  assert.equal(guard.breakerState, 'half-open');
  assert.equal((await refusal(guard.run('other', () => Promise.resolve(0)))).reason, 'breaker_open');
  probe.resolve(42);
  assert.equal(await probing, 42);
  assert.equal(guard.breakerState, 'closed');
  assert.equal(await metric('breaker_state'), 0);
  // Only the probe spent a token while the breaker was open (burst 3: two failures + the probe).
  assert.equal((await refusal(guard.run('after', () => Promise.resolve(1)))).reason, 'rate_limited');
  assert.deepEqual(events, ['breaker_open', 'breaker_half_open', 'breaker_closed']);
});

test('refusals by a cap are not breaker failures', async () => {
  const { guard } = guardWith({ ratePerSec: 1, burst: 1, breaker: { threshold: 1 } });
  await guard.run('a', () => Promise.resolve(1));
  for (let i = 0; i < 5; i++)
    assert.equal((await refusal(guard.run(`r${i}`, () => Promise.resolve(1)))).reason, 'rate_limited');
  assert.equal(guard.breakerState, 'closed');
});
