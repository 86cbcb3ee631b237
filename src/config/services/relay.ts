// The outbox relay's namespace (config/relay/<env>.yaml), read at start
// (src/outbox/relayConfig.ts through parseEnv).

import { z } from 'zod';
import { logLevel, wholeNumber } from '../fields.ts';
import { locationField, secretField } from '../secretRef.ts';
import type { ServiceConfigSpec } from './serviceSpec.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export const relayConfigSpec: ServiceConfigSpec = {
  service: 'relay',
  bindings: z.strictObject({
    logLevel,
    ledgerDatabaseUrl: secretField,
    eventBus: z.enum(['kafka', 'file'], { error: 'must be kafka or file' }),
    kafkaBrokers: locationField.optional(),
    eventFile: locationField.optional(),
  }),
  tunables: z.strictObject({
    topic: z.strictObject({
      name: z
        .string({ error: 'must be a Kafka topic name' })
        .regex(/^[a-zA-Z0-9._-]{1,249}$/, { error: 'must be a Kafka topic name ([a-zA-Z0-9._-], 1 to 249)' }),
      partitions: wholeNumber(1, 10_000, 'partitions'),
      // Bounded on purpose: no "keep forever" (the incident where a week of
      // retention on an auto-created topic filled the brokers).
      retentionMs: wholeNumber(60_000, 30 * DAY_MS, 'ms'),
      replication: wholeNumber(1, 10, 'replicas'),
    }),
    batchSize: wholeNumber(1, 5_000, 'rows'),
    pollIntervalMs: wholeNumber(10, 60_000, 'ms'),
    publishTimeoutMs: wholeNumber(1_000, 300_000, 'ms'),
    retry: z.strictObject({
      initialMs: wholeNumber(1, 60_000, 'ms'),
      maxMs: wholeNumber(10, 600_000, 'ms'),
    }),
    topicCheckIntervalMs: wholeNumber(1_000, DAY_MS, 'ms'),
  }),
  envVars: [
    { env: 'LOG_LEVEL', path: ['bindings', 'logLevel'] },
    { env: 'LEDGER_DATABASE_URL', path: ['bindings', 'ledgerDatabaseUrl'] },
    { env: 'EVENT_BUS', path: ['bindings', 'eventBus'] },
    { env: 'KAFKA_BROKERS', path: ['bindings', 'kafkaBrokers'] },
    { env: 'EVENT_FILE', path: ['bindings', 'eventFile'] },
    { env: 'EVENT_TOPIC', path: ['tunables', 'topic', 'name'] },
    { env: 'EVENT_TOPIC_PARTITIONS', path: ['tunables', 'topic', 'partitions'] },
    { env: 'EVENT_TOPIC_RETENTION_MS', path: ['tunables', 'topic', 'retentionMs'] },
    { env: 'EVENT_TOPIC_REPLICATION', path: ['tunables', 'topic', 'replication'] },
    { env: 'RELAY_BATCH_SIZE', path: ['tunables', 'batchSize'] },
    { env: 'RELAY_POLL_INTERVAL_MS', path: ['tunables', 'pollIntervalMs'] },
    { env: 'RELAY_PUBLISH_TIMEOUT_MS', path: ['tunables', 'publishTimeoutMs'] },
    { env: 'RELAY_RETRY_INITIAL_MS', path: ['tunables', 'retry', 'initialMs'] },
    { env: 'RELAY_RETRY_MAX_MS', path: ['tunables', 'retry', 'maxMs'] },
    { env: 'RELAY_TOPIC_CHECK_INTERVAL_MS', path: ['tunables', 'topicCheckIntervalMs'] },
  ],
  refine(doc, ctx) {
    const b = doc.bindings as { eventBus: string; kafkaBrokers?: unknown; eventFile?: unknown };
    const t = doc.tunables as { retry: { initialMs: number; maxMs: number } };
    if (b.eventBus === 'kafka' && b.kafkaBrokers === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bindings', 'kafkaBrokers'],
        message: 'is required when bindings.eventBus is kafka (host:port[,host:port...] or a reference)',
      });
    if (b.eventBus === 'file' && b.eventFile === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bindings', 'eventFile'],
        message: 'is required when bindings.eventBus is file',
      });
    if (t.retry.maxMs < t.retry.initialMs)
      ctx.addIssue({
        code: 'custom',
        path: ['tunables', 'retry', 'maxMs'],
        message: `must be at least tunables.retry.initialMs (${t.retry.initialMs} ms)`,
      });
  },
};
