// Creates (or confirms) the payment queue and its dead-letter queue with the
// attributes our guarantees rest on. CreateQueue is idempotent when the
// attributes match; a queue that exists with other attributes is an error
// (QueueNameExists), never silently changed: production queues are changed by
// infrastructure code, on purpose. docs/queue.md has the equivalent CLI.

import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { fbError } from '../../errors/index.ts';
import { DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_VISIBILITY_TIMEOUT_SEC } from '../Queue.ts';
import { parseOrThrow } from '../validateOptions.ts';
import { isQueueMissingError } from './sqsErrors.ts';

/** SQS's maximum, 14 days: as long as SQS can hold a waiting message (docs/queue.md). */
export const MAX_MESSAGE_RETENTION_SEC = 1_209_600;
export const PAYMENT_QUEUE_NAME = 'checkout-payments.fifo';
export const PAYMENT_DLQ_NAME = 'checkout-payments-dlq.fifo';

const fifoName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,75}\.fifo$/, 'must be 1-75 letters, digits, - or _ followed by ".fifo"');

const EnsureSchema = z
  .object({
    queueName: fifoName.default(PAYMENT_QUEUE_NAME),
    deadLetterQueueName: fifoName.default(PAYMENT_DLQ_NAME),
    visibilityTimeoutSec: z.number().int().min(0).max(43_200).default(DEFAULT_VISIBILITY_TIMEOUT_SEC),
    maxReceiveCount: z.number().int().min(1).max(1_000).default(DEFAULT_MAX_RECEIVE_COUNT),
    retentionSec: z.number().int().min(60).max(MAX_MESSAGE_RETENTION_SEC).default(MAX_MESSAGE_RETENTION_SEC),
    /** Queue tags, e.g. { environment: 'production' }: the environment stamp. */
    tags: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((o) => o.queueName !== o.deadLetterQueueName, {
    message: 'must differ from queueName',
    path: ['deadLetterQueueName'],
  });

export type EnsureQueuesOptions = z.input<typeof EnsureSchema>;

export interface EnsuredQueues {
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly queueArn: string;
  readonly dlqArn: string;
}

/** The attributes of each queue, as SQS takes them (strings; policies as JSON). */
export function queueAttributes(
  o: z.output<typeof EnsureSchema>,
  dlqArn: string,
): { queue: Record<string, string>; dlq: Record<string, string> } {
  const common = {
    FifoQueue: 'true',
    // Our dedup id is the checkout id; deduplicating by body would also merge
    // two different checkouts whose messages happened to be identical.
    ContentBasedDeduplication: 'false',
    MessageRetentionPeriod: String(o.retentionSec),
  };
  return {
    queue: {
      ...common,
      VisibilityTimeout: String(o.visibilityTimeoutSec),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: o.maxReceiveCount }),
    },
    // The DLQ's retention restarts when SQS moves a message into a FIFO DLQ.
    dlq: { ...common, VisibilityTimeout: String(o.visibilityTimeoutSec) },
  };
}

export async function ensureQueues(
  client: SQSClient,
  options: EnsureQueuesOptions = {},
): Promise<EnsuredQueues> {
  const o = parseOrThrow(EnsureSchema, options, 'SqsQueue.ensureQueues');
  const tags = o.tags === undefined ? {} : { tags: o.tags };
  const dlqUrl = await createQueue(client, o.deadLetterQueueName, queueAttributes(o, '').dlq, tags);
  const dlqArn = await queueArn(client, dlqUrl);
  const queueUrl = await createQueue(client, o.queueName, queueAttributes(o, dlqArn).queue, tags);
  const arn = await queueArn(client, queueUrl);
  // Only our payment queue may send dead letters here, so a move task (redrive)
  // can only ever send them back to it.
  await client.send(
    new SetQueueAttributesCommand({
      QueueUrl: dlqUrl,
      Attributes: {
        RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArnList: [arn] }),
      },
    }),
  );
  return { queueUrl, dlqUrl, queueArn: arn, dlqArn };
}

async function createQueue(
  client: SQSClient,
  name: string,
  attributes: Record<string, string>,
  tags: { tags?: Record<string, string> },
): Promise<string> {
  const out = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes, ...tags }));
  if (!out.QueueUrl) throw new Error(`SQS CreateQueue ${name} answered without a QueueUrl`);
  return out.QueueUrl;
}

export async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const out = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`SQS GetQueueAttributes ${queueUrl} answered without a QueueArn`);
  return arn;
}

const RedrivePolicySchema = z.object({
  deadLetterTargetArn: z.string().min(1),
  maxReceiveCount: z.coerce.number().int().min(1),
});

/** The queue's RedrivePolicy attribute, or null when it has none (or not one we can read). */
export function parseRedrivePolicy(value: string | undefined): z.output<typeof RedrivePolicySchema> | null {
  if (value === undefined || value === '') return null;
  try {
    const parsed = RedrivePolicySchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Checks the queues an SqsQueue is given: both FIFO, and the payment queue's
 * redrive policy pointing at dlqUrl. A process refuses to run on a queue whose
 * dead letters would go somewhere it cannot list or redrive. Answers the DLQ's ARN.
 */
export async function verifyQueues(client: SQSClient, queueUrl: string, dlqUrl: string): Promise<string> {
  const fail = (field: string, message: string, cause?: unknown) =>
    fbError('FB_CONFIG_INVALID', `SqsQueue options: ${field} ${message}`, { field, cause });
  const read = async (field: 'queueUrl' | 'dlqUrl', url: string, names: QueueAttributeName[]) => {
    try {
      const out = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
      return out.Attributes ?? {};
    } catch (err) {
      if (isQueueMissingError(err)) throw fail(field, `names no existing queue (${url})`, err);
      throw err;
    }
  };
  const [queue, dlq] = await Promise.all([
    read('queueUrl', queueUrl, ['FifoQueue', 'RedrivePolicy']),
    read('dlqUrl', dlqUrl, ['FifoQueue', 'QueueArn']),
  ]);
  if (queue.FifoQueue !== 'true') throw fail('queueUrl', 'is not a FIFO queue');
  if (dlq.FifoQueue !== 'true' || !dlq.QueueArn) throw fail('dlqUrl', 'is not a FIFO queue');
  const policy = parseRedrivePolicy(queue.RedrivePolicy);
  if (!policy || policy.deadLetterTargetArn !== dlq.QueueArn) {
    throw fail(
      'dlqUrl',
      `is not the queue's dead-letter queue: its RedrivePolicy targets ${policy?.deadLetterTargetArn ?? 'nothing'}, dlqUrl is ${dlq.QueueArn}`,
    );
  }
  return dlq.QueueArn;
}
