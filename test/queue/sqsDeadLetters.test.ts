// SqsQueue's stats, dead-letter listing and redrive, without a server: the
// requests made and how the answers are read (see sqsFake.ts).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SqsQueue, type SqsQueueEvent } from '../../src/queue/SqsQueue.ts';
import {
  byOperation,
  DLQ_ARN,
  DLQ_URL,
  fakeSqs,
  inTurn,
  md5,
  messages,
  ok,
  QUEUE_URL,
  type Responder,
} from './sqsFake.ts';

function queueWith(respond: Responder, events: SqsQueueEvent[] = []) {
  const fake = fakeSqs(respond);
  const queue = SqsQueue.connect({
    queueUrl: QUEUE_URL,
    dlqUrl: DLQ_URL,
    client: fake.client,
    redriveWaitMs: 200,
    redrivePollMs: 5,
    onEvent: (e) => events.push(e),
  });
  return { ...fake, queue };
}

const counts = (visible: number, notVisible: number, delayed = 0) =>
  ok({
    Attributes: {
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(notVisible),
      ApproximateNumberOfMessagesDelayed: String(delayed),
    },
  });

// In a FIFO DLQ, SQS replaces the dedup id with the original MessageId; the checkout id rides in our attribute.
const deadLetter = (id: string, group: string, seq: string, originalId = `orig-${id}`) => ({
  id,
  group,
  seq,
  dedupId: originalId,
  dedupAttribute: `checkout-${id}`,
  receiveCount: 4,
  sentAt: 1_700_000_100_000,
});

