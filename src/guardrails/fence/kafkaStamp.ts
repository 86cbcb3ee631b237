// The environment stamp of a Kafka cluster: the topic `<env>.firebreak.stamp`
// (one partition, compacted, so its record is kept for ever) holding one
// record that says who stamped it and when. An environment's topics all carry
// its prefix `<env>.`, the stamp topic included, so a Kafka ACL on the prefix
// covers it.
//
// Reading is Metadata and ListOffsets only (listTopics, fetchTopicOffsets): a
// stamp topic with at least one record stamps the cluster for the environment
// its name starts with. Reading the record itself would need a consumer group
// join (seconds), which a start-up check does not need. Never ask for the
// metadata of a topic that is not listed: the librdkafka mock cluster (and a
// broker with auto.create.topics.enable) creates any topic it is asked about.

import '../../eventBus/kafkajsWarnings.ts';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaEventBus } from '../../eventBus/KafkaEventBus.ts';
import type { Stamp } from './environment.ts';

export const KAFKA_STAMP_SUFFIX = 'firebreak.stamp';
const STAMP_TOPIC = /^([a-z][a-z0-9-]{0,30})\.firebreak\.stamp$/;

export const kafkaTopicPrefix = (env: string): string => `${env}.`;
export const kafkaStampTopic = (env: string): string => `${kafkaTopicPrefix(env)}${KAFKA_STAMP_SUFFIX}`;

export interface KafkaStampOptions {
  readonly brokers: readonly string[];
  readonly connectionTimeoutMs?: number;
}

function client(o: KafkaStampOptions): Kafka {
  return new Kafka({
    clientId: 'firebreak-env-fence',
    brokers: [...o.brokers],
    connectionTimeout: o.connectionTimeoutMs ?? 3_000,
    requestTimeout: 10_000,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 500 },
    logLevel: logLevel.NOTHING,
  });
}

/** Every environment stamp on the cluster: stamp topics that hold a record. */
export async function readKafkaStamps(o: KafkaStampOptions): Promise<Stamp[]> {
  const admin = client(o).admin();
  await admin.connect();
  try {
    const stamps: Stamp[] = [];
    for (const topic of await admin.listTopics()) {
      const env = STAMP_TOPIC.exec(topic)?.[1];
      if (!env) continue;
      const offsets = await admin.fetchTopicOffsets(topic);
      const records = offsets.reduce((n, p) => n + (BigInt(p.high) - BigInt(p.low)), 0n);
      // An empty stamp topic is a stamp that never finished: not a stamp.
      if (records > 0n) stamps.push({ env, stampedAt: null, stampedBy: null });
    }
    return stamps;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Stamps the cluster for `env` unless it carries a stamp already: declares
 * the stamp topic (compacted, one partition; a cluster that cannot declare
 * topics, like the mock, auto-creates it) and writes the stamp record.
 * Returns the stamps afterwards.
 */
export async function writeKafkaStamp(o: KafkaStampOptions, env: string, by: string): Promise<Stamp[]> {
  const before = await readKafkaStamps(o);
  if (before.length > 0) return before;
  const topic = kafkaStampTopic(env);
  const bus = new KafkaEventBus({
    brokers: o.brokers,
    clientId: 'firebreak-env-fence',
    publishTimeoutMs: 15_000,
  });
  try {
    await bus.declareTopics([
      {
        name: topic,
        partitions: 1,
        replicationFactor: 1,
        // Compaction keeps the latest record of each key for ever; retention.ms does not apply.
        retentionMs: -1,
        configs: { 'cleanup.policy': 'compact' },
      },
    ]);
    const stampedAt = new Date().toISOString();
    await bus.publish([
      {
        topic,
        key: 'stamp',
        eventId: randomUUID(),
        value: JSON.stringify({ env, stampedAt, stampedBy: by }),
        headers: { 'firebreak-stamp': env },
      },
    ]);
  } finally {
    await bus.close();
  }
  return readKafkaStamps(o);
}
