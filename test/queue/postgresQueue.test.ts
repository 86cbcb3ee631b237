// PostgresQueue: the Queue contract against real Postgres 18, plus what is
// particular to this adapter (options, migrations, its own pool, events).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { isFirebreakError } from '../../src/errors/index.ts';
import { PostgresQueue, type DeadLetteredEvent } from '../../src/queue/PostgresQueue.ts';
import { freshQueueDatabase } from './queueDatabase.ts';
import { queueContract } from './queueContract.ts';

queueContract('PostgresQueue', async (options) => {
  const databaseUrl = await freshQueueDatabase();
  return { open: () => PostgresQueue.open({ databaseUrl, pollIntervalMs: 25, ...options }) };
});

describe('PostgresQueue specifics', { concurrency: 4 }, () => {
  test('rejects invalid options at construction, naming the key', () => {
    const cases: [object, string][] = [
      [{}, 'databaseUrl'],
      [{ databaseUrl: 'postgres://x/y', pool: new pg.Pool() }, 'databaseUrl'],
      [{ databaseUrl: 'postgres://x/y', visibilityTimeoutSec: -1 }, 'visibilityTimeoutSec'],
      [{ databaseUrl: 'postgres://x/y', maxReceiveCount: 0 }, 'maxReceiveCount'],
      [{ databaseUrl: 'postgres://x/y', dedupWindowSec: 1.5 }, 'dedupWindowSec'],
      [{ databaseUrl: 'postgres://x/y', visibiltyTimeoutSec: 5 }, '(value)'],
    ];
    for (const [options, field] of cases) {
      assert.throws(
        () => PostgresQueue.connect(options),
        (err: unknown) =>
          isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID' && err.message.includes(field),
        JSON.stringify(options),
      );
    }
  });

  test('open migrates once; opening again (another process starting) changes nothing', async () => {
    const databaseUrl = await freshQueueDatabase();
    const [a, b] = await Promise.all([
      PostgresQueue.open({ databaseUrl }),
      PostgresQueue.open({ databaseUrl }),
    ]);
    await Promise.all([a.close(), b.close()]);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>('SELECT name FROM queue_migrations ORDER BY id');
      assert.deepEqual(
        rows.map((r) => r.name),
        ['0001_queue', '0002_intake', '0003_intake_sequence_numeric', '0004_send_in_one_round_trip'],
      );
    } finally {
      await client.end();
    }
  });

  test('a caller-owned pool is used and left open', async () => {
    const pool = new pg.Pool({ connectionString: await freshQueueDatabase(), max: 2 });
    const queue = await PostgresQueue.open({ pool });
    await queue.send({ groupId: 'g', dedupId: 'd', body: 'b' });
    await queue.close();
    assert.equal(
      (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM queue_message')).rows[0]?.n,
      1,
    );
    await pool.end();
  });

  test('rejects a receive that asks for no messages or too many', async (t) => {
    const queue = await PostgresQueue.open({ databaseUrl: await freshQueueDatabase() });
    t.after(() => queue.close());
    await assert.rejects(queue.receive({ maxMessages: 0 }), RangeError);
    await assert.rejects(queue.receive({ maxMessages: 101 }), RangeError);
    await assert.rejects(queue.changeVisibility('x.y', -1), RangeError);
  });

  test('reports dead-lettered messages through onDeadLettered', async (t) => {
    const events: DeadLetteredEvent[] = [];
    const queue = await PostgresQueue.open({
      databaseUrl: await freshQueueDatabase(),
      maxReceiveCount: 1,
      onDeadLettered: (e) => events.push(...e),
    });
    t.after(() => queue.close());
    const sent = await queue.send({ groupId: 'g', dedupId: 'poison', body: '{' });
    const [m] = await queue.receive({ maxMessages: 1 });
    assert.equal(await queue.changeVisibility(m!.receiptHandle, 0), true);
    assert.deepEqual(await queue.receive({ maxMessages: 1 }), []);
    assert.deepEqual(events, [
      { messageId: sent.messageId, groupId: 'g', dedupId: 'poison', receiveCount: 1 },
    ]);
  });

  test('concurrent deletes go out together and each caller gets its own answer', async (t) => {
    const queue = await PostgresQueue.open({ databaseUrl: await freshQueueDatabase() });
    t.after(() => queue.close());
    const groups = Array.from({ length: 30 }, (_, i) => `g${String(i).padStart(2, '0')}`);
    for (const g of groups) {
      await queue.send({ groupId: g, dedupId: `${g}-1`, body: '1' });
      await queue.send({ groupId: g, dedupId: `${g}-2`, body: '2' });
    }
    const first = await queue.receive({ maxMessages: 100 });
    assert.equal(first.length, groups.length);
    // Released and received again: the first delivery's receipts are now stale.
    const [stale] = first;
    assert.equal(await queue.changeVisibility(stale!.receiptHandle, 0), true);
    const [again] = await queue.receive({ maxMessages: 1 });
    assert.equal(again?.messageId, stale!.messageId);

    const handles = [
      ...first.slice(1).map((m) => m.receiptHandle),
      again.receiptHandle,
      again.receiptHandle, // the same delete twice: one of the two finds it gone
      stale!.receiptHandle,
      'not-a-handle',
    ];
    const answers = await Promise.all(handles.map((h) => queue.delete(h)));
    assert.deepEqual(answers.slice(0, first.length - 1), Array(first.length - 1).fill(true));
    const sameTwice = answers.slice(first.length - 1, first.length + 1);
    assert.deepEqual([...sameTwice].sort(), [false, true]);
    assert.deepEqual(answers.slice(first.length + 1), [false, false], 'stale and malformed handles');

    // Every group's second message is now its head, and nothing else is left.
    const { visible, inFlight, deadLettered } = await queue.stats();
    assert.deepEqual(
      { visible, inFlight, deadLettered },
      { visible: groups.length, inFlight: 0, deadLettered: 0 },
    );
    const second = await queue.receive({ maxMessages: 100 });
    assert.deepEqual(
      second.map((m) => m.dedupId).sort(),
      groups.map((g) => `${g}-2`),
    );
  });

  test('close ends a long poll of the same instance at once', async () => {
    const queue = await PostgresQueue.open({
      databaseUrl: await freshQueueDatabase(),
      pollIntervalMs: 60_000,
    });
    const polling = queue.receive({ maxMessages: 1, waitTimeMs: 60_000 });
    const startedAt = Date.now();
    await queue.close();
    assert.deepEqual(await polling, []);
    assert.ok(Date.now() - startedAt < 5_000);
  });
});
