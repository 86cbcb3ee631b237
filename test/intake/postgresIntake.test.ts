// PostgresIntake against real Postgres 18, in a queue database (it shares it
// with PostgresQueue, whose dead-letter queue its get() reads).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
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
