// The Queue port's contract: SQS FIFO semantics (src/queue/Queue.ts), as tests
// any adapter must pass. Each test gets a fresh, empty store; fixture.open()
// gives another client of the same store, as another process would have.
// Time-based behaviour uses a 1 s visibility timeout and waitFor (or a long
// poll that must come back empty), never a fixed sleep.

import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Queue, QueueStats, ReceivedMessage } from '../../src/queue/Queue.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { concurrencyContract } from './queueContractConcurrency.ts';

export interface ContractQueueOptions {
  readonly visibilityTimeoutSec?: number;
  readonly maxReceiveCount?: number;
  readonly dedupWindowSec?: number;
}

export interface QueueFixture {
  /** A new client of this test's store; every client is closed after the test. */
  readonly open: () => Promise<Queue>;
}

export type MakeQueue = (options: ContractQueueOptions) => Promise<QueueFixture>;

export interface ContractCapabilities {
  /** False for SQS, whose deduplication interval is fixed at 5 minutes. */
  readonly shortDedupWindow?: boolean;
  /** False for SQS: a FIFO SequenceNumber increases within a group, not across groups. */
  readonly globalSequence?: boolean;
  /** False for SQS: a send does not say it was deduplicated; a client knows only its own earlier sends. */
  readonly duplicatesAcrossClients?: boolean;
  /** False for SQS: a redriven message is a new message with a new id. */
  readonly redriveKeepsMessageId?: boolean;
  /** How long stats may lag behind (SQS's approximate counters settle within about a minute); 0 = exact. */
  readonly statsLagMs?: number;
}

/** Checks stats at once, or, where stats lag, until the check passes or the lag has passed. */
export async function settledStats(
  queue: Queue,
  capabilities: ContractCapabilities,
  check: (stats: QueueStats) => void,
): Promise<QueueStats> {
  const lagMs = capabilities.statsLagMs ?? 0;
  if (lagMs === 0) {
    const stats = await queue.stats();
    check(stats);
    return stats;
  }
  return waitFor(
    'the queue stats to settle',
    async () => {
      const stats = await queue.stats();
      check(stats);
      return stats;
    },
    { timeoutMs: lagMs, intervalMs: 1_000 },
  );
}

export interface Clients {
  readonly queue: Queue;
  readonly open: () => Promise<Queue>;
}

export async function clientsFor(
  t: TestContext,
  makeQueue: MakeQueue,
  options: ContractQueueOptions,
): Promise<Clients> {
  const fixture = await makeQueue(options);
  const opened: Queue[] = [];
  t.after(async () => {
    await Promise.all(opened.map((q) => q.close()));
  });
  const open = async () => {
    const q = await fixture.open();
    opened.push(q);
    return q;
  };
  return { queue: await open(), open };
}

export async function sendAll(queue: Queue, groupId: string, bodies: string[]): Promise<bigint[]> {
  const sequences: bigint[] = [];
  for (const body of bodies) {
    sequences.push((await queue.send({ groupId, dedupId: `${groupId}/${body}`, body })).sequence);
  }
  return sequences;
}

function only(messages: ReceivedMessage[]): ReceivedMessage {
  assert.equal(messages.length, 1, `expected one message, got ${messages.map((m) => m.body).join(', ')}`);
  return messages[0]!;
}

