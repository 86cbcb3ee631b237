// The Kafka adapter, on kafkajs 2.2.4 (docs/events.md says why this client).
//
// - acks = -1 (all in-sync replicas) and no idempotent producer: kafkajs's
//   idempotent producer cannot start against the librdkafka mock cluster
//   ("Broker 0 not found in the cached metadata"). Without it a retried
//   produce request can duplicate records, which at-least-once delivery with
//   dedup by event id already absorbs.
// - maxInFlightRequests 1: a retried request cannot overtake a later one, so
//   the order within a partition is the order given to publish().
// - kafkajs retries little (and fast); the relay owns the backoff (cockatiel).
// - After any failed or timed-out publish the client is thrown away and the
//   next publish builds a new one from the bootstrap list: stale metadata from
//   a replaced cluster can never pin the relay to brokers that are gone.
// - Topic administration is probed first (ApiVersions): the librdkafka mock
//   cluster serves neither CreateTopics nor DescribeConfigs and auto-creates
//   any topic it is asked about (4 partitions). declareTopics() then reports
//   `unsupported` instead of failing, and describeTopics() answers partitions
//   (Metadata) but not retention.

import './kafkajsWarnings.ts';
import kafkajs, { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from 'kafkajs';
import type { DeclareResult, EventBus, EventRecord, LiveTopic, TopicSpec } from './EventBus.ts';
import { API_KEYS, fetchApiVersions, type ApiVersionRange } from './kafkaApiVersions.ts';

export interface KafkaLogLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly namespace: string;
  readonly message: string;
  readonly extra: Record<string, unknown>;
}

export interface KafkaEventBusOptions {
  /** Bootstrap brokers, host:port. */
  readonly brokers: readonly string[];
  readonly clientId?: string;
  /** Bound on one publish() (connect + produce + acks); then the client is reset and it rejects. */
  readonly publishTimeoutMs?: number;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** kafkajs's own log lines at warn and above; default: dropped. */
  readonly log?: (line: KafkaLogLine) => void;
  /** Fired when a failed publish throws the client away. */
  readonly onClientReset?: (reason: Error) => void;
}

export const DEFAULT_PUBLISH_TIMEOUT_MS = 15_000;
/** Broker-side wait for the in-sync replicas' acks; under the publish timeout. */
const ACK_TIMEOUT_MS = 10_000;
const TOPIC_ADMIN_TIMEOUT_MS = 10_000;

const levelName = (l: logLevel): KafkaLogLine['level'] =>
  l === logLevel.ERROR ? 'error' : l === logLevel.WARN ? 'warn' : l === logLevel.INFO ? 'info' : 'debug';

export class KafkaEventBus implements EventBus {
  readonly kind = 'kafka' as const;
  private readonly options: KafkaEventBusOptions;
  private producer: Promise<Producer> | undefined;
  private apiVersions: Map<number, ApiVersionRange> | undefined;

  constructor(options: KafkaEventBusOptions) {
    if (options.brokers.length === 0) throw new Error('KafkaEventBus: brokers must not be empty');
    this.options = options;
  }

  private client(): Kafka {
    const o = this.options;
    return new Kafka({
      clientId: o.clientId ?? 'firebreak',
      brokers: [...o.brokers],
      connectionTimeout: o.connectionTimeoutMs ?? 3_000,
      requestTimeout: o.requestTimeoutMs ?? 10_000,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      logLevel: o.log ? logLevel.WARN : logLevel.NOTHING,
      logCreator: () => (entry: LogEntry) => {
        const { message, ...extra } = entry.log;
        o.log?.({ level: levelName(entry.level), namespace: entry.namespace, message, extra });
      },
    });
  }

  /** Which APIs the cluster serves, from the first bootstrap broker that answers. */
  private async serves(apiKey: number): Promise<boolean> {
    if (!this.apiVersions) {
      let lastError: unknown;
      for (const broker of this.options.brokers) {
        try {
          this.apiVersions = await fetchApiVersions(broker, { clientId: this.options.clientId });
          break;
        } catch (err) {
          lastError = err;
        }
      }
      if (!this.apiVersions)
        throw new Error('no bootstrap broker answered ApiVersions', { cause: lastError });
    }
    return this.apiVersions.has(apiKey);
  }

  private async withAdmin<T>(fn: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  async declareTopics(specs: readonly TopicSpec[]): Promise<DeclareResult> {
    if (!(await this.serves(API_KEYS.CreateTopics))) {
      return {
        created: [],
        unsupported:
          'the broker does not serve CreateTopics (the librdkafka mock cluster): it auto-creates topics with its own defaults',
      };
    }
    return this.withAdmin(async (admin) => {
      const created: string[] = [];
      // One topic per call: kafkajs reports "already existed" only for a whole call.
      for (const s of specs) {
        const made = await admin.createTopics({
          waitForLeaders: true,
          timeout: TOPIC_ADMIN_TIMEOUT_MS,
          topics: [
            {
              topic: s.name,
              numPartitions: s.partitions,
              replicationFactor: s.replicationFactor,
              configEntries: [
                { name: 'retention.ms', value: String(s.retentionMs) },
                ...Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
              ],
            },
          ],
        });
        if (made) created.push(s.name);
      }
      return { created };
    });
  }

  async describeTopics(names: readonly string[]): Promise<LiveTopic[]> {
    const configs = await this.serves(API_KEYS.DescribeConfigs);
    return this.withAdmin(async (admin) => {
      // listTopics first: asking the mock cluster for a topic's metadata creates it.
      const existing = new Set(await admin.listTopics());
      const out: LiveTopic[] = [];
      for (const name of names) {
        if (!existing.has(name)) {
          out.push({ name, exists: false, partitions: null, retentionMs: null });
          continue;
        }
        const meta = await admin.fetchTopicMetadata({ topics: [name] });
        const partitions = meta.topics[0]?.partitions.length ?? null;
        if (!configs) {
          out.push({
            name,
            exists: true,
            partitions,
            retentionMs: null,
            unknownBecause: 'the broker does not serve DescribeConfigs (the librdkafka mock cluster)',
          });
          continue;
        }
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] }],
        });
        const value = described.resources[0]?.configEntries.find(
          (e) => e.configName === 'retention.ms',
        )?.configValue;
        out.push({ name, exists: true, partitions, retentionMs: value === undefined ? null : Number(value) });
      }
      return out;
    });
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.client().producer({
        allowAutoTopicCreation: false,
        idempotent: false,
        maxInFlightRequests: 1,
        // Java-compatible murmur2: a creator lands on the same partition as with any other client.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }

  async publish(records: readonly EventRecord[]): Promise<void> {
    if (records.length === 0) return;
    const byTopic = new Map<string, EventRecord[]>();
    for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
    const timeoutMs = this.options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          const producer = await this.connectedProducer();
          await producer.sendBatch({
            acks: -1,
            timeout: ACK_TIMEOUT_MS,
            topicMessages: [...byTopic].map(([topic, rs]) => ({
              topic,
              messages: rs.map((r) => ({ key: r.key, value: r.value, headers: { ...r.headers } })),
            })),
          });
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`publish of ${records.length} records not acknowledged within ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      this.reset(err as Error);
      throw new Error(`kafka publish failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private reset(reason: Error): void {
    const producer = this.producer;
    this.producer = undefined;
    this.apiVersions = undefined;
    this.options.onClientReset?.(reason);
    // Not awaited: a producer still connecting would hold the caller's rejection until it gives up.
    void producer?.then((p) => p.disconnect()).catch(() => {});
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.then((p) => p.disconnect()).catch(() => {});
  }
}
