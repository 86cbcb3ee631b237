// The Queue contract through SqsQueue and the real SDK, against sqsModel.ts:
// our reading of SQS FIFO's documented behaviour, so the adapter's own logic
// (one message per group, receipts, dead letters, redrive) is exercised end to
// end where no SQS can run. Real SQS: sqsQueueContract.test.ts.

import { randomUUID } from 'node:crypto';
import { SqsQueue } from '../../src/queue/SqsQueue.ts';
import { queueContract } from './queueContract.ts';
import { fakeSqs } from './sqsFake.ts';
import { SqsModel } from './sqsModel.ts';
import { SQS_CAPABILITIES } from './sqsCapabilities.ts';

const model = new SqsModel();
const { client } = fakeSqs(model.respond);

queueContract(
  'SqsQueue on a model of SQS FIFO',
  async (options) => {
    const name = `model-${randomUUID().slice(0, 8)}`;
    const visibilityTimeoutSec = options.visibilityTimeoutSec ?? 300;
    const { queueUrl, dlqUrl } = await SqsQueue.ensureQueues(client, {
      queueName: `${name}.fifo`,
      deadLetterQueueName: `${name}-dlq.fifo`,
      visibilityTimeoutSec,
      maxReceiveCount: options.maxReceiveCount ?? 3,
    });
    return {
      open: () => SqsQueue.open({ queueUrl, dlqUrl, client, visibilityTimeoutSec, redrivePollMs: 10 }),
    };
  },
  // The model's counters are exact; everything else as for SQS.
  { ...SQS_CAPABILITIES, statsLagMs: 0 },
);
