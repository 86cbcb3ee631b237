// The Queue contract against a real SQS (or an SQS-compatible server), run
// only when SQS_ENDPOINT is set; docs/queue.md ("SQS FIFO in production")
// says how. Each test gets a fresh pair of FIFO queues (the queue, and its
// DLQ with the test's maxReceiveCount), named SQS_QUEUE_PREFIX-<random>, all
// deleted after the file unless SQS_KEEP_QUEUES=1 (to inspect a failure).
//
// Where SQS differs from the port by design, the contract is told so
// (ContractCapabilities); everything else runs as for PostgresQueue.

import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SqsQueue } from '../../src/queue/SqsQueue.ts';
import { queueContract } from './queueContract.ts';
import { SQS_CAPABILITIES } from './sqsCapabilities.ts';

const env = process.env;
const ENABLE_HINT =
  'set SQS_ENDPOINT (e.g. https://sqs.eu-west-1.amazonaws.com), AWS_REGION and AWS credentials ' +
  'to run the queue contract against SQS (docs/queue.md, "SQS FIFO in production")';

if (!env.SQS_ENDPOINT) {
  test('Queue contract: SqsQueue', { skip: ENABLE_HINT }, () => {});
} else {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error(`SQS_ENDPOINT is set but AWS_REGION is not: ${ENABLE_HINT}`);
  const prefix = env.SQS_QUEUE_PREFIX ?? 'firebreak-contract';
  if (!/^[A-Za-z0-9_-]{1,50}$/.test(prefix)) {
    throw new Error('SQS_QUEUE_PREFIX must be 1-50 letters, digits, - or _');
  }
  const client = new SQSClient({ region, endpoint: env.SQS_ENDPOINT });
  const created: string[] = [];
  after(async () => {
    if (env.SQS_KEEP_QUEUES !== '1') {
      await Promise.allSettled(created.map((url) => client.send(new DeleteQueueCommand({ QueueUrl: url }))));
    }
    client.destroy();
  });

  queueContract(
    'SqsQueue',
    async (options) => {
      const name = `${prefix}-${randomUUID().slice(0, 8)}`;
      const visibilityTimeoutSec = options.visibilityTimeoutSec ?? 300;
      const { queueUrl, dlqUrl } = await SqsQueue.ensureQueues(client, {
        queueName: `${name}.fifo`,
        deadLetterQueueName: `${name}-dlq.fifo`,
        visibilityTimeoutSec,
        maxReceiveCount: options.maxReceiveCount ?? 3,
        tags: { purpose: 'firebreak-queue-contract' },
      });
      created.push(queueUrl, dlqUrl);
      // SQS: "wait at least one second after the queue is created to be able to use the queue".
      await delay(1_000);
      return {
        open: () => SqsQueue.open({ queueUrl, dlqUrl, client, visibilityTimeoutSec, redriveWaitMs: 120_000 }),
      };
    },
    SQS_CAPABILITIES,
  );
}
