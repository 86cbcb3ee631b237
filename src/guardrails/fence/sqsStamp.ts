// The environment stamp of an SQS queue: its tags. `firebreak:env` names the
// environment; `firebreak:stamped-at` and `firebreak:stamped-by` say when and
// who. Tags are the queue's own metadata, readable with sqs:ListQueueTags,
// which a service's IAM role can be given without any message permission.
//
// TagQueue is not conditional: two people stamping one queue for different
// environments at the same moment would race. Stamping reads the tags back
// afterwards, and stamping is a provisioning step, run once.

import { ListQueueTagsCommand, SQSClient, TagQueueCommand } from '@aws-sdk/client-sqs';
import type { Stamp } from './environment.ts';
import type { SqsResource } from './resourceUrl.ts';

export const SQS_ENV_TAG = 'firebreak:env';
export const SQS_STAMPED_AT_TAG = 'firebreak:stamped-at';
export const SQS_STAMPED_BY_TAG = 'firebreak:stamped-by';

/** Characters SQS accepts in a tag value (letters, digits, spaces and _ . : / = + - @), at most 256. */
const tagValue = (text: string): string => text.replace(/[^\p{L}\p{N} _.:/=+\-@]/gu, '_').slice(0, 256);

/** An SDK client for the queue's endpoint and region, credentials from the default chain. */
export function defaultSqsClient(resource: SqsResource): SQSClient {
  return new SQSClient({ endpoint: resource.endpoint, region: resource.region, maxAttempts: 2 });
}

export async function readSqsStamps(client: SQSClient, resource: SqsResource): Promise<Stamp[]> {
  const { Tags: tags = {} } = await client.send(new ListQueueTagsCommand({ QueueUrl: resource.queueUrl }));
  const env = tags[SQS_ENV_TAG];
  if (env === undefined) return [];
  return [{ env, stampedAt: tags[SQS_STAMPED_AT_TAG] ?? null, stampedBy: tags[SQS_STAMPED_BY_TAG] ?? null }];
}

export async function writeSqsStamp(
  client: SQSClient,
  resource: SqsResource,
  env: string,
  by: string,
): Promise<Stamp[]> {
  const before = await readSqsStamps(client, resource);
  if (before.length > 0) return before;
  await client.send(
    new TagQueueCommand({
      QueueUrl: resource.queueUrl,
      Tags: {
        [SQS_ENV_TAG]: env,
        [SQS_STAMPED_AT_TAG]: new Date().toISOString(),
        [SQS_STAMPED_BY_TAG]: tagValue(by),
      },
    }),
  );
  return readSqsStamps(client, resource);
}
