// Topic drift: what the relay reports when the live topic differs from its
// declaration. The Kafka peer cannot describe topic configs (docs/events.md),
// so the bus here is a stand-in that answers what a real broker would.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { EventBus, LiveTopic } from '../../src/eventBus/EventBus.ts';
import { OutboxRelay } from '../../src/outbox/relay.ts';
import { eventTopicSpec, type TopicCheck } from '../../src/outbox/topics.ts';

function busAnswering(live: Omit<LiveTopic, 'name'>): EventBus {
  return {
    kind: 'kafka',
    declareTopics: () => Promise.resolve({ created: [] }),
    describeTopics: (names) => Promise.resolve(names.map((name) => ({ name, ...live }))),
    publish: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const topic = eventTopicSpec({
  name: 'checkout-events',
  partitions: 12,
  retentionMs: 259_200_000,
  replicationFactor: 3,
});

async function check(live: Omit<LiveTopic, 'name'>): Promise<{ checks: TopicCheck[]; metrics: string }> {
  // Never connected: checkTopics does not touch the ledger.
  const pool = new pg.Pool({ connectionString: 'postgres://unused@127.0.0.1:1/none' });
  const seen: TopicCheck[] = [];
  const relay = new OutboxRelay({
    pool,
    bus: busAnswering(live),
    topic,
    events: { onTopicCheck: (c) => seen.push(c) },
  });
  await relay.checkTopics();
  await pool.end();
  return { checks: seen, metrics: await relay.registry.metrics() };
}

test('a live retention that differs from the declared one is reported (log event + metric 1)', async () => {
  const { checks, metrics } = await check({ exists: true, partitions: 12, retentionMs: 604_800_000 });
  assert.equal(checks[0]?.retentionDrift, true);
  assert.equal(checks[0]?.partitionsDrift, false);
  assert.match(metrics, /^event_topic_retention_drift\{topic="checkout-events"\} 1$/m);
});

test('a matching topic reports 0; a different partition count is reported too', async () => {
  const { checks, metrics } = await check({ exists: true, partitions: 6, retentionMs: 259_200_000 });
  assert.equal(checks[0]?.retentionDrift, false);
  assert.equal(checks[0]?.partitionsDrift, true);
  assert.match(metrics, /^event_topic_retention_drift\{topic="checkout-events"\} 0$/m);
});

test('a broker that cannot tell leaves the metric absent and says why', async () => {
  const { checks, metrics } = await check({
    exists: true,
    partitions: 4,
    retentionMs: null,
    unknownBecause: 'the broker does not serve DescribeConfigs',
  });
  assert.equal(checks[0]?.retentionDrift, null);
  assert.match(checks[0]?.live.unknownBecause ?? '', /DescribeConfigs/);
  assert.doesNotMatch(metrics, /^event_topic_retention_drift\{/m);
});

test('the declared topic carries explicit retention, partitions and durability settings', () => {
  assert.deepEqual(topic, {
    name: 'checkout-events',
    partitions: 12,
    replicationFactor: 3,
    retentionMs: 259_200_000,
    configs: { 'cleanup.policy': 'delete', 'min.insync.replicas': '2' },
  });
});
