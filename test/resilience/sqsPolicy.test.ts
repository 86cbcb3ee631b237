// The SQS adapter under the outbound policy: its own client makes one attempt
// per call (the SDK's retries are off), so a real HTTP endpoint failing with
// 500 sees exactly the policy's attempts, not the policy's × the SDK's; a
// retried receive keeps its attempt id; what SQS calls permanent is not
// retried.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { SqsQueue, sqsPolicy } from '../../src/queue/SqsQueue.ts';
import { isTransientSqsError } from '../../src/queue/sqs/sqsErrors.ts';
import {
  byOperation,
  DLQ_URL,
  fakeSqs,
  inTurn,
  messages,
  ok,
  QUEUE_URL,
  sqsError,
} from '../queue/sqsFake.ts';

test('the client SqsQueue makes retries only through the policy: a failing endpoint sees 3 attempts, not 9', async () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(500, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-query-error': 'InternalError;Receiver',
    });
    res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#InternalError', message: 'we are down' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Fake keys for a local endpoint, so the SDK does not go looking for real ones.
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'secret';
  const registry = new Registry();
  const queue = SqsQueue.connect({
    region: 'us-east-1',
    endpoint,
    queueUrl: `${endpoint}/123456789012/checkout-payments.fifo`,
    dlqUrl: `${endpoint}/123456789012/checkout-payments-dlq.fifo`,
    policy: sqsPolicy({ registry }),
  });
  after(() => queue.close());
  const err = await queue.send({ groupId: 'g', dedupId: 'd', body: 'x' }).catch((e: unknown) => e);
  assert.ok(isTransientSqsError(err), String(err));
  assert.equal(hits, 3, 'three attempts in all');
  const retries = (await registry.getSingleMetric('firebreak_outbound_retries_total')?.get())?.values;
  assert.deepEqual(
    retries?.map((v) => [v.labels.dependency, v.value]),
    [['sqs', 2]],
  );
});

test('a receive retried by the policy keeps its attempt id, so SQS returns the same messages', async () => {
  const fake = fakeSqs(
    inTurn([sqsError('InternalError', 500), messages({ id: 'a1', group: 'a', seq: '1' }), ok({})]),
  );
  const queue = SqsQueue.connect({
    queueUrl: QUEUE_URL,
    dlqUrl: DLQ_URL,
    client: fake.client,
    policy: sqsPolicy(),
  });
  assert.deepEqual(
    (await queue.receive({ maxMessages: 1 })).map((m) => m.messageId),
    ['a1'],
  );
  const [failed, retried] = fake.inputsOf('ReceiveMessage');
  assert.ok(failed?.ReceiveRequestAttemptId);
  assert.equal(failed.ReceiveRequestAttemptId, retried?.ReceiveRequestAttemptId);
  await queue.close();
});

test('throttling is retried; a stale receipt is an answer, not a failure, and is not retried', async () => {
  let throttled = 0;
  const fake = fakeSqs(
    byOperation({
      DeleteMessage: (call) => {
        if (call.input.ReceiptHandle === 'stale') return sqsError('ReceiptHandleIsInvalid', 404);
        return throttled++ < 2 ? sqsError('RequestThrottled', 403) : ok({});
      },
    }),
  );
  const queue = SqsQueue.connect({
    queueUrl: QUEUE_URL,
    dlqUrl: DLQ_URL,
    client: fake.client,
    policy: sqsPolicy(),
  });
  assert.equal(await queue.delete('stale'), false);
  assert.equal(fake.inputsOf('DeleteMessage').length, 1);
  assert.equal(await queue.delete('held'), true);
  assert.equal(fake.inputsOf('DeleteMessage').length, 4, 'two throttled attempts, then the one that worked');
  await queue.close();
});

test('the SQS error table: transient names, statuses and socket codes; caller aborts and client errors are not', () => {
  const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name }, extra);
  for (const transient of [
    named('RequestThrottled'),
    named('AWS.SimpleQueueService.RequestThrottled'),
    named('InternalError'),
    named('Whatever', { $metadata: { httpStatusCode: 503 } }),
    named('Whatever', { $retryable: {} }),
    named('Error', { code: 'ECONNRESET' }),
    new Error('wrapped', { cause: named('TimeoutError') }),
  ]) {
    assert.equal(isTransientSqsError(transient), true, transient.name);
  }
  for (const permanent of [
    named('AbortError'),
    named('ReceiptHandleIsInvalid', { $metadata: { httpStatusCode: 404 } }),
    named('InvalidParameterValue', { $metadata: { httpStatusCode: 400 } }),
    named('QueueDoesNotExist'),
    'not an error',
  ]) {
    assert.equal(isTransientSqsError(permanent), false, String(permanent));
  }
});
