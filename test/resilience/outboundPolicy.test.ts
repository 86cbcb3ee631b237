// The outbound policy: which failures it retries and how often, what the
// retry budget does to a call, the breaker failing fast, timeouts aborting
// the call (the signal reaches fetch, and a real server sees the request
// dropped), retries at one layer only, and its metrics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { HttpProvider } from '../../src/psp/httpProvider.ts';
import { ProviderError } from '../../src/psp/Provider.ts';
import {
  BrokenCircuitError,
  OutboundPolicy,
  RetryBudget,
  TaskCancelledError,
  isOpen,
  outboundPolicy,
  retriesSpent,
  retryRefused,
} from '../../src/resilience/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';

class Transient extends Error {}
class Permanent extends Error {}
const isTransient = (err: unknown) => err instanceof Transient;
const fastRetry = { maxAttempts: 4, initialDelayMs: 1, maxDelayMs: 2 };

async function metric(registry: Registry, name: string, dependency = 'dep'): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => v.labels.dependency === dependency)?.value ?? Number.NaN;
}

/** A call that fails `failures` times with `error()` and then answers 'ok'; counts its calls. */
function flaky(failures: number, error: () => Error = () => new Transient('blip')) {
  const calls = { n: 0 };
  const call = () => {
    calls.n++;
    if (calls.n <= failures) throw error();
    return 'ok';
  };
  return { calls, call };
}

test('transient failures are retried up to maxAttempts in all; others fail at once', async () => {
  const registry = new Registry();
  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient,
    timeoutMs: null,
    retry: fastRetry,
    registry,
  });
  const delays: number[] = [];
  policy.onRetry((e) => delays.push(e.delayMs));

  const recovers = flaky(3);
  assert.equal(await policy.execute(recovers.call), 'ok');
  assert.equal(recovers.calls.n, 4);
  assert.equal(delays.length, 3);
  for (const [i, d] of delays.entries()) assert.ok(d >= 0 && d < Math.min(2, 2 ** i), `full jitter: ${d}`);

  const persists = flaky(100);
  await assert.rejects(policy.execute(persists.call), Transient);
  assert.equal(persists.calls.n, 4, 'maxAttempts counts the first attempt');

  const wrong = flaky(100, () => new Permanent('no'));
  await assert.rejects(policy.execute(wrong.call), Permanent);
  assert.equal(wrong.calls.n, 1);

  assert.equal(await metric(registry, 'firebreak_outbound_requests_total'), 3);
  assert.equal(await metric(registry, 'firebreak_outbound_retries_total'), 6);
  assert.equal(await metric(registry, 'firebreak_outbound_retries_refused_total'), 0);
});

test('a retry the budget refuses is not made: the call fails at once with its own error', async () => {
  const registry = new Registry();
  const budget = new RetryBudget({ windowMs: 10_000, minRetriesPerSec: 0, ratio: 0.5, now: () => 0 });
  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient,
    timeoutMs: null,
    retry: { maxAttempts: 5, initialDelayMs: 1, maxDelayMs: 1 },
    budget,
    registry,
  });
  let original: Error | undefined;
  const down = flaky(100, () => (original = new Transient('down')));
  // One request earns half a retry: not enough for one.
  const err = await policy.execute(down.call).catch((e: unknown) => e);
  assert.ok(err instanceof Transient);
  assert.equal(err, original, 'the very error the dependency gave');
  assert.equal(retryRefused(err), true, 'marked, so a caller can tell a refusal from a spent call');
  assert.equal(down.calls.n, 1);
  assert.equal(await metric(registry, 'firebreak_outbound_retries_refused_total'), 1);
  // The second request makes it one retry: the call gets exactly one.
  const second = await policy.execute(down.call).catch((e: unknown) => e);
  assert.ok(second instanceof Transient);
  assert.equal(retryRefused(second), true, 'its second retry was refused');
  assert.equal(down.calls.n, 3);
  assert.deepEqual(budget.snapshot(), { requests: 2, retries: 1, allowed: 1 });
  // Exhausting maxAttempts is not a refusal.
  const roomy = outboundPolicy({
    dependency: 'roomy',
    isTransient,
    timeoutMs: null,
    retry: fastRetry,
    budget: null,
  });
  const spentErr = await roomy.execute(flaky(100).call).catch((e: unknown) => e);
  assert.equal(retryRefused(spentErr), false);
  assert.equal(retriesSpent(spentErr), true);
  assert.equal(await metric(registry, 'firebreak_outbound_retries_total'), 1);
  assert.equal(await metric(registry, 'firebreak_outbound_retries_refused_total'), 2);
});

