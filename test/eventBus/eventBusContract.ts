// The contract every EventBus adapter keeps (src/eventBus/EventBus.ts), run
// against each adapter by its own test file.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { EventBus, EventReader, EventRecord } from '../../src/eventBus/EventBus.ts';
import { parseEventEnvelope, toEventRecord } from '../../src/eventBus/envelope.ts';

export interface ContractSubject {
  readonly bus: EventBus;
  readonly read: EventReader;
}

function records(topic: string, creators: string[], perCreator: number): EventRecord[] {
  const out: EventRecord[] = [];
  for (let i = 0; i < perCreator; i++) {
    for (const creatorId of creators) {
      out.push(
        toEventRecord(topic, {
          eventId: randomUUID(),
          type: 'checkout.declined',
          schemaVersion: 1,
          creatorId,
          occurredAt: new Date().toISOString(),
          data: { checkoutId: randomUUID(), creatorId, declineCode: `n${i}` },
        }),
      );
    }
  }
  return out;
}

export function eventBusContract(
  name: string,
  make: (t: TestContext) => Promise<ContractSubject>,
  options: { skip?: string | false } = {},
): void {
  const skip = options.skip ?? false;

  test(
    `${name}: what publish() acknowledged reads back whole, each key in the order given`,
    { skip },
    async (t) => {
      const { bus, read } = await make(t);
      const topic = `contract-${randomUUID().slice(0, 8)}`;
      await bus.declareTopics([{ name: topic, partitions: 4, replicationFactor: 3, retentionMs: 3_600_000 }]);
      const creators = [randomUUID(), randomUUID(), randomUUID()];
      const sent = records(topic, creators, 20);
      await bus.publish(sent.slice(0, 30));
      await bus.publish([]);
      await bus.publish(sent.slice(30));
      const got = await read(topic);
      assert.equal(got.length, sent.length);
      for (const creatorId of creators) {
        assert.deepEqual(
          got.filter((g) => g.key === creatorId).map((g) => g.headers['event-id']),
          sent.filter((s) => s.key === creatorId).map((s) => s.eventId),
          'per-key order',
        );
      }
      const byId = new Map(sent.map((s) => [s.eventId, s]));
      for (const g of got) {
        const s = byId.get(g.headers['event-id'] ?? '');
        assert.ok(s);
        assert.equal(g.value, s.value);
        assert.deepEqual(g.headers, s.headers);
        assert.ok(parseEventEnvelope(g).ok);
      }
    },
  );

  test(`${name}: concurrent publish() calls all land, none torn`, { skip }, async (t) => {
    const { bus, read } = await make(t);
    const topic = `contract-${randomUUID().slice(0, 8)}`;
    await bus.declareTopics([{ name: topic, partitions: 4, replicationFactor: 3, retentionMs: 3_600_000 }]);
    const batches = [0, 1, 2, 3].map(() => records(topic, [randomUUID()], 25));
    await Promise.all(batches.map((b) => bus.publish(b)));
    const got = await read(topic);
    assert.equal(got.length, 100);
    for (const b of batches) {
      assert.deepEqual(
        got.filter((g) => g.key === b[0]!.key).map((g) => g.headers['event-id']),
        b.map((r) => r.eventId),
      );
    }
  });

  test(`${name}: a declared topic is described; an unknown one is reported missing`, { skip }, async (t) => {
    const { bus } = await make(t);
    const topic = `contract-${randomUUID().slice(0, 8)}`;
    const declared = await bus.declareTopics([
      { name: topic, partitions: 4, replicationFactor: 3, retentionMs: 3_600_000 },
    ]);
    if (declared.unsupported === undefined) assert.deepEqual(declared.created, [topic]);
    await bus.publish(records(topic, [randomUUID()], 1));
    const [live, missing] = await bus.describeTopics([topic, `missing-${randomUUID().slice(0, 8)}`]);
    assert.equal(live?.exists, true);
    assert.equal(missing?.exists, false);
    if (live?.retentionMs === null) assert.ok(live.unknownBecause, 'an unknown figure says why');
  });
}
