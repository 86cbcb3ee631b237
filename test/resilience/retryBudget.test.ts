// The retry budget on an injected clock: what it allows, how the window
// slides, and that it refuses bad options with FB_CONFIG_INVALID.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget } from '../../src/resilience/index.ts';

function budget(
  over: { minRetriesPerSec?: number; ratio?: number; windowMs?: number; buckets?: number } = {},
) {
  const clock = { ms: 0 };
  const b = new RetryBudget({
    windowMs: 10_000,
    minRetriesPerSec: 0,
    ratio: 0.1,
    ...over,
    now: () => clock.ms,
  });
  const retries = (n: number) => Array.from({ length: n }, () => b.tryRetry()).filter(Boolean).length;
  const requests = (n: number) => {
    for (let i = 0; i < n; i++) b.recordRequest();
  };
  return { b, clock, retries, requests };
}

test('without traffic and without a floor, no retry is allowed', () => {
  const { b, retries } = budget();
  assert.equal(retries(5), 0);
  assert.deepEqual(b.snapshot(), { requests: 0, retries: 0, allowed: 0 });
});

test('ratio 0.1: ten requests earn one retry, a hundred earn ten', () => {
  const { requests, retries } = budget();
  requests(9);
  assert.equal(retries(1), 0, 'nine requests earn 0.9 of a retry: not enough');
  requests(1);
  assert.equal(retries(3), 1);
  requests(90);
  assert.equal(retries(20), 9, 'a hundred requests, ten retries in all');
});

test('binary fractions do not cost a retry: 0.1 × 30 allows exactly three', () => {
  const { requests, retries } = budget();
  requests(30);
  assert.equal(retries(10), 3);
  const other = budget({ ratio: 0.2 });
  other.requests(35);
  assert.equal(other.retries(10), 7);
});

test('the floor allows minRetriesPerSec × window retries with no traffic at all', () => {
  const { requests, retries } = budget({ minRetriesPerSec: 2, ratio: 0.1 });
  assert.equal(retries(100), 20, '2/s over 10 s');
  requests(50);
  assert.equal(retries(100), 5, 'then only what the requests earn');
});

test('requests and retries expire after the window; a refused retry is not counted', () => {
  const { b, clock, requests, retries } = budget({ buckets: 10 });
  requests(100);
  assert.equal(retries(50), 10);
  assert.equal(b.snapshot().retries, 10, 'the 40 refused retries were not counted');
  clock.ms = 9_999; // still inside the window: the first bucket holds [0, 1000)
  assert.equal(retries(1), 0);
  clock.ms = 10_000; // the first bucket has slid out: its requests and retries are gone
  assert.deepEqual(b.snapshot(), { requests: 0, retries: 0, allowed: 0 });
  requests(10);
  assert.equal(retries(5), 1);
});

test('the window slides bucket by bucket, not all at once', () => {
  const { b, clock, requests, retries } = budget({ buckets: 10 });
  requests(10); // t = 0
  clock.ms = 5_000;
  requests(10); // t = 5 s
  assert.equal(retries(5), 2);
  clock.ms = 10_500; // the t = 0 requests expired; the retries made at t = 5 s still count
  assert.deepEqual(b.snapshot(), { requests: 10, retries: 2, allowed: 1 });
  assert.equal(retries(5), 0, 'over budget until those retries slide out too');
  clock.ms = 15_000;
  assert.deepEqual(b.snapshot(), { requests: 0, retries: 0, allowed: 0 });
});

test('a long idle gap empties the ring even when the clock jumps by whole windows', () => {
  const { b, clock, requests, retries } = budget();
  requests(100);
  clock.ms = 30_000; // exactly three windows later: every slot's step is stale
  assert.deepEqual(b.snapshot(), { requests: 0, retries: 0, allowed: 0 });
  assert.equal(retries(1), 0);
});

test('bad options fail at construction with FB_CONFIG_INVALID naming the key', () => {
  for (const [bad, key] of [
    [{ windowMs: 10, minRetriesPerSec: 1, ratio: 0.1 }, 'windowMs'],
    [{ windowMs: 10_000, minRetriesPerSec: -1, ratio: 0.1 }, 'minRetriesPerSec'],
    [{ windowMs: 10_000, minRetriesPerSec: 1, ratio: Number.NaN }, 'ratio'],
    [{ windowMs: 10_000, minRetriesPerSec: 1, ratio: 0.1, buckets: 0 }, 'buckets'],
  ] as const) {
    assert.throws(
      () => new RetryBudget(bad),
      (err: Error & { code?: string }) => err.code === 'FB_CONFIG_INVALID' && err.message.includes(key),
    );
  }
});
