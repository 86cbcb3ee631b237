// Queue depth, oldest message age and dead-letter count as Prometheus gauges,
// read from queue.stats() when /metrics is scraped. The alerts
// CheckoutDeadLetters and QueueMessageNearExpiry are written against them.
//
// A scrape must never hang on the queue database (the incident where health
// checks shared a saturated pool): the stats read is bounded by a timeout, and
// only one read is ever outstanding, however many scrapes arrive while the
// database is slow. When a read fails or times out, the gauges keep their last
// values and checkout_queue_stats_up drops to 0, so a dashboard shows "stale",
// not "empty". A DLQ that held letters does not look empty because the DB is.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { QueueStats } from '../queue/Queue.ts';

/** Well inside Prometheus's default 10 s scrape timeout; a healthy stats read takes milliseconds. */
export const QUEUE_STATS_TIMEOUT_MS = 1_000;
/** Scrapes this close together (several Prometheus replicas, a dashboard refresh) share one read. */
export const QUEUE_STATS_MAX_AGE_MS = 5_000;
/** The label value the worker's retry counter uses for the payment queue (checkout-payments.fifo). */
export const PAYMENT_QUEUE_LABEL = 'fifo';

export interface QueueStatsMetricsOptions {
  readonly registry: Registry;
  /** Anything with the queue port's stats(): the Postgres adapter, the SQS adapter. */
  readonly queue: { stats(): Promise<QueueStats> };
  /** Value of the `queue` label. Default 'fifo'. */
  readonly queueLabel?: string;
  readonly timeoutMs?: number;
  readonly maxAgeMs?: number;
  /** Told once per failed or timed-out read (log it). */
  readonly onError?: (err: unknown) => void;
}

export interface QueueStatsMetrics {
  /** Reads the stats now unless a fresh read exists (what a scrape does); never rejects. */
  refresh(): Promise<void>;
}

class QueueStatsTimeout extends Error {}

/** Registers the queue gauges on `registry`; they are filled on each scrape. */
export function registerQueueStatsMetrics(options: QueueStatsMetricsOptions): QueueStatsMetrics {
  const queue = options.queueLabel ?? PAYMENT_QUEUE_LABEL;
  const timeoutMs = options.timeoutMs ?? QUEUE_STATS_TIMEOUT_MS;
  const maxAgeMs = options.maxAgeMs ?? QUEUE_STATS_MAX_AGE_MS;
  const registers = [options.registry];

  let lastReadAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<QueueStats> | undefined;

  let refreshing: Promise<void> | undefined;

  const readBounded = async (): Promise<void> => {
    // One read at a time: a scrape that arrives while the last read is still
    // running (past its timeout) waits on that read rather than starting another.
    if (!reading) {
      reading = options.queue.stats().finally(() => {
        reading = undefined;
      });
      // A read that finishes after its scrape gave up still updates the gauges.
      reading.then(record, () => {});
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueStatsTimeout(`queue stats took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      record(await Promise.race([reading, deadline]));
    } catch (err) {
      up.set({ queue }, 0);
      failures.inc({ queue, reason: err instanceof QueueStatsTimeout ? 'timeout' : 'error' });
      options.onError?.(err);
    } finally {
      clearTimeout(timer);
    }
  };

  // Every gauge's collect() calls this during one scrape; they share one bounded read.
  const refresh = (): Promise<void> => {
    if (performance.now() - lastReadAt < maxAgeMs) return Promise.resolve();
    refreshing ??= readBounded().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  const record = (stats: QueueStats): void => {
    lastReadAt = performance.now();
    messages.set({ queue, state: 'visible' }, stats.visible);
    messages.set({ queue, state: 'in_flight' }, stats.inFlight);
    oldestAge.set({ queue }, stats.oldestAgeSec);
    deadLetters.set({ queue }, stats.deadLettered);
    up.set({ queue }, 1);
  };

  const messages = new Gauge({
    name: 'checkout_queue_messages',
    help: 'Messages in the payment queue by state: visible (waiting) or in_flight (received, not yet deleted).',
    labelNames: ['queue', 'state'],
    registers,
    collect: refresh,
  });
  const oldestAge = new Gauge({
    name: 'checkout_queue_oldest_message_age_seconds',
    help: 'Age of the oldest message not yet deleted or dead-lettered (0 when empty). SQS drops messages at 14 days.',
    labelNames: ['queue'],
    registers,
    collect: refresh,
  });
  const deadLetters = new Gauge({
    name: 'checkout_dlq_messages',
    help: 'Messages in the dead-letter queue: checkouts that need an operator (GET /v1/admin/dlq).',
    labelNames: ['queue'],
    registers,
    collect: refresh,
  });
  const up = new Gauge({
    name: 'checkout_queue_stats_up',
    help: '1 when the last queue stats read succeeded in time; 0 when the queue gauges are stale.',
    labelNames: ['queue'],
    registers,
    collect: refresh,
  });
  const failures = new Counter({
    name: 'checkout_queue_stats_failures_total',
    help: 'Queue stats reads that failed or timed out during a scrape, by reason (timeout, error).',
    labelNames: ['queue', 'reason'],
    registers,
    // So this scrape's failure is in this scrape's answer.
    collect: refresh,
  });
  failures.inc({ queue, reason: 'timeout' }, 0);
  failures.inc({ queue, reason: 'error' }, 0);

  return { refresh };
}
