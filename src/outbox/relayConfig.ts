// The relay process's configuration, validated once at start-up.

import { z } from 'zod';
import { envInt, envUrl, parseEnv } from '../config/env.ts';
import {
  DEFAULT_EVENT_TOPIC,
  DEFAULT_EVENT_TOPIC_PARTITIONS,
  DEFAULT_EVENT_TOPIC_REPLICATION,
  DEFAULT_EVENT_TOPIC_RETENTION_MS,
} from './topics.ts';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RETRY_INITIAL_MS,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_TOPIC_CHECK_INTERVAL_MS,
} from './relay.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const brokerList = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()))
  .refine((bs) => bs.every((b) => /^[^\s:]+:[0-9]{1,5}$/.test(b)), 'must be host:port[,host:port...]');

export const RelayEnv = z
  .object({
    LEDGER_DATABASE_URL: envUrl,
    EVENT_BUS: z.enum(['kafka', 'file']).default('kafka'),
    KAFKA_BROKERS: brokerList.optional(),
    KAFKA_CLIENT_ID: z.string().min(1).default('firebreak-relay'),
    EVENT_FILE: z.string().min(1).optional(),
    EVENT_TOPIC: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be a Kafka topic name')
      .default(DEFAULT_EVENT_TOPIC),
    EVENT_TOPIC_PARTITIONS: envInt(1, 10_000).default(DEFAULT_EVENT_TOPIC_PARTITIONS),
    // Bounded on purpose: no "-1, keep forever" (the incident where retention filled the brokers).
    EVENT_TOPIC_RETENTION_MS: envInt(60_000, 365 * DAY_MS).default(DEFAULT_EVENT_TOPIC_RETENTION_MS),
    EVENT_TOPIC_REPLICATION: envInt(1, 10).default(DEFAULT_EVENT_TOPIC_REPLICATION),
    RELAY_BATCH_SIZE: envInt(1, 5_000).default(DEFAULT_BATCH_SIZE),
    RELAY_POLL_INTERVAL_MS: envInt(10, 60_000).default(DEFAULT_POLL_INTERVAL_MS),
    RELAY_PUBLISH_TIMEOUT_MS: envInt(1_000, 300_000).default(15_000),
    RELAY_RETRY_INITIAL_MS: envInt(1, 60_000).default(DEFAULT_RETRY_INITIAL_MS),
    RELAY_RETRY_MAX_MS: envInt(10, 600_000).default(DEFAULT_RETRY_MAX_MS),
    RELAY_TOPIC_CHECK_INTERVAL_MS: envInt(1_000, DAY_MS).default(DEFAULT_TOPIC_CHECK_INTERVAL_MS),
    RELAY_HOST: z.string().default('127.0.0.1'),
    RELAY_ADMIN_PORT: envInt(0, 65_535).default(0),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.EVENT_BUS === 'kafka' && !env.KAFKA_BROKERS)
      ctx.addIssue({ code: 'custom', path: ['KAFKA_BROKERS'], message: 'is required when EVENT_BUS=kafka' });
    if (env.EVENT_BUS === 'file' && !env.EVENT_FILE)
      ctx.addIssue({ code: 'custom', path: ['EVENT_FILE'], message: 'is required when EVENT_BUS=file' });
    if (env.RELAY_RETRY_MAX_MS < env.RELAY_RETRY_INITIAL_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['RELAY_RETRY_MAX_MS'],
        message: 'must be at least RELAY_RETRY_INITIAL_MS',
      });
  });

export type RelayConfig = z.output<typeof RelayEnv>;

export function parseRelayConfig(env: NodeJS.ProcessEnv): RelayConfig {
  return parseEnv(RelayEnv, env, 'relay');
}