export function queueContract(
  name: string,
  makeQueue: MakeQueue,
  capabilities: ContractCapabilities = {},
): void {
  describe(`Queue contract: ${name}`, { concurrency: 4 }, () => {
    test('send assigns increasing sequences and distinct message ids', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      const a = await queue.send({ groupId: 'g', dedupId: 'd1', body: 'one' });
      const b = await queue.send({ groupId: 'h', dedupId: 'd2', body: 'two' });
      const c = await queue.send({ groupId: 'g', dedupId: 'd3', body: 'three' });
      assert.equal(a.duplicate, false);
      if (capabilities.globalSequence === false) assert.ok(a.sequence < c.sequence);
      else assert.ok(a.sequence < b.sequence && b.sequence < c.sequence);
      assert.equal(new Set([a.messageId, b.messageId, c.messageId]).size, 3);
    });

    test('delivers one group strictly in send order, one message at a time', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      const bodies = ['1', '2', '3', '4', '5'];
      const sequences = await sendAll(queue, 'creator-a', bodies);
      for (const [i, body] of bodies.entries()) {
        const m = only(await queue.receive({ maxMessages: 10 }));
        assert.equal(m.body, body);
        assert.equal(m.sequence, sequences[i]);
        assert.equal(m.groupId, 'creator-a');
        assert.equal(m.dedupId, `creator-a/${body}`);
        assert.equal(m.receiveCount, 1);
        assert.ok(m.sentAt instanceof Date);
        // Head-of-line: nothing else of the group while this one is in flight.
        assert.deepEqual(await queue.receive({ maxMessages: 10 }), []);
        assert.equal(await queue.delete(m.receiptHandle), true);
      }
      assert.deepEqual(await queue.receive({ maxMessages: 10 }), []);
    });

    test('one receive returns the heads of distinct groups; each group unblocks on its own', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      for (const g of ['a', 'b', 'c']) await sendAll(queue, g, ['1', '2', '3']);
      const heads = await queue.receive({ maxMessages: 10 });
      assert.deepEqual(heads.map((m) => `${m.groupId}${m.body}`).sort(), ['a1', 'b1', 'c1']);
      assert.deepEqual(await queue.receive({ maxMessages: 10 }), [], 'every group is blocked by its head');
      const a1 = heads.find((m) => m.groupId === 'a')!;
      assert.equal(await queue.delete(a1.receiptHandle), true);
      const next = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(`${next.groupId}${next.body}`, 'a2');
    });

    test('receive returns at most maxMessages, from distinct groups', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      for (const g of ['a', 'b', 'c', 'd', 'e']) await sendAll(queue, g, ['1', '2']);
      const first = await queue.receive({ maxMessages: 2 });
      const second = await queue.receive({ maxMessages: 10 });
      assert.equal(first.length, 2);
      assert.equal(second.length, 3);
      const groups = [...first, ...second].map((m) => m.groupId);
      assert.equal(new Set(groups).size, 5);
      assert.ok([...first, ...second].every((m) => m.body === '1'));
    });

    test('a message not deleted within the visibility timeout comes back with receiveCount + 1', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { visibilityTimeoutSec: 1 });
      await sendAll(queue, 'g', ['first', 'second']);
      const startedAt = Date.now();
      const first = only(await queue.receive({ maxMessages: 10 }));
      const again = await waitFor('redelivery after the visibility timeout', async () => {
        const got = await queue.receive({ maxMessages: 10 });
        // Head-of-line holds while the first is invisible: 'second' never jumps ahead.
        assert.ok(
          got.every((m) => m.body === 'first'),
          `unexpected ${got.map((m) => m.body).join()}`,
        );
        return got[0];
      });
      assert.ok(Date.now() - startedAt >= 900, 'redelivered before the timeout');
      assert.equal(again.messageId, first.messageId);
      assert.equal(again.sequence, first.sequence);
      assert.equal(again.receiveCount, 2);
      assert.notEqual(again.receiptHandle, first.receiptHandle);
      assert.equal(await queue.delete(first.receiptHandle), false, 'the first receipt went stale');
      assert.equal(await queue.delete(again.receiptHandle), true);
      assert.equal(only(await queue.receive({ maxMessages: 10 })).body, 'second');
    });

    test('changeVisibility extends the timeout, and 0 releases the message at once', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { visibilityTimeoutSec: 1 });
      await sendAll(queue, 'g', ['m']);
      const m = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(await queue.changeVisibility(m.receiptHandle, 300), true);
      // Well past the original 1 s deadline, still invisible.
      assert.deepEqual(await queue.receive({ maxMessages: 10, waitTimeMs: 1_600 }), []);
      assert.equal(await queue.changeVisibility(m.receiptHandle, 0), true);
      const back = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(back.messageId, m.messageId);
      assert.equal(back.receiveCount, 2);
    });

    test('stale receipts change nothing', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      await sendAll(queue, 'g', ['m', 'n']);
      const first = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(await queue.changeVisibility(first.receiptHandle, 0), true);
      const second = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(second.messageId, first.messageId);
      // The first delivery's receipt can neither release, extend nor delete the second delivery.
      assert.equal(await queue.changeVisibility(first.receiptHandle, 0), false);
      assert.deepEqual(await queue.receive({ maxMessages: 10 }), [], 'still in flight under the new receipt');
      assert.equal(await queue.delete(first.receiptHandle), false);
      assert.equal(await queue.delete('not-a-receipt-handle'), false);
      assert.equal(await queue.delete(second.receiptHandle), true);
      assert.equal(await queue.delete(second.receiptHandle), false, 'already deleted');
      assert.equal(await queue.changeVisibility(second.receiptHandle, 30), false);
      assert.equal(only(await queue.receive({ maxMessages: 10 })).body, 'n');
    });

    test('maxReceiveCount: the next receive dead-letters the message and the group moves on', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { maxReceiveCount: 2 });
      await sendAll(queue, 'g', ['poison', 'next']);
      await sendAll(queue, 'h', ['other']);
      let lastHandle = '';
      for (const expectedCount of [1, 2]) {
        const got = await queue.receive({ maxMessages: 10 });
        const poison = got.find((m) => m.groupId === 'g')!;
        assert.equal(poison.body, 'poison');
        assert.equal(poison.receiveCount, expectedCount);
        lastHandle = poison.receiptHandle;
        assert.equal(await queue.changeVisibility(lastHandle, 0), true);
      }
      const after = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(after.body, 'next', 'the group continues in the same receive');
      assert.equal(after.receiveCount, 1);
      const letters = await queue.listDeadLetters(10);
      assert.equal(letters.length, 1);
      assert.equal(letters[0]!.body, 'poison');
      assert.equal(letters[0]!.groupId, 'g');
      assert.equal(letters[0]!.dedupId, 'g/poison');
      assert.equal(letters[0]!.receiveCount, 2);
      assert.ok(letters[0]!.deadLetteredAt instanceof Date);
      assert.equal(
        await queue.delete(lastHandle),
        false,
        'a dead letter cannot be deleted with its old receipt',
      );
      await settledStats(queue, capabilities, (s) => assert.equal(s.deadLettered, 1));
    });

    test('a message whose visibility keeps running out is dead-lettered without anyone nacking it', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { visibilityTimeoutSec: 1, maxReceiveCount: 1 });
      await sendAll(queue, 'g', ['crashes-the-worker', 'next']);
      assert.equal(only(await queue.receive({ maxMessages: 10 })).body, 'crashes-the-worker');
      const next = await waitFor(
        'the group to move past its dead letter',
        async () => (await queue.receive({ maxMessages: 10 }))[0],
      );
      assert.equal(next.body, 'next');
      assert.deepEqual(
        (await queue.listDeadLetters(10)).map((l) => [l.body, l.receiveCount]),
        [['crashes-the-worker', 1]],
      );
    });

    test('a duplicate dedupId is a no-op that returns the original message', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, {});
      const original = await queue.send({ groupId: 'g', dedupId: 'checkout-1', body: 'original' });
      const duplicate = await queue.send({ groupId: 'g', dedupId: 'checkout-1', body: 'retry' });
      assert.equal(duplicate.duplicate, true);
      assert.equal(duplicate.messageId, original.messageId);
      assert.equal(duplicate.sequence, original.sequence);
      const m = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(m.body, 'original');
      assert.equal(await queue.delete(m.receiptHandle), true);
      const afterDelete = await queue.send({ groupId: 'g', dedupId: 'checkout-1', body: 'late retry' });
      assert.equal(afterDelete.duplicate, true, 'still a duplicate inside the window after a delete');
      assert.equal(afterDelete.sequence, original.sequence);
      assert.deepEqual(await queue.receive({ maxMessages: 10 }), []);
    });

    test('concurrent sends of one dedupId from several clients enqueue exactly one message', async (t) => {
      const { queue, open } = await clientsFor(t, makeQueue, {});
      const clients = [queue, await open(), await open()];
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          clients[i % 3]!.send({ groupId: 'g', dedupId: 'same', body: `attempt ${i}` }),
        ),
      );
      if (capabilities.duplicatesAcrossClients !== false) {
        assert.equal(results.filter((r) => !r.duplicate).length, 1);
      }
      assert.equal(new Set(results.map((r) => r.messageId)).size, 1);
      assert.equal((await queue.receive({ maxMessages: 10 })).length, 1);
      await settledStats(queue, capabilities, (s) => assert.equal(s.visible + s.inFlight, 1));
    });

    if (capabilities.shortDedupWindow !== false) {
      test('after the dedup window a dedupId enqueues a new message', async (t) => {
        const { queue } = await clientsFor(t, makeQueue, { dedupWindowSec: 1 });
        const first = await queue.send({ groupId: 'g', dedupId: 'd', body: 'first' });
        const second = await waitFor('the dedup window to pass', async () => {
          const r = await queue.send({ groupId: 'g', dedupId: 'd', body: 'second' });
          return r.duplicate ? undefined : r;
        });
        assert.notEqual(second.messageId, first.messageId);
        assert.ok(second.sequence > first.sequence);
      });
    }

    test('redrive puts dead letters at the tail of their group with receiveCount reset', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { maxReceiveCount: 1 });
      const [, , a3] = await sendAll(queue, 'a', ['1', '2', '3']);
      const a1 = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(await queue.changeVisibility(a1.receiptHandle, 0), true);
      const a2 = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(a2.body, '2');
      assert.equal(await queue.redrive(['00000000-0000-0000-0000-000000000000']), 0, 'unknown id');
      assert.equal(await queue.redrive([a2.messageId]), 0, 'not a dead letter');
      assert.equal(await queue.redrive([a1.messageId]), 1);
      assert.deepEqual(await queue.listDeadLetters(10), []);
      assert.equal(await queue.delete(a2.receiptHandle), true);
      const m3 = only(await queue.receive({ maxMessages: 10 }));
      assert.equal(m3.body, '3');
      assert.equal(await queue.delete(m3.receiptHandle), true);
      const redriven = only(await queue.receive({ maxMessages: 10 }));
      if (capabilities.redriveKeepsMessageId !== false) assert.equal(redriven.messageId, a1.messageId);
      assert.equal(redriven.body, '1');
      assert.equal(redriven.receiveCount, 1);
      assert.ok(redriven.sequence > a3!, 'the tail of its group');
      assert.equal(
        await queue.delete(a1.receiptHandle),
        false,
        'receipts from before the dead letter stay stale',
      );
      assert.equal(await queue.delete(redriven.receiptHandle), true);
      assert.equal(await queue.redrive(), 0);
    });

    test('redrive of all dead letters keeps their order within a group', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { maxReceiveCount: 1 });
      await sendAll(queue, 'g', ['1', '2', '3']);
      for (const body of ['1', '2', '3']) {
        const m = only(await queue.receive({ maxMessages: 10 }));
        assert.equal(m.body, body);
        assert.equal(await queue.changeVisibility(m.receiptHandle, 0), true);
      }
      assert.deepEqual(await queue.receive({ maxMessages: 10 }), []);
      assert.equal((await queue.listDeadLetters(10)).length, 3);
      assert.equal(await queue.redrive(), 3);
      for (const body of ['1', '2', '3']) {
        const m = only(await queue.receive({ maxMessages: 10 }));
        assert.equal(m.body, body);
        assert.equal(await queue.delete(m.receiptHandle), true);
      }
    });

    test('stats count visible, in-flight and dead-lettered messages and the oldest age', async (t) => {
      const { queue } = await clientsFor(t, makeQueue, { maxReceiveCount: 1 });
      await settledStats(queue, capabilities, (s) =>
        assert.deepEqual(s, { visible: 0, inFlight: 0, deadLettered: 0, oldestAgeSec: 0 }),
      );
      await sendAll(queue, 'a', ['1', '2']);
      await sendAll(queue, 'b', ['1']);
      await settledStats(queue, capabilities, (s) => assert.equal(s.visible, 3));
      const [x, y] = await queue.receive({ maxMessages: 10 });
      assert.equal(await queue.changeVisibility(x!.receiptHandle, 0), true);
      await waitFor('the oldest message to age', async () => (await queue.stats()).oldestAgeSec > 0);
      await settledStats(queue, capabilities, (s) => {
        assert.equal(s.inFlight, 1);
        assert.equal(s.visible, 2);
      });
      await queue.receive({ maxMessages: 10 }); // dead-letters x, delivers what follows it
      await settledStats(queue, capabilities, (after) => {
        assert.equal(after.deadLettered, 1);
        assert.equal(after.visible + after.inFlight, 2);
      });
      assert.equal(await queue.delete(y!.receiptHandle), true);
    });

    test('a long poll returns as soon as another client sends, and empty after waitTimeMs', async (t) => {
      const { queue, open } = await clientsFor(t, makeQueue, {});
      const sender = await open();
      const startedAt = Date.now();
      assert.deepEqual(await queue.receive({ maxMessages: 1, waitTimeMs: 300 }), []);
      assert.ok(Date.now() - startedAt >= 250, 'returned before waitTimeMs');
      const polling = queue.receive({ maxMessages: 1, waitTimeMs: 20_000 });
      await sender.send({ groupId: 'g', dedupId: 'd', body: 'wake up' });
      const sentAt = Date.now();
      assert.equal(only(await polling).body, 'wake up');
      assert.ok(Date.now() - sentAt < 5_000, 'the long poll noticed the message late');
    });

    concurrencyContract(makeQueue, capabilities);
  });
}
