// Reads a whole Kafka topic back, from the beginning to the high watermarks
// taken when the read starts: the consumer the audit and the tests use. It
// joins a fresh consumer group (kafkajs has no manual partition assignment),
// so it never disturbs, or is disturbed by, another reader.

import './kafkajsWarnings.ts';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { PublishedEvent } from './EventBus.ts';

export interface ReadKafkaOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** A group join takes a few seconds; a loaded machine, more. */
  readonly timeoutMs?: number;
}

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;

function headersOf(raw: Record<string, HeaderValue> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
}

/** Every record of the topic, sorted by partition then offset (per-key order is per-partition order). */
export async function readKafkaEvents(options: ReadKafkaOptions): Promise<PublishedEvent[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const kafka = new Kafka({
    clientId: 'firebreak-reader',
    brokers: [...options.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
  });
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(options.topic);
    ends = new Map(
      offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]),
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
  if (ends.size === 0) return [];

  // A short fetch wait: the reader stops as soon as it reaches the ends, and
  // disconnect() waits for the fetch in flight. (The mock cluster holds every
  // new group ~3 s before its first assignment.)
  const consumer = kafka.consumer({ groupId: `firebreak-reader-${randomUUID()}`, maxWaitTimeInMs: 250 });
  const out: PublishedEvent[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    const remaining = new Set(ends.keys());
    const seen = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `reading ${options.topic}: ${out.length} records read, partitions ${[...remaining].join(',')} not at their end after ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = ends.get(partition);
            const offset = BigInt(message.offset);
            // A rebalance can hand a partition back from its last position: keep each offset once.
            if (end === undefined || offset >= end || seen.has(`${partition}/${offset}`)) return;
            seen.add(`${partition}/${offset}`);
            out.push({
              topic: options.topic,
              partition,
              offset: Number(offset),
              key: message.key?.toString('utf8') ?? '',
              headers: headersOf(message.headers),
              value: message.value?.toString('utf8') ?? '',
            });
            if (offset + 1n >= end) remaining.delete(partition);
            if (remaining.size === 0) resolve();
            return Promise.resolve();
          },
        })
        .catch(reject);
    }).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect().catch(() => {});
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
