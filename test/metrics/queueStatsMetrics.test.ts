// The queue gauges: one stats read per scrape, bounded by a timeout, one read
// outstanding at most while the database is slow, last values kept (and
// flagged stale) when a read fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerQueueStatsMetrics } from '../../src/metrics/index.ts';
import type { QueueStats } from '../../src/queue/Queue.ts';

const STATS: QueueStats = { visible: 7, inFlight: 2, deadLettered: 1, oldestAgeSec: 42.5 };

/** A queue whose stats() answers however the test says, counting calls. */
function fakeQueue() {
  let next: () => Promise<QueueStats> = () => Promise.resolve(STATS);
  const fake = {
    calls: 0,
    answerWith(fn: () => Promise<QueueStats>) {
      next = fn;
    },
    stats() {
      fake.calls++;
      return next();
    },
  };
  return fake;
}

async function scrape(registry: Registry): Promise<string> {
  return registry.metrics();
}

test('a scrape exports depth, oldest age and DLQ depth from one stats read', async () => {
  const registry = new Registry();
  const queue = fakeQueue();
  registerQueueStatsMetrics({ registry, queue, maxAgeMs: 0 });
  const text = await scrape(registry);
  assert.match(text, /^checkout_queue_messages\{queue="fifo",state="visible"\} 7$/m);
  assert.match(text, /^checkout_queue_messages\{queue="fifo",state="in_flight"\} 2$/m);
  assert.match(text, /^checkout_queue_oldest_message_age_seconds\{queue="fifo"\} 42.5$/m);
  assert.match(text, /^checkout_dlq_messages\{queue="fifo"\} 1$/m);
  assert.match(text, /^checkout_queue_stats_up\{queue="fifo"\} 1$/m);
  assert.equal(queue.calls, 1, 'four gauges, one read');
});

test('scrapes within maxAgeMs share one read', async () => {
  const registry = new Registry();
  const queue = fakeQueue();
  registerQueueStatsMetrics({ registry, queue, maxAgeMs: 60_000 });
  await scrape(registry);
  await scrape(registry);
  assert.equal(queue.calls, 1);
});

test('a stats read that hangs cannot hang the scrape, and never piles up', async () => {
  const registry = new Registry();
  const queue = fakeQueue();
  const errors: unknown[] = [];
  registerQueueStatsMetrics({
    registry,
    queue,
    maxAgeMs: 0,
    timeoutMs: 50,
    onError: (err) => errors.push(err),
  });
  await scrape(registry); // a good read first: these values must survive
  let release: (stats: QueueStats) => void = () => {};
  queue.answerWith(() => new Promise<QueueStats>((resolve) => (release = resolve)));

  const started = performance.now();
  const text = await scrape(registry);
  // Generous against a loaded machine; the point is "bounded", not "exactly 50 ms".
  assert.ok(performance.now() - started < 5_000, 'the scrape answered despite the hung read');
  assert.match(text, /^checkout_queue_stats_up\{queue="fifo"\} 0$/m);
  assert.match(text, /^checkout_dlq_messages\{queue="fifo"\} 1$/m, 'last known value kept');
  assert.match(text, /^checkout_queue_stats_failures_total\{queue="fifo",reason="timeout"\} 1$/m);

  await scrape(registry);
  await scrape(registry);
  assert.equal(queue.calls, 2, 'later scrapes wait on the read still running, they do not start more');
  assert.equal(errors.length, 3);

  // The late read lands: the gauges catch up without another scrape's read.
  release({ visible: 0, inFlight: 0, deadLettered: 3, oldestAgeSec: 0 });
  queue.answerWith(() => Promise.resolve({ visible: 0, inFlight: 0, deadLettered: 3, oldestAgeSec: 0 }));
  const after = await scrape(registry);
  assert.match(after, /^checkout_dlq_messages\{queue="fifo"\} 3$/m);
  assert.match(after, /^checkout_queue_stats_up\{queue="fifo"\} 1$/m);
});

test('a failing read marks the gauges stale and counts the error', async () => {
  const registry = new Registry();
  const queue = fakeQueue();
  registerQueueStatsMetrics({ registry, queue, maxAgeMs: 0, queueLabel: 'checkout-payments.fifo' });
  await scrape(registry);
  queue.answerWith(() => Promise.reject(new Error('connection refused')));
  const text = await scrape(registry);
  assert.match(text, /^checkout_queue_stats_up\{queue="checkout-payments.fifo"\} 0$/m);
  assert.match(text, /^checkout_queue_oldest_message_age_seconds\{queue="checkout-payments.fifo"\} 42.5$/m);
  assert.match(
    text,
    /^checkout_queue_stats_failures_total\{queue="checkout-payments.fifo",reason="error"\} 1$/m,
  );
});
