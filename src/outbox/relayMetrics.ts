// The relay's metrics. outbox_lag_seconds is what OutboxLagHigh
// (deploy/prometheus/rules.yml) is written against; publish rate is
// rate(outbox_published_total[5m]).

import { Counter, Gauge, type Registry } from 'prom-client';

export interface RelayMetrics {
  readonly lagSeconds: Gauge;
  readonly unpublishedRows: Gauge;
  readonly parkedRows: Gauge;
  readonly published: Counter;
  readonly publishErrors: Counter<'stage'>;
  readonly invalidEvents: Counter<'event_type'>;
  readonly topicRetentionDrift: Gauge<'topic'>;
}

export interface LagSource {
  /** Lag and unpublished count as of the last read of the outbox, and when that read happened. */
  lastStats(): { lagSeconds: number; unpublished: number; parked: number; readAtMs: number } | undefined;
}

export function createRelayMetrics(registry: Registry, source: LagSource): RelayMetrics {
  return {
    lagSeconds: new Gauge({
      name: 'outbox_lag_seconds',
      help: 'Age of the oldest committed outbox event not yet acknowledged by the event bus (0 when none).',
      registers: [registry],
      collect() {
        const s = source.lastStats();
        if (!s) return;
        // Between reads (the relay retrying a dead broker, or the ledger down) the
        // oldest row only gets older: add the time since the read, so lag keeps rising.
        const since = s.unpublished > 0 ? (Date.now() - s.readAtMs) / 1000 : 0;
        this.set(s.lagSeconds + since);
      },
    }),
    unpublishedRows: new Gauge({
      name: 'outbox_unpublished_rows',
      help: 'Committed outbox events waiting to be published (parked ones excluded).',
      registers: [registry],
      collect() {
        const s = source.lastStats();
        if (s) this.set(s.unpublished);
      },
    }),
    parkedRows: new Gauge({
      name: 'outbox_parked_rows',
      help: 'Outbox events that failed validation and are held back (outbox_parked).',
      registers: [registry],
      collect() {
        const s = source.lastStats();
        if (s) this.set(s.parked);
      },
    }),
    published: new Counter({
      name: 'outbox_published_total',
      help: 'Outbox events acknowledged by the event bus and marked published.',
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: 'outbox_publish_errors_total',
      help: 'Failed relay attempts, by stage (publish: the event bus; ledger: the outbox database).',
      labelNames: ['stage'],
      registers: [registry],
    }),
    invalidEvents: new Counter({
      name: 'outbox_invalid_events_total',
      help: 'Outbox events that failed validation on the way out and were parked, not published.',
      labelNames: ['event_type'],
      registers: [registry],
    }),
    topicRetentionDrift: new Gauge({
      name: 'event_topic_retention_drift',
      help: '1 when a topic’s live retention.ms differs from the declared one, 0 when it matches (absent when the broker cannot tell).',
      labelNames: ['topic'],
      registers: [registry],
    }),
  };
}
