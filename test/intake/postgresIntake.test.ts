// PostgresIntake against real Postgres 18, in a queue database (it shares it
// with PostgresQueue, whose dead-letter queue its get() reads).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { freshQueueDatabase } from '../queue/queueDatabase.ts';

async function openIntake(t: TestContext): Promise<{ intake: PostgresIntake; databaseUrl: string }> {
  const databaseUrl = await freshQueueDatabase();
  const intake = await PostgresIntake.open({ databaseUrl });
  t.after(() => intake.close());
  return { intake, databaseUrl };
}

const creator = 'c0ffee00-0000-4000-8000-000000000001';

function checkout(requestHash = 'hash-a') {
  return { checkoutId: randomUUID(), creatorId: creator, requestHash };
}

/** An intake and a queue on one pool, as the API runs them: recordAndSend can send in its own statement. */
async function openOnOnePool(t: TestContext) {
  const databaseUrl = await freshQueueDatabase();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on('error', () => {});
  const queue = await PostgresQueue.open({ pool });
  const intake = PostgresIntake.connect({ pool });
  t.after(async () => {
    await Promise.all([queue.close(), intake.close()]);
    await pool.end();
  });
  const count = async (table: string) =>
    (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n;
  return { pool, queue, intake, databaseUrl, count };
}

function toSend(input: ReturnType<typeof checkout>, body = '{"m":1}') {
  return { ...input, body, receivedAt: new Date('2026-03-01T12:00:00.123Z') };
}

describe('PostgresIntake', { concurrency: 4 }, () => {
  test('records a new checkout, then reports replays and conflicts', async (t) => {
    const { intake } = await openIntake(t);
    const input = checkout();
    const first = await intake.record(input);
    assert.equal(first.kind, 'new');
    assert.equal(first.record.status, 'received');
    assert.equal(first.record.queueSequence, null);
    assert.equal(first.record.checkoutId, input.checkoutId);
    assert.equal(first.record.creatorId, creator);
    assert.ok(first.record.receivedAt instanceof Date);

    const replay = await intake.record(input);
    assert.equal(replay.kind, 'replay');
    assert.deepEqual(replay.record, first.record);

    const otherBody = await intake.record({ ...input, requestHash: 'hash-b' });
    assert.equal(otherBody.kind, 'conflict');
    assert.equal(otherBody.record.requestHash, 'hash-a', 'the original is reported, not overwritten');
    const otherCreator = await intake.record({ ...input, creatorId: randomUUID() });
    assert.equal(otherCreator.kind, 'conflict');
    assert.equal(await intake.get(randomUUID()), null);
  });

  test('concurrent records of one checkout: exactly one is new', async (t) => {
    const { intake } = await openIntake(t);
    const input = checkout();
    const results = await Promise.all(Array.from({ length: 8 }, () => intake.record(input)));
    assert.equal(results.filter((r) => r.kind === 'new').length, 1);
    assert.equal(results.filter((r) => r.kind === 'replay').length, 7);
  });

  test('markQueued records the first sequence and is idempotent', async (t) => {
    const { intake } = await openIntake(t);
    const input = checkout();
    await intake.record(input);
    await intake.markQueued(input.checkoutId, 41n);
    await intake.markQueued(input.checkoutId, 41n);
    await intake.markQueued(input.checkoutId, 99n);
    const record = await intake.get(input.checkoutId);
    assert.equal(record?.status, 'queued');
    assert.equal(record?.queueSequence, 41n);
    await assert.rejects(intake.markQueued(randomUUID(), 1n), /no intake record/);
  });

  test('markOutcome sets a terminal status; charged and declined are final', async (t) => {
    const { intake } = await openIntake(t);
    const charged = checkout();
    await intake.record(charged);
    await intake.markQueued(charged.checkoutId, 1n);
    await intake.markOutcome(charged.checkoutId, 'charged');
    await intake.markOutcome(charged.checkoutId, 'charged');
    await intake.markOutcome(charged.checkoutId, 'dead_lettered', 'late redelivery');
    const c = await intake.get(charged.checkoutId);
    assert.equal(c?.status, 'charged');
    assert.equal(c?.detail, null);

    const declined = checkout();
    await intake.record(declined);
    await intake.markQueued(declined.checkoutId, 2n);
    await intake.markOutcome(declined.checkoutId, 'declined', 'card_declined');
    await intake.markOutcome(declined.checkoutId, 'charged');
    const d = await intake.get(declined.checkoutId);
    assert.equal(d?.status, 'declined');
    assert.equal(d?.detail, 'card_declined');

    await intake.markOutcome(randomUUID(), 'charged'); // unknown (a renewal): ignored
  });

  test('the worker may finish before the API marks the checkout queued', async (t) => {
    const { intake } = await openIntake(t);
    const input = checkout();
    await intake.record(input);
    await intake.markOutcome(input.checkoutId, 'charged');
    await intake.markQueued(input.checkoutId, 7n);
    const record = await intake.get(input.checkoutId);
    assert.equal(record?.status, 'charged', 'never moved backwards');
    assert.equal(record?.queueSequence, 7n, 'the acceptance order is still recorded');
  });

  test('a 128-bit queue sequence (an SQS FIFO sequence number) is stored and read back exactly', async (t) => {
    const { intake, databaseUrl } = await openIntake(t);
    const input = checkout();
    await intake.record(input);
    const sqsSequence = 18889999999999999999999999999999999999n;
    assert.ok(sqsSequence > 2n ** 64n, 'beyond bigint');
    await intake.markQueued(input.checkoutId, sqsSequence);
    assert.equal((await intake.get(input.checkoutId))?.queueSequence, sqsSequence);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ s: string }>(
        'SELECT queue_sequence::text AS s FROM checkout_intake WHERE checkout_id = $1',
        [input.checkoutId],
      );
      assert.deepEqual(rows, [{ s: '18889999999999999999999999999999999999' }]);
    } finally {
      await client.end();
    }
  });

  test('recordAndSend records and queues a new checkout in one go, with the message sequence', async (t) => {
    const { queue, intake, count } = await openOnOnePool(t);
    const input = checkout();
    const result = await intake.recordAndSend(toSend(input), queue);
    assert.equal(result?.kind, 'new');
    assert.equal(result.record.status, 'queued');
    assert.equal(result.record.receivedAt.toISOString(), '2026-03-01T12:00:00.123Z');
    const [message] = await queue.receive({ maxMessages: 10 });
    assert.equal(message?.groupId, creator);
    assert.equal(message.dedupId, input.checkoutId);
    assert.equal(message.body, '{"m":1}');
    assert.equal(result.record.queueSequence, message.sequence);
    assert.deepEqual(await intake.get(input.checkoutId), {
      ...result.record,
      updatedAt: result.record.updatedAt,
    });

    // Seen before: nothing is written, and the existing record decides replay or conflict.
    const replay = await intake.recordAndSend(toSend(input, '{"m":2}'), queue);
    assert.equal(replay?.kind, 'replay');
    assert.equal(replay.record.queueSequence, message.sequence);
    const conflict = await intake.recordAndSend({ ...toSend(input), requestHash: 'hash-b' }, queue);
    assert.equal(conflict?.kind, 'conflict');
    assert.equal(conflict.record.requestHash, 'hash-a');
    assert.deepEqual([await count('checkout_intake'), await count('queue_message')], [1, 1]);
  });

  test('concurrent recordAndSend of one checkout: exactly one is new, one message is queued', async (t) => {
    const { queue, intake, count } = await openOnOnePool(t);
    const input = checkout();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => intake.recordAndSend(toSend(input), queue)),
    );
    assert.equal(results.filter((r) => r?.kind === 'new').length, 1);
    assert.equal(results.filter((r) => r?.kind === 'replay').length, 7);
    assert.deepEqual([await count('checkout_intake'), await count('queue_message')], [1, 1]);
    const sequences = new Set(results.map((r) => r?.record.queueSequence));
    assert.equal(sequences.size, 1, 'every caller sees the one acceptance sequence');
  });

  test('recordAndSend of a checkout whose message is already queued without an intake row records it with that message', async (t) => {
    const { queue, intake } = await openOnOnePool(t);
    const input = checkout();
    const sent = await queue.send({ groupId: creator, dedupId: input.checkoutId, body: '{"m":0}' });
    const result = await intake.recordAndSend(toSend(input), queue);
    assert.equal(result?.kind, 'new');
    assert.equal(result.record.queueSequence, sent.sequence);
    assert.equal((await queue.stats()).visible, 1, 'nothing new queued');
  });

  test('recordAndSend is all or nothing: an intake row that fails after the send leaves no message', async (t) => {
    const { queue, intake, count } = await openOnOnePool(t);
    // A null request hash gets past the send and fails the intake row's NOT NULL, last.
    const bad = { ...toSend(checkout()), requestHash: null as unknown as string };
    await assert.rejects(intake.recordAndSend(bad, queue), /null value in column "request_hash"/);
    assert.deepEqual(
      [
        await count('checkout_intake'),
        await count('queue_message'),
        await count('queue_dedup'),
        await count('queue_group'),
      ],
      [0, 0, 0, 0],
    );
  });

  test('recordAndSend declines a queue that is not on its pool (the caller records and sends step by step)', async (t) => {
    const { intake, databaseUrl } = await openOnOnePool(t);
    const elsewhere = await PostgresQueue.open({ databaseUrl });
    t.after(() => elsewhere.close());
    assert.equal(await intake.recordAndSend(toSend(checkout()), elsewhere), null);
  });

  test('concurrent markOutcome calls for many checkouts all land, and a final status stays final', async (t) => {
    const { intake } = await openIntake(t);
    const inputs = Array.from({ length: 40 }, () => checkout());
    for (const [i, input] of inputs.entries()) {
      await intake.record(input);
      await intake.markQueued(input.checkoutId, BigInt(i + 1));
    }
    await Promise.all(
      inputs.map((input, i) =>
        intake.markOutcome(
          input.checkoutId,
          i % 2 === 0 ? 'charged' : 'declined',
          i % 2 === 0 ? undefined : 'card_declined',
        ),
      ),
    );
    // Two outcomes for one checkout at once never share a statement: charged, then the late one is refused.
    const [first] = inputs;
    await Promise.all([
      intake.markOutcome(first!.checkoutId, 'dead_lettered', 'late'),
      intake.markOutcome(first!.checkoutId, 'dead_lettered', 'later'),
    ]);
    for (const [i, input] of inputs.entries()) {
      const record = await intake.get(input.checkoutId);
      assert.equal(record?.status, i % 2 === 0 ? 'charged' : 'declined');
      assert.equal(record.detail, i % 2 === 0 ? null : 'card_declined');
    }
  });

  test('get says dead_lettered while the message sits in the DLQ, queued again after a redrive', async (t) => {
    const { intake, databaseUrl } = await openIntake(t);
    const queue = await PostgresQueue.open({ databaseUrl, maxReceiveCount: 1 });
    t.after(() => queue.close());
    const input = checkout();
    await intake.record(input);
    const sent = await queue.send({ groupId: creator, dedupId: input.checkoutId, body: '{}' });
    await intake.markQueued(input.checkoutId, sent.sequence);

    const [m] = await queue.receive({ maxMessages: 1 });
    assert.equal(await queue.changeVisibility(m!.receiptHandle, 0), true);
    assert.equal((await intake.get(input.checkoutId))?.status, 'queued');
    assert.deepEqual(await queue.receive({ maxMessages: 1 }), []); // moves it to the DLQ

    const dead = await intake.get(input.checkoutId);
    assert.equal(dead?.status, 'dead_lettered', 'without markOutcome ever being called');
    assert.match(dead?.detail ?? '', /dead-lettered at .* after 1 deliveries/);
    const replay = await intake.record(input);
    assert.equal(replay.kind, 'replay');
    assert.equal(replay.record.status, 'dead_lettered', 'so the API does not send it again');

    await intake.markOutcome(input.checkoutId, 'dead_lettered', 'body did not parse');
    assert.equal((await intake.get(input.checkoutId))?.detail, 'body did not parse');

    assert.equal(await queue.redrive([sent.messageId]), 1);
    assert.equal((await intake.get(input.checkoutId))?.status, 'queued');
    const [again] = await queue.receive({ maxMessages: 1 });
    assert.equal(await queue.delete(again!.receiptHandle), true);
    await intake.markOutcome(input.checkoutId, 'charged');
    assert.equal((await intake.get(input.checkoutId))?.status, 'charged');
  });
});
