// SqsQueue without a server: the requests it makes (through the SDK's real
// serialization, see sqsFake.ts), how it reads SQS's answers and errors, and
// how it keeps one message per group in a receive. The queue contract against
// a real SQS is sqsQueueContract.test.ts (needs SQS_ENDPOINT).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SqsQueue, type SqsQueueEvent } from '../../src/queue/SqsQueue.ts';
import {
  byOperation,
  DLQ_URL,
  fakeSqs,
  inTurn,
  md5,
  messages,
  ok,
  QUEUE_URL,
  sqsError,
  type Responder,
} from './sqsFake.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// A real-looking FIFO sequence number: more than 64 bits.
const BIG_SEQ = '18849496460467696128';

function queueWith(respond: Responder, extra: { maxAttempts?: number; events?: SqsQueueEvent[] } = {}) {
  const fake = fakeSqs(respond, { maxAttempts: extra.maxAttempts ?? 1 });
  const queue = SqsQueue.connect({
    queueUrl: QUEUE_URL,
    dlqUrl: DLQ_URL,
    client: fake.client,
    onEvent: (e) => extra.events?.push(e),
  });
  return { ...fake, queue };
}

describe('SqsQueue requests and answers', () => {
  test('send: group = groupId, dedup = dedupId, the dedup id also as an attribute; sequence as bigint', async () => {
    const { queue, inputsOf } = queueWith(() =>
      ok({ MessageId: 'm-1', SequenceNumber: BIG_SEQ, MD5OfMessageBody: md5('{"a":1}') }),
    );
    assert.deepEqual(await queue.send({ groupId: 'creator-1', dedupId: 'checkout-1', body: '{"a":1}' }), {
      messageId: 'm-1',
      sequence: 18849496460467696128n,
      duplicate: false,
    });
    // The SDK checks MD5OfMessageBody against what it sent: a mismatch is an error, not a send.
    await assert.rejects(
      queue.send({ groupId: 'creator-1', dedupId: 'checkout-2', body: 'other' }),
      /Checksum/,
    );
    assert.deepEqual(inputsOf('SendMessage')[0], {
      QueueUrl: QUEUE_URL,
      MessageBody: '{"a":1}',
      MessageGroupId: 'creator-1',
      MessageDeduplicationId: 'checkout-1',
      MessageAttributes: { 'firebreak.dedupId': { DataType: 'String', StringValue: 'checkout-1' } },
    });
  });

  test('send reports a duplicate when SQS answers this client with the message of an earlier send', async () => {
    const answer: Responder = (call) =>
      ok({
        MessageId: call.input.MessageDeduplicationId === 'checkout-1' ? 'm-1' : 'm-2',
        SequenceNumber: call.input.MessageDeduplicationId === 'checkout-1' ? BIG_SEQ : `${BIG_SEQ}1`,
        MD5OfMessageBody: md5(String(call.input.MessageBody)),
      });
    const { queue, client } = queueWith(answer);
    const first = await queue.send({ groupId: 'c', dedupId: 'checkout-1', body: 'one' });
    assert.deepEqual(first, { messageId: 'm-1', sequence: 18849496460467696128n, duplicate: false });
    const again = await queue.send({ groupId: 'c', dedupId: 'checkout-1', body: 'retry' });
    assert.deepEqual(again, { messageId: 'm-1', sequence: 18849496460467696128n, duplicate: true });
    assert.equal((await queue.send({ groupId: 'c', dedupId: 'checkout-2', body: 'two' })).duplicate, false);
    // Another process cannot tell: SQS's answer is the same either way (docs/queue.md).
    const other = SqsQueue.connect({ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, client });
    assert.equal((await other.send({ groupId: 'c', dedupId: 'checkout-1', body: 'x' })).duplicate, false);
  });

  test('send rejects ids SQS would refuse, before any request', async () => {
    const { queue, calls } = queueWith(() => ok());
    await assert.rejects(queue.send({ groupId: 'has space', dedupId: 'd', body: '' }), RangeError);
    await assert.rejects(queue.send({ groupId: 'g', dedupId: 'x'.repeat(129), body: '' }), RangeError);
    assert.equal(calls.length, 0);
  });

  test('receive: one message per call, a long poll first, then short polls until one is empty', async () => {
    const { queue, inputsOf } = queueWith(
      inTurn([
        messages({ id: 'a1', group: 'a', seq: BIG_SEQ, receiveCount: 2, sentAt: 1_700_000_000_123 }),
        messages({ id: 'b1', group: 'b', seq: '5', dedupAttribute: null, dedupId: 'from-system-attribute' }),
        ok({}),
      ]),
    );
    const got = await queue.receive({ maxMessages: 5, waitTimeMs: 1_500 });
    assert.deepEqual(got[0], {
      messageId: 'a1',
      groupId: 'a',
      dedupId: 'dedup-a1',
      body: 'body of a1',
      sequence: 18849496460467696128n,
      receiveCount: 2,
      sentAt: new Date(1_700_000_000_123),
      receiptHandle: 'receipt-a1',
    });
    assert.equal(got[1]?.dedupId, 'from-system-attribute');
    const inputs = inputsOf('ReceiveMessage');
    assert.deepEqual(
      inputs.map((i) => [i.MaxNumberOfMessages, i.WaitTimeSeconds]),
      [
        [1, 2], // 1.5 s rounds up: a receive never returns before waitTimeMs
        [1, 0],
        [1, 0],
      ],
    );
    const first = inputs[0]!;
    assert.equal(first.QueueUrl, QUEUE_URL);
    assert.equal(first.VisibilityTimeout, 300);
    assert.deepEqual(first.MessageAttributeNames, ['firebreak.dedupId']);
    for (const name of ['SequenceNumber', 'MessageGroupId', 'ApproximateReceiveCount', 'SentTimestamp']) {
      assert.ok((first.MessageSystemAttributeNames as string[]).includes(name), name);
    }
    const attemptIds = inputs.map((i) => String(i.ReceiveRequestAttemptId));
    assert.ok(attemptIds.every((id) => UUID.test(id)));
    assert.equal(new Set(attemptIds).size, 3, 'a fresh attempt id per call');
  });

  test('receive caps the wait at 20 s and a batch at 10 messages', async () => {
    let n = 0;
    const { queue, inputsOf } = queueWith(() => messages({ id: `m${n}`, group: `g${n++}`, seq: String(n) }));
    assert.equal((await queue.receive({ maxMessages: 16, waitTimeMs: 60_000 })).length, 10);
    assert.equal(inputsOf('ReceiveMessage')[0]?.WaitTimeSeconds, 20);
    await assert.rejects(queue.receive({ maxMessages: 0 }), RangeError);
  });

  test("the SDK's retry of a receive sends the same attempt id (SQS then returns the same messages)", async () => {
    const { queue, inputsOf } = queueWith(
      inTurn([sqsError('InternalError', 500), messages({ id: 'a1', group: 'a', seq: '1' }), ok({})]),
      { maxAttempts: 2 },
    );
    assert.deepEqual(
      (await queue.receive({ maxMessages: 1 })).map((m) => m.messageId),
      ['a1'],
    );
    const [failed, retried] = inputsOf('ReceiveMessage');
    assert.equal(failed?.ReceiveRequestAttemptId, retried?.ReceiveRequestAttemptId);
  });

  test('several messages of one group in a batch: the first is kept, the later ones released at once', async () => {
    const events: SqsQueueEvent[] = [];
    const { queue, inputsOf } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([
          // Out of order on purpose: the adapter orders by sequence before choosing.
          messages(
            { id: 'g2', group: 'g', seq: '20' },
            { id: 'g1', group: 'g', seq: '10' },
            { id: 'h1', group: 'h', seq: '15' },
          ),
          ok({}),
        ]),
        ChangeMessageVisibility: () => ok(),
      }),
      { events },
    );
    const got = await queue.receive({ maxMessages: 10 });
    assert.deepEqual(
      got.map((m) => m.messageId),
      ['g1', 'h1'],
    );
    assert.deepEqual(inputsOf('ChangeMessageVisibility'), [
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'receipt-g2', VisibilityTimeout: 0 },
    ]);
    assert.deepEqual(events, [{ type: 'extra-of-group-released', groupId: 'g', messageId: 'g2' }]);
    // Its receipt was given up: the caller never saw it, and it can no longer act on it.
    assert.equal(await queue.delete('receipt-g2'), false);
  });

  test('the same message twice in one receive (its visibility ran out): the newest receipt wins', async () => {
    const { queue, calls } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([
          messages({ id: 'a1', group: 'a', seq: '1', receipt: 'r-first' }),
          messages({ id: 'a1', group: 'a', seq: '1', receipt: 'r-second', receiveCount: 2 }),
          ok({}),
        ]),
        DeleteMessage: () => ok(),
      }),
    );
    const got = await queue.receive({ maxMessages: 10 });
    assert.deepEqual(
      got.map((m) => [m.receiptHandle, m.receiveCount]),
      [['r-second', 2]],
    );
    const before = calls.length;
    assert.equal(await queue.delete('r-first'), false, 'superseded receipt: answered without asking SQS');
    assert.equal(calls.length, before);
    assert.equal(await queue.delete('r-second'), true);
  });

  test('a receive that fails after getting messages hands out what it got; one that gets nothing throws', async () => {
    const events: SqsQueueEvent[] = [];
    const { queue } = queueWith(
      inTurn([messages({ id: 'a1', group: 'a', seq: '1' })], sqsError('InternalError', 500)),
      { events },
    );
    assert.deepEqual(
      (await queue.receive({ maxMessages: 3 })).map((m) => m.messageId),
      ['a1'],
    );
    assert.equal(events[0]?.type, 'receive-failed-after-messages');
    await assert.rejects(queue.receive({ maxMessages: 3 }), (err: Error) => err.name === 'InternalError');
  });

  test('delete: true once; stale, expired or foreign receipts are false; other errors throw', async () => {
    const replies: Record<string, ReturnType<typeof ok>> = {
      good: ok(),
      foreign: sqsError('ReceiptHandleIsInvalid', 404),
      expired: sqsError('InvalidParameterValue', 400, 'Reason: The receipt handle has expired.'),
      throttled: sqsError('RequestThrottled', 403),
    };
    const { queue, inputsOf } = queueWith((call) => replies[String(call.input.ReceiptHandle)]!);
    assert.equal(await queue.delete('good'), true);
    assert.deepEqual(inputsOf('DeleteMessage')[0], { QueueUrl: QUEUE_URL, ReceiptHandle: 'good' });
    assert.equal(await queue.delete('good'), false, 'already deleted by this client');
    assert.equal(await queue.changeVisibility('good', 30), false, 'nor extended after its delete');
    assert.equal(inputsOf('DeleteMessage').length, 1);
    assert.equal(await queue.delete('foreign'), false);
    assert.equal(await queue.delete('expired'), false);
    assert.equal(await queue.delete(''), false);
    await assert.rejects(queue.delete('throttled'), (err: Error) => err.name === 'RequestThrottled');
  });

  test('changeVisibility: true when SQS takes it; not in flight or invalid is false; bounds checked', async () => {
    const replies: Record<string, ReturnType<typeof ok>> = {
      held: ok(),
      released: sqsError('AWS.SimpleQueueService.MessageNotInflight'),
      foreign: sqsError('ReceiptHandleIsInvalid', 404),
      expired: sqsError('InvalidParameterValue'),
      down: sqsError('ServiceUnavailable', 503),
    };
    const { queue, inputsOf } = queueWith((call) => replies[String(call.input.ReceiptHandle)]!);
    assert.equal(await queue.changeVisibility('held', 300), true);
    assert.deepEqual(inputsOf('ChangeMessageVisibility')[0], {
      QueueUrl: QUEUE_URL,
      ReceiptHandle: 'held',
      VisibilityTimeout: 300,
    });
    assert.equal(await queue.changeVisibility('held', 0), true);
    assert.equal(await queue.changeVisibility('released', 30), false);
    assert.equal(await queue.changeVisibility('foreign', 30), false);
    assert.equal(await queue.changeVisibility('expired', 30), false);
    await assert.rejects(
      queue.changeVisibility('down', 30),
      (err: Error) => err.name === 'ServiceUnavailable',
    );
    await assert.rejects(queue.changeVisibility('held', -1), RangeError);
    await assert.rejects(queue.changeVisibility('held', 43_201), RangeError);
  });

  test('a caller-owned client stays usable after close; a closed queue receives nothing', async () => {
    const { queue, client } = queueWith(() => ok({}));
    await queue.close();
    assert.deepEqual(await queue.receive({ maxMessages: 1 }), []);
    const other = SqsQueue.connect({ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, client });
    assert.deepEqual(await other.receive({ maxMessages: 1 }), []);
  });
});