test('the breaker opens after consecutive transient failures and then fails fast without calling', async (t) => {
  t.mock.timers.enable({ apis: ['Date'] });
  const registry = new Registry();
  const states: number[] = [];
  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient,
    timeoutMs: null,
    retry: null,
    breaker: { threshold: 3, halfOpenAfterMs: 1_000 },
    registry,
    logger: { warn: (fields) => states.push((fields as { state: number }).state) },
  });
  assert.equal(await metric(registry, 'firebreak_outbound_breaker_state'), 0, 'the series exists at once');
  const down = flaky(3);
  for (let i = 0; i < 3; i++) await assert.rejects(policy.execute(down.call), Transient);
  assert.ok(policy.breaker && isOpen(policy.breaker));
  assert.equal(await metric(registry, 'firebreak_outbound_breaker_state'), 1);
  await assert.rejects(policy.execute(down.call), BrokenCircuitError);
  assert.equal(down.calls.n, 3, 'an open breaker does not call through');

  // A permanent error is the request's fault, not the dependency's: it never opens the breaker.
  const other = outboundPolicy({
    dependency: 'other',
    isTransient,
    timeoutMs: null,
    retry: null,
    breaker: { threshold: 2, halfOpenAfterMs: 1_000 },
  });
  for (let i = 0; i < 5; i++)
    await assert.rejects(
      other.execute(() => Promise.reject(new Permanent('no'))),
      Permanent,
    );
  assert.equal(isOpen(other.breaker!), false);

  t.mock.timers.tick(1_001);
  assert.equal(await policy.execute(down.call), 'ok', 'the half-open probe goes through');
  assert.equal(isOpen(policy.breaker), false);
  assert.equal(await metric(registry, 'firebreak_outbound_breaker_state'), 0);
  assert.deepEqual(states, [1, 2, 0], 'open, half-open, closed: each change logged');
});

test('an open breaker is not retried by the retry around it', async () => {
  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient: () => true, // even a client that calls everything transient
    timeoutMs: null,
    retry: { maxAttempts: 10, initialDelayMs: 1, maxDelayMs: 1 },
    budget: null,
    breaker: { threshold: 2, halfOpenAfterMs: 60_000 },
  });
  const down = flaky(100);
  await assert.rejects(policy.execute(down.call), BrokenCircuitError);
  assert.equal(down.calls.n, 2, 'two failures opened it; the third attempt failed fast and ended the call');
});

test('an aggressive timeout returns at the deadline and aborts the signal the call was given', async () => {
  const policy = outboundPolicy({ dependency: 'dep', isTransient, timeoutMs: 30, retry: null });
  let seen: AbortSignal | undefined;
  const started = performance.now();
  await assert.rejects(
    policy.execute(({ signal }) => {
      seen = signal;
      return new Promise(() => {}); // a call that ignores its signal and never settles
    }),
    TaskCancelledError,
  );
  assert.ok(performance.now() - started < 5_000);
  assert.equal(seen?.aborted, true);
});

test('timeouts count as failures: retried, and they open the breaker', async () => {
  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient,
    timeoutMs: 20,
    retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
    budget: null,
    breaker: { threshold: 2, halfOpenAfterMs: 60_000 },
  });
  let calls = 0;
  const hang = () => {
    calls++;
    return new Promise<never>(() => {});
  };
  await assert.rejects(policy.execute(hang), TaskCancelledError);
  assert.equal(calls, 2);
  assert.equal(isOpen(policy.breaker!), true);
});

