// A retry storm against a real HTTP server that fails every request (503, as
// the sandbox answers during an outage). Four clients, each an HttpProvider
// behind its own outbound policy (as four worker processes would be), make
// 50 captures each, 25 at a time. With the retry budget the server sees at
// most requests × (1 + ratio) + clients × floor calls; with plain retries
// (budget: null) it sees maxAttempts × requests, which is what the incident's
// retries without a budget did. Both are asserted, so the first one can fail.
//
// The budgets' clock is frozen: the whole storm is one window, whatever the
// machine's speed, so the bound is exact and the test cannot flake on time.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { HttpProvider } from '../../src/psp/httpProvider.ts';
import { isRetryableProviderError, type CaptureRequest } from '../../src/psp/Provider.ts';
import { outboundPolicy, RetryBudget, type BreakerOptions } from '../../src/resilience/index.ts';

const CLIENTS = 4;
const CALLS_PER_CLIENT = 50;
const CONCURRENCY_PER_CLIENT = 25;
const REQUESTS = CLIENTS * CALLS_PER_CLIENT;
const MAX_ATTEMPTS = 4;
const BUDGET = { windowMs: 10_000, minRetriesPerSec: 1, ratio: 0.1 };
const FLOOR = (BUDGET.minRetriesPerSec * BUDGET.windowMs) / 1000;

let seen = 0;
const server = createServer((req, res) => {
  seen++;
  req.resume();
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 'PSP_UNAVAILABLE', message: 'provider outage' } }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function captureRequest(client: number, call: number): CaptureRequest {
  const n = client * 1_000 + call;
  return {
    idempotencyKey: `checkout-storm-${n}`,
    checkoutId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    creatorId: '00000000-0000-4000-8000-00000000c0de',
    customerRef: `cus_${n}`,
    amountMinor: 1999n,
    currency: 'USD',
  };
}

interface StormResult {
  readonly serverCalls: number;
  readonly failedCalls: number;
  readonly retries: number;
  readonly refused: number;
}

/** Every client makes its calls, CONCURRENCY_PER_CLIENT at a time; returns what the server saw. */
async function storm(budget: 'budget' | 'none', breaker: BreakerOptions | null = null): Promise<StormResult> {
  seen = 0;
  const registry = new Registry();
  let failedCalls = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const provider = new HttpProvider({ baseUrl, timeoutMs: 5_000 });
      const policy = outboundPolicy({
        dependency: `client${client}`,
        isTransient: isRetryableProviderError,
        timeoutMs: null, // HttpProvider bounds each request itself
        retry: { maxAttempts: MAX_ATTEMPTS, initialDelayMs: 1, maxDelayMs: 10 },
        budget: budget === 'budget' ? new RetryBudget({ ...BUDGET, now: () => 0 }) : null,
        breaker,
        registry,
      });
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY_PER_CLIENT }, async () => {
          while (next < CALLS_PER_CLIENT) {
            const request = captureRequest(client, next++);
            await policy
              .execute(({ signal }) => provider.capture(request, signal))
              .catch(() => failedCalls++);
          }
        }),
      );
    }),
  );
  const total = async (name: string) =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? []).reduce((s, v) => s + v.value, 0);
  return {
    serverCalls: seen,
    failedCalls,
    retries: await total('firebreak_outbound_retries_total'),
    refused: await total('firebreak_outbound_retries_refused_total'),
  };
}

function report(label: string, r: StormResult): void {
  console.log(
    `${label.padEnd(38)} requests=${REQUESTS} server_calls=${r.serverCalls} ` +
      `amplification=${(r.serverCalls / REQUESTS).toFixed(2)} retries=${r.retries} refused=${r.refused}`,
  );
}

test('retry storm: with the budget the server sees at most requests × (1 + ratio) + the floor', async () => {
  const r = await storm('budget');
  report('budgeted retries (no breaker)', r);
  const bound = REQUESTS * (1 + BUDGET.ratio) + CLIENTS * FLOOR;
  assert.equal(r.failedCalls, REQUESTS, 'the server fails everything');
  assert.ok(r.serverCalls <= bound, `server saw ${r.serverCalls} calls, budget allows ${bound}`);
  assert.equal(
    r.serverCalls,
    REQUESTS + r.retries,
    'every call the server saw is a request or a counted retry',
  );
  assert.ok(r.refused > 0, 'the budget refused retries');
  assert.ok(r.retries > 0, 'the budget let some retries through');
});

test('retry storm without the budget: the server sees maxAttempts × requests', async () => {
  const r = await storm('none');
  report('plain retries (no budget, no breaker)', r);
  assert.equal(r.serverCalls, MAX_ATTEMPTS * REQUESTS);
  assert.ok(r.serverCalls > REQUESTS * (1 + BUDGET.ratio) + CLIENTS * FLOOR, 'the bound above would fail');
});

test('retry storm with the whole policy: the breakers cut it further', async () => {
  const r = await storm('budget', { threshold: 5, halfOpenAfterMs: 60_000 });
  report('budget + breaker (threshold 5)', r);
  assert.ok(r.serverCalls < REQUESTS, `server saw ${r.serverCalls}: open breakers fail fast`);
});
