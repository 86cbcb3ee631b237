// The environment fence on SQS queues: the stamp is the queue's tags
// (firebreak:env, firebreak:stamped-at, firebreak:stamped-by). The real SDK
// talks to the SQS model (test/queue/sqsModel.ts); the model has no tags, so
// this file adds ListQueueTags and TagQueue as SQS documents them (TagQueue
// adds or overwrites; ListQueueTags leaves Tags out when there are none; a
// missing queue is AWS.SimpleQueueService.NonExistentQueue).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { isFirebreakError } from '../../src/errors/index.ts';
import { Fence } from '../../src/guardrails/fence/fence.ts';
import { parseResourceUrl, type SqsResource } from '../../src/guardrails/fence/resourceUrl.ts';
import { SqsModel } from '../queue/sqsModel.ts';
import { fakeSqs, ok, sqsError, type SqsCall } from '../queue/sqsFake.ts';

function taggedModel() {
  const model = new SqsModel();
  const tags = new Map<string, Record<string, string>>();
  const fake = fakeSqs(async (call: SqsCall) => {
    const url = String(call.input.QueueUrl);
    switch (call.operation) {
      case 'ListQueueTags':
      case 'TagQueue': {
        if (!tags.has(url)) return sqsError('AWS.SimpleQueueService.NonExistentQueue');
        if (call.operation === 'TagQueue') {
          Object.assign(tags.get(url)!, call.input.Tags as Record<string, string>);
          return ok();
        }
        const mine = tags.get(url)!;
        return ok(Object.keys(mine).length > 0 ? { Tags: mine } : {});
      }
      default: {
        const reply = await model.respond(call);
        if (call.operation === 'CreateQueue') {
          const created = (reply.body as { QueueUrl?: string } | undefined)?.QueueUrl;
          if (created && !tags.has(created)) tags.set(created, {});
        }
        return reply;
      }
    }
  });
  return { fake, tags };
}

test('an SQS queue is stamped by its tags; another environment is refused, a missing queue cannot be checked', async () => {
  const { fake, tags } = taggedModel();
  const { QueueUrl } = await fake.client.send(
    new CreateQueueCommand({ QueueName: 'checkout-payments.fifo', Attributes: { FifoQueue: 'true' } }),
  );
  const queue = parseResourceUrl(QueueUrl!, { name: 'payment queue' }) as SqsResource;
  assert.equal(queue.kind, 'sqs');
  const sqsClient = () => fake.client;

  assert.equal((await new Fence({ env: 'production', sqsClient }).check(queue)).outcome, 'unstamped');
  const stamped = await new Fence({
    env: 'production',
    sqsClient,
    stampedBy: 'terraform (ci@runner, pid 1)',
  }).stamp(queue);
  assert.equal(stamped.outcome, 'adopted');
  const written = tags.get(QueueUrl!)!;
  assert.equal(written['firebreak:env'], 'production');
  assert.match(written['firebreak:stamped-at'] ?? '', /^\d{4}-\d\d-\d\dT/);
  // Tag values allow letters, digits, spaces and _ . : / = + - @ only.
  assert.equal(written['firebreak:stamped-by'], 'terraform _ci@runner_ pid 1_');

  assert.equal((await new Fence({ env: 'production', sqsClient }).check(queue)).outcome, 'ok');
  await assert.rejects(new Fence({ env: 'staging', sqsClient }).verify(queue), (err: unknown) => {
    assert.ok(isFirebreakError(err));
    assert.equal(err.code, 'FB_ENV_MISMATCH');
    assert.match(
      err.message,
      /^payment queue https:\/\/sqs\.us-east-1\.amazonaws\.com\/123456789012\/checkout-payments\.fifo belongs to environment "production"/,
    );
    return true;
  });
  const calls = fake.calls.length;
  assert.equal((await new Fence({ env: 'staging', sqsClient }).stamp(queue)).outcome, 'mismatch');
  assert.deepEqual(fake.inputsOf('TagQueue').length, 1, 'a refused stamp tags nothing');
  assert.ok(fake.calls.length > calls);

  const missing = parseResourceUrl('https://sqs.us-east-1.amazonaws.com/123456789012/nope.fifo');
  await assert.rejects(new Fence({ env: 'staging', sqsClient }).check(missing), (err: unknown) => {
    assert.ok(isFirebreakError(err));
    assert.equal(err.code, 'FB_ENV_CHECK_FAILED');
    assert.match(err.message, /nope\.fifo: could not read its environment stamp/);
    return true;
  });
});