describe('SqsQueue stats and dead letters', () => {
  test('stats: approximate counts of the queue and its DLQ; oldest age from what this client holds', async () => {
    const { queue, inputsOf } = queueWith(
      byOperation({
        GetQueueAttributes: (call) => (call.input.QueueUrl === QUEUE_URL ? counts(2, 1, 1) : counts(1, 0, 1)),
        ReceiveMessage: inTurn([messages({ id: 'a1', group: 'a', seq: '1', sentAt: Date.now() - 65_000 })]),
      }),
    );
    assert.deepEqual(await queue.stats(), { visible: 3, inFlight: 1, deadLettered: 2, oldestAgeSec: 0 });
    assert.deepEqual(
      inputsOf('GetQueueAttributes').map((i) => [i.QueueUrl, i.AttributeNames]),
      [QUEUE_URL, DLQ_URL].map((url) => [
        url,
        [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      ]),
    );
    await queue.receive({ maxMessages: 1 });
    const age = (await queue.stats()).oldestAgeSec;
    assert.ok(age >= 65 && age < 70, `oldest age ${age}`);
  });

  test('stats of an empty queue say age 0 even while this client holds a message', async () => {
    const { queue } = queueWith(
      byOperation({
        GetQueueAttributes: () => counts(0, 0),
        ReceiveMessage: inTurn([messages({ id: 'a1', group: 'a', seq: '1', sentAt: Date.now() - 65_000 })]),
      }),
    );
    await queue.receive({ maxMessages: 1 });
    assert.deepEqual(await queue.stats(), { visible: 0, inFlight: 0, deadLettered: 0, oldestAgeSec: 0 });
  });

  test('listDeadLetters receives from the DLQ, hidden briefly, then makes every one visible again', async () => {
    const { queue, inputsOf } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([
          messages(deadLetter('d2', 'g', '20'), deadLetter('d1', 'g', '10')),
          messages(deadLetter('d3', 'h', '30')),
          ok({}),
        ]),
        ChangeMessageVisibilityBatch: () => ok({ Successful: [] }),
      }),
    );
    const letters = await queue.listDeadLetters(50);
    assert.deepEqual(letters[0], {
      messageId: 'd1',
      groupId: 'g',
      dedupId: 'checkout-d1',
      body: 'body of d1',
      sequence: 10n,
      receiveCount: 3, // SQS's 4 less this listing's own receive
      sentAt: new Date(1_700_000_100_000),
      deadLetteredAt: new Date(1_700_000_100_000),
    });
    assert.deepEqual(
      letters.map((l) => l.messageId),
      ['d1', 'd2', 'd3'],
      'oldest first',
    );
    const receives = inputsOf('ReceiveMessage');
    assert.deepEqual(
      receives.map((r) => [r.QueueUrl, r.MaxNumberOfMessages, r.WaitTimeSeconds, r.VisibilityTimeout]),
      [
        [DLQ_URL, 10, 1, 30],
        [DLQ_URL, 10, 0, 30],
        [DLQ_URL, 10, 0, 30],
      ],
    );
    assert.deepEqual(inputsOf('ChangeMessageVisibilityBatch'), [
      {
        QueueUrl: DLQ_URL,
        Entries: ['d1', 'd2', 'd3'].map((id, i) => ({
          Id: `m${i}`,
          ReceiptHandle: `receipt-${id}`,
          VisibilityTimeout: 0,
        })),
      },
    ]);
  });

  test('listDeadLetters asks for no more than the limit', async () => {
    const { queue, inputsOf } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([
          messages(deadLetter('d1', 'g', '1'), deadLetter('d2', 'h', '2')),
          messages(deadLetter('d3', 'i', '3')),
        ]),
        ChangeMessageVisibilityBatch: () => ok({}),
      }),
    );
    assert.equal((await queue.listDeadLetters(3)).length, 3);
    assert.deepEqual(
      inputsOf('ReceiveMessage').map((r) => r.MaxNumberOfMessages),
      [3, 1],
    );
    await assert.rejects(queue.listDeadLetters(0), RangeError);
  });

  test('redrive of named dead letters: sent back to the tail of their group, deleted from the DLQ, the rest released', async () => {
    const { queue, inputsOf } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([
          messages(
            deadLetter('d1', 'g', '10'),
            deadLetter('d2', 'g', '20', 'source-id-2'),
            deadLetter('d3', 'h', '30'),
          ),
          ok({}),
        ]),
        SendMessage: (call) =>
          ok({
            MessageId: 'new',
            SequenceNumber: '99',
            MD5OfMessageBody: md5(String(call.input.MessageBody)),
          }),
        DeleteMessage: () => ok(),
        ChangeMessageVisibilityBatch: () => ok({}),
      }),
    );
    // d1 by its DLQ id, d2 by the id it had in the payment queue; one id is in neither.
    assert.equal(await queue.redrive(['d1', 'source-id-2', 'unknown']), 2);
    assert.deepEqual(
      inputsOf('SendMessage').map((s) => [
        s.QueueUrl,
        s.MessageGroupId,
        s.MessageDeduplicationId,
        s.MessageBody,
      ]),
      [
        [QUEUE_URL, 'g', 'redrive-d1', 'body of d1'],
        [QUEUE_URL, 'g', 'redrive-d2', 'body of d2'],
      ],
    );
    assert.deepEqual(inputsOf('SendMessage')[0]?.MessageAttributes, {
      'firebreak.dedupId': { DataType: 'String', StringValue: 'checkout-d1' },
    });
    assert.deepEqual(inputsOf('DeleteMessage'), [
      { QueueUrl: DLQ_URL, ReceiptHandle: 'receipt-d1' },
      { QueueUrl: DLQ_URL, ReceiptHandle: 'receipt-d2' },
    ]);
    assert.deepEqual(
      (inputsOf('ChangeMessageVisibilityBatch')[0]?.Entries as { ReceiptHandle: string }[]).map(
        (e) => e.ReceiptHandle,
      ),
      ['receipt-d3'],
    );
    assert.equal(await queue.redrive([]), 0);
  });

  test('redrive of named dead letters that fails midway releases what it did not move', async () => {
    const { queue, inputsOf } = queueWith(
      byOperation({
        ReceiveMessage: inTurn([messages(deadLetter('d1', 'g', '10'), deadLetter('d2', 'g', '20')), ok({})]),
        SendMessage: inTurn(
          [ok({ MessageId: 'new', SequenceNumber: '99', MD5OfMessageBody: md5('body of d1') })],
          { status: 500, body: { __type: 'InternalError' } },
        ),
        DeleteMessage: () => ok(),
        ChangeMessageVisibilityBatch: () => ok({}),
      }),
    );
    await assert.rejects(queue.redrive(['d1', 'd2']));
    assert.deepEqual(
      (inputsOf('ChangeMessageVisibilityBatch')[0]?.Entries as { ReceiptHandle: string }[]).map(
        (e) => e.ReceiptHandle,
      ),
      ['receipt-d2'],
    );
  });

  test('redrive of everything starts a move task from the DLQ back to its source and waits for it', async () => {
    let polls = 0;
    const { queue, inputsOf } = queueWith(
      byOperation({
        GetQueueAttributes: () => ok({ Attributes: { QueueArn: DLQ_ARN } }),
        StartMessageMoveTask: () => ok({ TaskHandle: 'task-2' }),
        ListMessageMoveTasks: () => {
          polls++;
          if (polls === 1)
            return ok({
              Results: [
                { Status: 'COMPLETED', StartedTimestamp: 1_000, ApproximateNumberOfMessagesMoved: 7 },
              ],
            });
          if (polls === 2)
            return ok({
              Results: [
                { Status: 'COMPLETED', StartedTimestamp: 1_000, ApproximateNumberOfMessagesMoved: 7 },
              ],
            });
          if (polls === 3)
            return ok({
              Results: [
                {
                  Status: 'RUNNING',
                  TaskHandle: 'task-2',
                  StartedTimestamp: 2_000,
                  ApproximateNumberOfMessagesMoved: 1,
                },
              ],
            });
          return ok({
            Results: [{ Status: 'COMPLETED', StartedTimestamp: 2_000, ApproximateNumberOfMessagesMoved: 3 }],
          });
        },
      }),
    );
    // The first two polls still show the previous task (the list lags): not ours, so it waits.
    assert.equal(await queue.redrive(), 3);
    assert.deepEqual(inputsOf('StartMessageMoveTask'), [{ SourceArn: DLQ_ARN }]);
    assert.deepEqual(inputsOf('ListMessageMoveTasks')[0], { SourceArn: DLQ_ARN, MaxResults: 1 });
    assert.deepEqual(inputsOf('GetQueueAttributes'), [{ QueueUrl: DLQ_URL, AttributeNames: ['QueueArn'] }]);
  });

  test('a failed move task throws; one still running after redriveWaitMs answers what moved so far', async () => {
    const failing = queueWith(
      byOperation({
        GetQueueAttributes: () => ok({ Attributes: { QueueArn: DLQ_ARN } }),
        StartMessageMoveTask: () => ok({ TaskHandle: 't' }),
        ListMessageMoveTasks: inTurn(
          [ok({})],
          ok({ Results: [{ Status: 'FAILED', StartedTimestamp: 5, FailureReason: 'AccessDenied' }] }),
        ),
      }),
    );
    await assert.rejects(failing.queue.redrive(), /AccessDenied/);

    const events: SqsQueueEvent[] = [];
    const slow = queueWith(
      byOperation({
        GetQueueAttributes: () => ok({ Attributes: { QueueArn: DLQ_ARN } }),
        StartMessageMoveTask: () => ok({ TaskHandle: 't' }),
        ListMessageMoveTasks: inTurn(
          [ok({})],
          ok({
            Results: [
              {
                Status: 'RUNNING',
                TaskHandle: 't',
                StartedTimestamp: 5,
                ApproximateNumberOfMessagesMoved: 40,
              },
            ],
          }),
        ),
      }),
      events,
    );
    assert.equal(await slow.queue.redrive(), 40);
    assert.deepEqual(events, [{ type: 'redrive-still-running', moved: 40 }]);
  });
});
