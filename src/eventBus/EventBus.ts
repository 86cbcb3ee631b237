// The event bus port: where committed outbox rows go (src/outbox/relay.ts).
// Adapters: KafkaEventBus (kafkajs; production is MSK, locally the librdkafka
// mock cluster started by kcat) and FileEventBus (an fsync'd append-only JSON
// lines file, the embedded default when kcat is not installed).
//
// The contract every adapter keeps:
// - publish() resolves only once every record is durable at the bus (Kafka:
//   acknowledged by all in-sync replicas; file: fsync'd). A rejection means
//   "maybe some were written": the caller republishes, so delivery is
//   at-least-once and consumers dedup by event id.
// - Records of one key are stored in the order given (Kafka: one key, one
//   partition, one produce request per partition per call).
// - Topics are declared explicitly (partitions, retention); nothing relies on
//   a broker auto-creating them. describeTopics() reports what is live so the
//   relay can report drift.

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly retentionMs: number;
  /** Extra topic configs (e.g. min.insync.replicas), declared as they are. */
  readonly configs?: Readonly<Record<string, string>>;
}

export interface LiveTopic {
  readonly name: string;
  readonly exists: boolean;
  /** null when the bus cannot tell (or partitions mean nothing, as in the file sink). */
  readonly partitions: number | null;
  readonly retentionMs: number | null;
  /** Why a figure is null, for the log line that reports it. */
  readonly unknownBecause?: string;
}

export interface DeclareResult {
  /** Topics this call created. */
  readonly created: readonly string[];
  /** Set when the bus cannot declare topics at all (the librdkafka mock cluster). */
  readonly unsupported?: string;
}

export interface EventRecord {
  readonly topic: string;
  /** The partition key: the creator id, so one creator's events stay in order. */
  readonly key: string;
  readonly eventId: string;
  /** The serialised envelope (src/eventBus/envelope.ts). */
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A record as read back from the bus (audit and tests). */
export interface PublishedEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly value: string;
}

export type EventBusKind = 'kafka' | 'file';

export interface EventBus {
  readonly kind: EventBusKind;
  /** Creates missing topics with the given partitions and retention; existing ones are left alone. */
  declareTopics(specs: readonly TopicSpec[]): Promise<DeclareResult>;
  /** What the bus has now, for drift reports. */
  describeTopics(names: readonly string[]): Promise<LiveTopic[]>;
  /** Resolves once every record is durable at the bus; see the contract above. */
  publish(records: readonly EventRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Reads back everything a topic holds, in per-partition order (the audit's consumer). */
export type EventReader = (topic: string) => Promise<PublishedEvent[]>;
