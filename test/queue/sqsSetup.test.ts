// SqsQueue's options, SqsQueue.ensureQueues (the queues and their policies)
// and open()'s check of the queues it is given, without a server.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SQSClient } from '@aws-sdk/client-sqs';
import { isFirebreakError } from '../../src/errors/index.ts';
import { SqsQueue } from '../../src/queue/SqsQueue.ts';
import {
  byOperation,
  DLQ_ARN,
  DLQ_URL,
  ENDPOINT,
  fakeSqs,
  ok,
  QUEUE_ARN,
  QUEUE_URL,
  sqsError,
  type Responder,
} from './sqsFake.ts';

const configError = (field: string) => (err: unknown) =>
  isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID' && err.message.includes(field);

describe('SqsQueue setup', () => {
  test('rejects invalid options at construction, naming the key', () => {
    const client = new SQSClient({ region: 'us-east-1' });
    const base = { queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, region: 'us-east-1' };
    const cases: [object, string][] = [
      [{ dlqUrl: DLQ_URL, region: 'us-east-1' }, 'queueUrl'],
      [{ ...base, queueUrl: `${ENDPOINT}/1/standard-queue` }, 'queueUrl'],
      [{ ...base, dlqUrl: 'not a url' }, 'dlqUrl'],
      [{ ...base, dlqUrl: QUEUE_URL }, 'dlqUrl'],
      [{ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL }, 'region'],
      [{ ...base, client }, 'client'],
      [{ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, client: {} }, 'client'],
      [{ ...base, visibilityTimeoutSec: 43_201 }, 'visibilityTimeoutSec'],
      [{ ...base, visibilityTimeoutSec: 1.5 }, 'visibilityTimeoutSec'],
      [{ ...base, visibiltyTimeoutSec: 5 }, '(value)'],
    ];
    for (const [options, field] of cases) {
      assert.throws(
        () => SqsQueue.connect(options as never),
        configError(field),
        `${field}: ${Object.keys(options).join()}`,
      );
    }
    client.destroy();
  });

  test('makes its own client from region and endpoint, and closes it', async () => {
    const queue = SqsQueue.connect({
      queueUrl: QUEUE_URL,
      dlqUrl: DLQ_URL,
      region: 'eu-west-1',
      endpoint: ENDPOINT,
    });
    await queue.close();
    await queue.close(); // twice is fine
  });

  test('ensureQueues creates the FIFO DLQ, then the queue redriving to it after 3 receives, then the DLQ allow policy', async () => {
    const { client, calls } = fakeSqs(
      byOperation({
        CreateQueue: (call) =>
          ok({ QueueUrl: call.input.QueueName === 'checkout-payments.fifo' ? QUEUE_URL : DLQ_URL }),
        GetQueueAttributes: (call) =>
          ok({ Attributes: { QueueArn: call.input.QueueUrl === QUEUE_URL ? QUEUE_ARN : DLQ_ARN } }),
        SetQueueAttributes: () => ok(),
      }),
    );
    const ensured = await SqsQueue.ensureQueues(client, { tags: { environment: 'production' } });
    assert.deepEqual(ensured, { queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, queueArn: QUEUE_ARN, dlqArn: DLQ_ARN });
    assert.deepEqual(
      calls.map((c) => c.operation),
      ['CreateQueue', 'GetQueueAttributes', 'CreateQueue', 'GetQueueAttributes', 'SetQueueAttributes'],
    );
    const [dlq, , queue, , allow] = calls.map((c) => c.input);
    const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false', MessageRetentionPeriod: '1209600' };
    assert.deepEqual(dlq, {
      QueueName: 'checkout-payments-dlq.fifo',
      Attributes: { ...fifo, VisibilityTimeout: '300' },
      tags: { environment: 'production' },
    });
    const { RedrivePolicy, ...queueAttributes } = (queue as { Attributes: Record<string, string> })
      .Attributes;
    assert.equal(queue!.QueueName, 'checkout-payments.fifo');
    assert.deepEqual(queueAttributes, { ...fifo, VisibilityTimeout: '300' });
    assert.deepEqual(JSON.parse(RedrivePolicy!), { deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 3 });
    const { RedriveAllowPolicy } = (allow as { Attributes: Record<string, string> }).Attributes;
    assert.equal(allow!.QueueUrl, DLQ_URL);
    assert.deepEqual(JSON.parse(RedriveAllowPolicy!), {
      redrivePermission: 'byQueue',
      sourceQueueArnList: [QUEUE_ARN],
    });
  });

  test('ensureQueues takes other names and limits (the contract suite makes queues per test) and checks them', async () => {
    const { client, inputsOf } = fakeSqs(
      byOperation({
        CreateQueue: (call) => ok({ QueueUrl: `${ENDPOINT}/1/${String(call.input.QueueName)}` }),
        GetQueueAttributes: (call) => ok({ Attributes: { QueueArn: `arn:${String(call.input.QueueUrl)}` } }),
        SetQueueAttributes: () => ok(),
      }),
    );
    await SqsQueue.ensureQueues(client, {
      queueName: 't-1.fifo',
      deadLetterQueueName: 't-1-dlq.fifo',
      visibilityTimeoutSec: 1,
      maxReceiveCount: 1,
    });
    const created = inputsOf('CreateQueue')[1] as { Attributes: Record<string, string> };
    assert.equal(created.Attributes.VisibilityTimeout, '1');
    assert.deepEqual(JSON.parse(created.Attributes.RedrivePolicy!), {
      deadLetterTargetArn: `arn:${ENDPOINT}/1/t-1-dlq.fifo`,
      maxReceiveCount: 1,
    });
    await assert.rejects(SqsQueue.ensureQueues(client, { queueName: 'no-suffix' }), configError('queueName'));
    await assert.rejects(
      SqsQueue.ensureQueues(client, { queueName: 'a.fifo', deadLetterQueueName: 'a.fifo' }),
      configError('deadLetterQueueName'),
    );
  });

  test('ensureQueues surfaces a queue that exists with other attributes instead of changing it', async () => {
    const { client } = fakeSqs(() => sqsError('QueueAlreadyExists'));
    await assert.rejects(SqsQueue.ensureQueues(client), (err: Error) => err.name === 'QueueNameExists');
  });

  const attributesOf =
    (queue: Record<string, string>, dlq: Record<string, string>): Responder =>
    (call) =>
      ok({ Attributes: call.input.QueueUrl === QUEUE_URL ? queue : dlq });
  const goodDlq = { FifoQueue: 'true', QueueArn: DLQ_ARN };
  const redrivingTo = (arn: string) => JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: '3' });

  test('open checks both queues are FIFO and that the queue redrives to dlqUrl', async () => {
    const good = fakeSqs(attributesOf({ FifoQueue: 'true', RedrivePolicy: redrivingTo(DLQ_ARN) }, goodDlq));
    const queue = await SqsQueue.open({ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, client: good.client });
    assert.deepEqual(
      good.inputsOf('GetQueueAttributes').map((i) => i.AttributeNames),
      [
        ['FifoQueue', 'RedrivePolicy'],
        ['FifoQueue', 'QueueArn'],
      ],
    );
    await queue.close();

    const refused: [Responder, string][] = [
      [attributesOf({ RedrivePolicy: redrivingTo(DLQ_ARN) }, goodDlq), 'queueUrl'],
      [
        attributesOf({ FifoQueue: 'true', RedrivePolicy: redrivingTo(DLQ_ARN) }, { QueueArn: DLQ_ARN }),
        'dlqUrl',
      ],
      [attributesOf({ FifoQueue: 'true' }, goodDlq), 'dlqUrl'],
      [
        attributesOf({ FifoQueue: 'true', RedrivePolicy: redrivingTo(`${DLQ_ARN}-other`) }, goodDlq),
        'dlqUrl',
      ],
      [attributesOf({ FifoQueue: 'true', RedrivePolicy: '{not json' }, goodDlq), 'dlqUrl'],
      [
        byOperation({
          GetQueueAttributes: (call) =>
            call.input.QueueUrl === QUEUE_URL
              ? sqsError('AWS.SimpleQueueService.NonExistentQueue')
              : ok({ Attributes: goodDlq }),
        }),
        'queueUrl',
      ],
    ];
    for (const [respond, field] of refused) {
      const { client } = fakeSqs(respond);
      await assert.rejects(
        SqsQueue.open({ queueUrl: QUEUE_URL, dlqUrl: DLQ_URL, client }),
        configError(field),
      );
    }
  });
});
