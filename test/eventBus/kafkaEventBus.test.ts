// The Kafka adapter against the Kafka peer (librdkafka's mock cluster via kcat).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaEventBus } from '../../src/eventBus/KafkaEventBus.ts';
import { API_KEYS, fetchApiVersions } from '../../src/eventBus/kafkaApiVersions.ts';
import { skipWithoutKcat, startKafka } from '../helpers/kafka.ts';
import { eventBusContract } from './eventBusContract.ts';

const skip = skipWithoutKcat;

eventBusContract(
  'kafka',
  async (t) => {
    const kafka = await startKafka();
    const bus = new KafkaEventBus({ brokers: [kafka.bootstrap] });
    t.after(() => bus.close());
    return { bus, read: (topic) => kafka.readTopic(topic) };
  },
  { skip },
);

test(
  'kafka: the mock cluster serves neither CreateTopics nor DescribeConfigs; declareTopics says so instead of failing',
  { skip },
  async (t) => {
    const kafka = await startKafka();
    const apis = await fetchApiVersions(kafka.bootstrap);
    assert.ok(apis.has(0) && apis.has(3), 'Produce and Metadata are served');
    assert.equal(apis.has(API_KEYS.CreateTopics), false);
    assert.equal(apis.has(API_KEYS.DescribeConfigs), false);
    const bus = new KafkaEventBus({ brokers: [kafka.bootstrap] });
    t.after(() => bus.close());
    const declared = await bus.declareTopics([
      { name: 'ev', partitions: 12, replicationFactor: 3, retentionMs: 60_000 },
    ]);
    assert.match(declared.unsupported ?? '', /CreateTopics/);
    await bus.publish([{ topic: 'ev', key: 'k', eventId: 'e', value: '{}', headers: {} }]);
    const [live] = await bus.describeTopics(['ev']);
    assert.equal(live?.partitions, 4, "the mock's own default, not the declared 12");
    assert.equal(live?.retentionMs, null);
    assert.match(live?.unknownBecause ?? '', /DescribeConfigs/);
  },
);

test(
  'kafka: with the brokers gone publish rejects within its timeout; after a new cluster comes up behind the same bootstrap it succeeds',
  { skip },
  async (t) => {
    const kafka = await startKafka();
    const resets: string[] = [];
    const bus = new KafkaEventBus({
      brokers: [kafka.bootstrap],
      publishTimeoutMs: 3_000,
      connectionTimeoutMs: 1_000,
      onClientReset: (e) => resets.push(e.message),
    });
    t.after(() => bus.close());
    const record = (id: string) => ({
      topic: 'ev',
      key: 'k',
      eventId: id,
      value: '{}',
      headers: { 'event-id': id },
    });
    await bus.publish([record('before')]);
    await kafka.kill({ retain: ['ev'] });
    const started = Date.now();
    await assert.rejects(bus.publish([record('during')]), /kafka publish failed/);
    assert.ok(Date.now() - started < 30_000, 'bounded by the publish timeout and the client retries');
    assert.equal(resets.length, 1, 'the client was thrown away');
    await kafka.restart();
    await bus.publish([record('after')]);
    assert.deepEqual(
      (await kafka.readTopic('ev')).map((e) => e.headers['event-id']),
      ['before', 'after'],
    );
  },
);

test(
  'kafka: hung brokers (SIGSTOP): publish rejects at the publish timeout rather than waiting forever',
  { skip },
  async (t) => {
    const kafka = await startKafka();
    const bus = new KafkaEventBus({ brokers: [kafka.bootstrap], publishTimeoutMs: 2_000 });
    t.after(async () => {
      kafka.resume();
      await bus.close();
    });
    await bus.publish([{ topic: 'ev', key: 'k', eventId: 'a', value: '{}', headers: {} }]);
    kafka.pause();
    await assert.rejects(
      bus.publish([{ topic: 'ev', key: 'k', eventId: 'b', value: '{}', headers: {} }]),
      /not acknowledged within 2000 ms/,
    );
  },
);
