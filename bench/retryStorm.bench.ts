// What the retry budget costs and buys (docs/guardrails.md, "Resilient calls"):
//
//   node bench/retryStorm.bench.ts [--requests 1000] [--concurrency 50]
//
// A real HTTP server fails each capture with probability p, decided from
// (idempotency key, how many times it has seen the key): replayable, and
// independent of how concurrent requests interleave. One client (an
// HttpProvider) makes `requests` captures, `concurrency` at a time, through
// three policies: no retries, plain retries (4 attempts, full jitter), and
// the same retries under the default budget (10 % of requests + 1/s over
// 10 s). The budget's clock is frozen, so the whole run is one window: the
// worst case, a burst. Breakers are off so the budget's effect shows alone.
// Printed per (p, policy): server calls per request and the share of
// captures that succeeded.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { HttpProvider } from '../src/psp/httpProvider.ts';
import { isRetryableProviderError } from '../src/psp/Provider.ts';
import { DEFAULT_RETRY_BUDGET, outboundPolicy, RetryBudget } from '../src/resilience/index.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
if (!Number.isInteger(REQUESTS) || REQUESTS < 1 || !Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) {
  process.stderr.write('FB_USAGE: --requests and --concurrency must be positive integers\n');
  process.exit(2);
}
const ERROR_RATES = [0, 0.05, 0.2, 0.5, 1];
const RETRY = { maxAttempts: 4, initialDelayMs: 1, maxDelayMs: 20 };

let errorRate = 0;
let serverCalls = 0;
const seenKeys = new Map<string, number>();
const server = createServer((req, res) => {
  serverCalls++;
  const key = String(req.headers['idempotency-key']);
  const nth = (seenKeys.get(key) ?? 0) + 1;
  seenKeys.set(key, nth);
  const coin = createHash('sha256').update(`retry-storm/${key}/${nth}`).digest().readUInt32BE(0) / 2 ** 32;
  req.resume();
  if (coin < errorRate) {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'PSP_UNAVAILABLE', message: 'injected failure' } }));
    return;
  }
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      captureId: `cap_${key}`,
      status: 'captured',
      amountMinor: '1999',
      currency: 'USD',
      idempotencyKey: key,
      createdAt: new Date(0).toISOString(),
    }),
  );
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const provider = new HttpProvider({
  baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  timeoutMs: 5_000,
});

type Mode = 'no retries' | 'plain retries' | 'budgeted retries';

async function run(mode: Mode, p: number, round: number) {
  errorRate = p;
  serverCalls = 0;
  seenKeys.clear();
  const policy = outboundPolicy({
    dependency: 'bench',
    isTransient: isRetryableProviderError,
    timeoutMs: null,
    retry: mode === 'no retries' ? null : RETRY,
    budget: mode === 'budgeted retries' ? new RetryBudget({ ...DEFAULT_RETRY_BUDGET, now: () => 0 }) : null,
    breaker: null,
  });
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const n = next++;
        const request = {
          idempotencyKey: `checkout-${round}-${n}`,
          checkoutId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
          creatorId: '00000000-0000-4000-8000-00000000c0de',
          customerRef: `cus_${n}`,
          amountMinor: 1999n,
          currency: 'USD',
        };
        await policy
          .execute(({ signal }) => provider.capture(request, signal))
          .then(
            () => ok++,
            () => {},
          );
      }
    }),
  );
  return { calls: serverCalls / REQUESTS, success: ok / REQUESTS };
}

console.log(
  `retry storm bench: ${REQUESTS} captures, ${CONCURRENCY} at a time, maxAttempts ${RETRY.maxAttempts}, ` +
    `budget ratio ${DEFAULT_RETRY_BUDGET.ratio} + ${DEFAULT_RETRY_BUDGET.minRetriesPerSec}/s over ` +
    `${DEFAULT_RETRY_BUDGET.windowMs / 1000} s (one window)`,
);
console.log('| error rate | policy | server calls per request | captures succeeded |');
console.log('| --- | --- | --- | --- |');
let round = 0;
for (const p of ERROR_RATES) {
  for (const mode of ['no retries', 'plain retries', 'budgeted retries'] as const) {
    const r = await run(mode, p, round++);
    console.log(`| ${p} | ${mode} | ${r.calls.toFixed(2)} | ${(r.success * 100).toFixed(1)} % |`);
  }
}
await new Promise<void>((resolve) => server.close(() => resolve()));
