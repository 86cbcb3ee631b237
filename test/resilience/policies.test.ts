import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokenCircuitError } from 'cockatiel';
import { breakerPolicy, isOpen, jitteredDelayMs, retryPolicy } from '../../src/resilience/index.ts';

test('full jitter: the delay is uniform below a doubling ceiling, capped', () => {
  assert.equal(
    jitteredDelayMs(1, 100, 5_000, () => 0.999),
    99,
  );
  assert.equal(
    jitteredDelayMs(3, 100, 5_000, () => 0.999),
    399,
  );
  assert.equal(
    jitteredDelayMs(20, 100, 5_000, () => 0.999),
    4_995,
  );
  assert.equal(
    jitteredDelayMs(5, 100, 5_000, () => 0),
    0,
  );
});

test('retry policy retries only what it is told is retryable', async () => {
  const policy = retryPolicy((e) => (e as Error).message === 'transient', {
    maxAttempts: 3,
    initialDelayMs: 1,
    maxDelayMs: 2,
  });
  let calls = 0;
  const result = await policy.execute(() => {
    calls++;
    if (calls < 3) throw new Error('transient');
    return 'ok';
  });
  assert.equal(result, 'ok');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new Error('permanent');
    }),
    /permanent/,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new Error('transient');
    }),
    /transient/,
  );
  assert.equal(calls, 3, 'maxAttempts counts every attempt, the first included');
});

test('breaker opens after consecutive failures, rejects fast, and closes after a good probe', async (t) => {
  t.mock.timers.enable({ apis: ['Date'] });
  const breaker = breakerPolicy(() => true, { threshold: 2, halfOpenAfterMs: 1_000 });
  const fail = () =>
    breaker.execute(() => {
      throw new Error('down');
    });
  await assert.rejects(fail(), /down/);
  await assert.rejects(fail(), /down/);
  assert.equal(isOpen(breaker), true);
  let called = false;
  await assert.rejects(
    breaker.execute(() => {
      called = true;
    }),
    BrokenCircuitError,
  );
  assert.equal(called, false, 'an open breaker does not call through');
  t.mock.timers.tick(1_001);
  await breaker.execute(() => 'probe ok');
  assert.equal(isOpen(breaker), false);
});
