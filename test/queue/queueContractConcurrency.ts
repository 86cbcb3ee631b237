// The Queue contract under concurrency: several clients (as several worker
// processes would be) receiving and sending at once. Registered by
// queueContract() inside its describe block.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Queue } from '../../src/queue/Queue.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { clientsFor, settledStats, type ContractCapabilities, type MakeQueue } from './queueContract.ts';

const GROUPS = 12;
const PER_GROUP = 15;
const CLIENTS = 4;
const LOOPS_PER_CLIENT = 2;

export function concurrencyContract(makeQueue: MakeQueue, capabilities: ContractCapabilities = {}): void {
  test('concurrent receivers never hold two messages of one group, nor one message twice', async (t) => {
    const { queue, open } = await clientsFor(t, makeQueue, {});
    const clients: Queue[] = [queue];
    for (let i = 1; i < CLIENTS; i++) clients.push(await open());

    // Groups are sent in parallel, each group's messages in order.
    const sent = new Map<string, bigint[]>();
    await Promise.all(
      Array.from({ length: GROUPS }, async (_, g) => {
        const groupId = `creator-${g}`;
        const sequences: bigint[] = [];
        for (let i = 0; i < PER_GROUP; i++) {
          const client = clients[(g + i) % CLIENTS]!;
          sequences.push(
            (await client.send({ groupId, dedupId: `${groupId}/${i}`, body: String(i) })).sequence,
          );
        }
        sent.set(groupId, sequences);
      }),
    );

    const total = GROUPS * PER_GROUP;
    const inFlightGroups = new Set<string>();
    const delivered = new Map<string, bigint[]>();
    const seenMessages = new Set<string>();
    const violations: string[] = [];
    let deleted = 0;

    const consume = async (client: Queue): Promise<void> => {
      while (deleted < total && violations.length === 0) {
        const messages = await client.receive({ maxMessages: 3, waitTimeMs: 200 });
        for (const m of messages) {
          if (inFlightGroups.has(m.groupId))
            violations.push(`two messages of ${m.groupId} in flight at once`);
          if (seenMessages.has(m.messageId)) violations.push(`${m.messageId} delivered twice`);
          inFlightGroups.add(m.groupId);
          seenMessages.add(m.messageId);
          const order = delivered.get(m.groupId) ?? [];
          order.push(m.sequence);
          delivered.set(m.groupId, order);
        }
        await Promise.all(
          messages.map(async (m) => {
            await yieldToEventLoop(); // let other receivers run while this one "works"
            // Released before the delete is sent, so the next message of the group can
            // only be received after the delete committed: no false alarms.
            inFlightGroups.delete(m.groupId);
            assert.equal(await client.delete(m.receiptHandle), true);
            deleted++;
          }),
        );
      }
    };

    const consumers = clients.flatMap((client) =>
      Array.from({ length: LOOPS_PER_CLIENT }, () => consume(client)),
    );
    await waitFor('every message to be consumed', () => deleted >= total || violations.length > 0, {
      timeoutMs: 60_000,
    });
    await Promise.all(consumers);

    assert.deepEqual(violations, []);
    assert.equal(seenMessages.size, total);
    for (const [groupId, sequences] of sent) {
      assert.deepEqual(delivered.get(groupId), sequences, `order of ${groupId}`);
    }
    await settledStats(queue, capabilities, (s) =>
      assert.deepEqual(s, { visible: 0, inFlight: 0, deadLettered: 0, oldestAgeSec: 0 }),
    );
  });

  test('sends to one group racing each other and a receiver are delivered in sequence order', async (t) => {
    const { queue, open } = await clientsFor(t, makeQueue, {});
    const clients = [await open(), await open(), await open()];
    const count = 40;
    const order: bigint[] = [];
    // The receiver drains while the sends are still committing: a sequence that
    // became visible before a lower one of its group would be delivered first.
    const draining = (async () => {
      while (order.length < count) {
        const [m] = await queue.receive({ maxMessages: 10, waitTimeMs: 200 });
        if (!m) continue;
        order.push(m.sequence);
        assert.equal(await queue.delete(m.receiptHandle), true);
      }
    })();
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        clients[i % clients.length]!.send({ groupId: 'busy-creator', dedupId: `c${i}`, body: String(i) }),
      ),
    );
    await waitFor('the receiver to drain the group', () => order.length >= count, { timeoutMs: 30_000 });
    await draining;
    const expected = results.map((r) => r.sequence).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(order, expected);
  });
}
