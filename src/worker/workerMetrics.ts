import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface WorkerMetrics {
  readonly retryCount: Counter<'queue'>;
  readonly processed: Counter<'outcome'>;
  readonly providerErrors: Counter<'kind'>;
  readonly chargeDuration: Histogram<'outcome'>;
  readonly breakerState: Gauge<'dependency'>;
  readonly inFlight: Gauge;
}

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const metrics = createMetrics(registry);
  // Series exist at 0 from the first scrape: a counter that first appears at 1
  // is invisible to increase()/rate(), so the first burst of retries would
  // under-count in CheckoutRetryRateHigh.
  metrics.retryCount.inc({ queue: 'fifo' }, 0);
  for (const kind of ['transient', 'rejected', 'unexpected']) metrics.providerErrors.inc({ kind }, 0);
  for (const outcome of ['charged', 'declined', 'duplicate', 'invalid'])
    metrics.processed.inc({ outcome }, 0);
  return metrics;
}

function createMetrics(registry: Registry): WorkerMetrics {
  return {
    // The name the alert CheckoutRetryRateHigh is written against: redeliveries of the FIFO queue.
    retryCount: new Counter({
      name: 'checkout_service_retry_count',
      help: 'Messages received again after an earlier delivery was not deleted (redeliveries).',
      labelNames: ['queue'],
      registers: [registry],
    }),
    processed: new Counter({
      name: 'checkout_worker_processed_total',
      help: 'Messages the payment worker finished, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    providerErrors: new Counter({
      name: 'checkout_worker_provider_errors_total',
      help: 'Failed calls to the payment provider.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    chargeDuration: new Histogram({
      name: 'checkout_worker_charge_duration_seconds',
      help: 'From receive to ledger commit.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'checkout_worker_breaker_state',
      help: 'Circuit breaker state per dependency: 0 closed, 1 open, 2 half-open.',
      labelNames: ['dependency'],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'checkout_worker_in_flight',
      help: 'Messages being processed now.',
      registers: [registry],
    }),
  };
}
