// Topic declaration and drift. The incident behind it: a topic left to broker
// auto-creation got the broker's default week of retention and filled the
// disks. The relay declares its topic with explicit partitions and retention
// at start-up and then compares what is live with what it declared.

import type { EventBus, LiveTopic, TopicSpec } from '../eventBus/EventBus.ts';

export const DEFAULT_EVENT_TOPIC = 'checkout-events';
/** Enough for per-creator parallelism downstream; fixed once created (more would move creators between partitions). */
export const DEFAULT_EVENT_TOPIC_PARTITIONS = 12;
/**
 * Three days: consumers (analytics) are expected to catch up within hours, and
 * the outbox in the ledger stays the record to replay from. Long enough to
 * survive a weekend outage of a consumer, short enough that a traffic spike
 * cannot fill the brokers the way a week's default did.
 */
export const DEFAULT_EVENT_TOPIC_RETENTION_MS = 3 * 24 * 60 * 60 * 1000;
export const DEFAULT_EVENT_TOPIC_REPLICATION = 3;

/** The checkout events topic, with acks=all durable on two of three replicas. */
export function eventTopicSpec(c: {
  name: string;
  partitions: number;
  retentionMs: number;
  replicationFactor: number;
}): TopicSpec {
  return {
    name: c.name,
    partitions: c.partitions,
    replicationFactor: c.replicationFactor,
    retentionMs: c.retentionMs,
    configs: {
      'cleanup.policy': 'delete',
      'min.insync.replicas': String(Math.min(2, c.replicationFactor)),
    },
  };
}

export interface TopicCheck {
  readonly topic: string;
  readonly declared: { readonly partitions: number; readonly retentionMs: number };
  readonly live: LiveTopic;
  /** null when the bus cannot tell. */
  readonly retentionDrift: boolean | null;
  readonly partitionsDrift: boolean | null;
}

/** Compares the live topics with the declared ones. */
export async function checkTopics(bus: EventBus, specs: readonly TopicSpec[]): Promise<TopicCheck[]> {
  const live = await bus.describeTopics(specs.map((s) => s.name));
  return specs.map((s, i) => {
    const l = live[i]!;
    return {
      topic: s.name,
      declared: { partitions: s.partitions, retentionMs: s.retentionMs },
      live: l,
      retentionDrift: l.exists && l.retentionMs !== null ? l.retentionMs !== s.retentionMs : null,
      partitionsDrift: l.exists && l.partitions !== null ? l.partitions !== s.partitions : null,
    };
  });
}