test('the timeout signal reaches fetch: HttpProvider aborts the request and the server sees it dropped', async (t) => {
  const arrived: IncomingMessage[] = [];
  let dropped = 0;
  const server = createServer((req) => {
    arrived.push(req);
    req.resume();
    req.socket.once('close', () => dropped++); // never answered: only the client can end it
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  // The provider's own bound is far away; the policy's 100 ms cancels through the signal.
  const provider = new HttpProvider({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 60_000 });
  const policy = outboundPolicy({
    dependency: 'provider',
    isTransient: (err) => err instanceof ProviderError && err.retryable,
    timeoutMs: 100,
    timeoutMode: 'cooperative',
    retry: null,
  });
  const request = {
    idempotencyKey: 'checkout-1',
    checkoutId: '00000000-0000-4000-8000-000000000001',
    creatorId: '00000000-0000-4000-8000-000000000002',
    customerRef: 'cus_1',
    amountMinor: 1999n,
    currency: 'USD',
  };
  const err = await policy
    .execute(({ signal }) => provider.capture(request, signal))
    .catch((e: unknown) => e);
  assert.ok(err instanceof ProviderError, String(err));
  assert.equal(err.code, 'PSP_CANCELLED');
  assert.equal(err.retryable, true);
  assert.equal(arrived.length, 1);
  await waitFor('the server to see the connection dropped', () => dropped === 1, { timeoutMs: 5_000 });

  // And with a fetch that records its signal: aborted when the policy's deadline passes.
  let signal: AbortSignal | undefined;
  const recording = new HttpProvider({
    baseUrl: 'http://psp.invalid',
    timeoutMs: 60_000,
    fetch: (_url, init) => {
      signal = init?.signal ?? undefined;
      return new Promise((_resolve, reject) =>
        signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    },
  });
  await assert.rejects(
    policy.execute(({ signal: s }) => recording.capture(request, s)),
    ProviderError,
  );
  assert.equal(signal?.aborted, true);
});

test('retries happen at one layer: an outer policy passes on what an inner one gave up on', async () => {
  const inner = outboundPolicy({
    dependency: 'inner',
    isTransient,
    timeoutMs: null,
    retry: fastRetry,
    budget: null,
  });
  const outer = outboundPolicy({
    dependency: 'outer',
    isTransient,
    timeoutMs: null,
    retry: fastRetry,
    budget: null,
  });
  const down = flaky(100);
  const err = await outer.execute(() => inner.execute(down.call)).catch((e: unknown) => e);
  assert.ok(err instanceof Transient);
  assert.equal(retriesSpent(err), true);
  assert.equal(down.calls.n, 4, 'the inner policy’s 4 attempts, not 4 × 4');
});

test('retry: null calls once; a cancelled caller gets no further retry', async () => {
  const once = outboundPolicy({ dependency: 'dep', isTransient, timeoutMs: null, retry: null });
  const down = flaky(100);
  await assert.rejects(once.execute(down.call), Transient);
  assert.equal(down.calls.n, 1);
  assert.equal(once.budget, undefined);

  const policy = outboundPolicy({
    dependency: 'dep',
    isTransient,
    timeoutMs: null,
    retry: fastRetry,
    budget: null,
  });
  const abort = new AbortController();
  let calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      abort.abort();
      throw new Transient('blip');
    }, abort.signal),
    Transient,
  );
  assert.equal(calls, 1);
});

test('bad options fail at construction with FB_CONFIG_INVALID naming the key', () => {
  const base = { dependency: 'dep', isTransient, timeoutMs: null };
  for (const [bad, key] of [
    [{ ...base, dependency: 'Has Spaces' }, 'dependency'],
    [{ ...base, timeoutMs: 0 }, 'timeoutMs'],
    [{ ...base, retry: { maxAttempts: 0, initialDelayMs: 1, maxDelayMs: 1 } }, 'retry.maxAttempts'],
    [{ ...base, retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 10 } }, 'retry.maxDelayMs'],
    [{ ...base, breaker: { threshold: 0, halfOpenAfterMs: 1 } }, 'breaker.threshold'],
  ] as const) {
    assert.throws(
      () => new OutboundPolicy(bad),
      (err: Error & { code?: string }) => err.code === 'FB_CONFIG_INVALID' && err.message.includes(key),
      key,
    );
  }
  const unbounded = outboundPolicy({
    ...base,
    retry: { maxAttempts: Infinity, initialDelayMs: 1, maxDelayMs: 1 },
  });
  assert.equal(unbounded.maxAttempts, Infinity);
});
