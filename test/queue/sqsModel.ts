// A model of an SQS FIFO queue pair, for running the queue contract through
// SqsQueue and the real SDK where no SQS can run. It is NOT SQS: it is our
// reading of SQS's documentation (API reference and developer guide: FIFO
// delivery, visibility, redrive policy, DLQ move, dedup interval, move
// tasks). Where the documentation leaves a choice, it takes the one less
// forgiving to the adapter:
// - a receipt whose visibility ran out is refused (InvalidParameterValue,
//   "the receipt handle has expired", as FIFO queues answer);
// - a deduplicated send answers the original MessageId and SequenceNumber;
// - a message is moved to the DLQ by the receive that would exceed
//   maxReceiveCount, keeping its count, attributes and send time, with its
//   dedup id replaced by its MessageId; the group then moves on;
// - a redriven message is a new message (new id, count 0);
// - counters are exact (real ones lag: the SQS contract run waits for them).
// The real thing is checked by sqsQueueContract.test.ts against SQS_ENDPOINT.

import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { md5, ok, sqsError, type SqsCall, type SqsReply } from './sqsFake.ts';

const DEDUP_INTERVAL_MS = 5 * 60_000;

interface Stored {
  id: string;
  group: string;
  dedupId: string;
  body: string;
  attributes: unknown;
  seq: bigint;
  sentAt: number;
  receiveCount: number;
  visibleAt: number;
  receipt?: string;
  deleted: boolean;
}

interface ModelQueue {
  readonly url: string;
  readonly arn: string;
  attributes: Record<string, string>;
  messages: Stored[];
  readonly dedup: Map<string, { id: string; seq: bigint; at: number }>;
}

type Input = Record<string, unknown>;

export class SqsModel {
  private readonly queues = new Map<string, ModelQueue>();
  private readonly receipts = new Map<string, { queue: ModelQueue; message: Stored; visibleAt: number }>();
  private readonly tasks: {
    StartedTimestamp: number;
    Status: string;
    ApproximateNumberOfMessagesMoved: number;
  }[] = [];
  private nextSeq = 18_849_496_460_467_696_128n;

  readonly respond = async (call: SqsCall): Promise<SqsReply> => {
    const i = call.input;
    switch (call.operation) {
      case 'CreateQueue':
        return this.createQueue(String(i.QueueName), (i.Attributes ?? {}) as Record<string, string>);
      case 'SetQueueAttributes':
        Object.assign(this.queue(i).attributes, i.Attributes);
        return ok();
      case 'DeleteQueue':
        this.queues.delete(String(i.QueueUrl));
        return ok();
      case 'GetQueueAttributes':
        return ok({ Attributes: this.attributes(this.queue(i)) });
      case 'SendMessage':
        return this.send(this.queue(i), i);
      case 'ReceiveMessage':
        return this.receive(this.queue(i), i);
      case 'DeleteMessage':
        return this.deleteMessage(String(i.ReceiptHandle));
      case 'ChangeMessageVisibility':
        return this.changeVisibility(String(i.ReceiptHandle), Number(i.VisibilityTimeout));
      case 'ChangeMessageVisibilityBatch': {
        const entries = i.Entries as { Id: string; ReceiptHandle: string; VisibilityTimeout: number }[];
        for (const e of entries) this.changeVisibility(e.ReceiptHandle, e.VisibilityTimeout);
        return ok({ Successful: entries.map((e) => ({ Id: e.Id })) });
      }
      case 'StartMessageMoveTask':
        return this.moveAll(String(i.SourceArn));
      case 'ListMessageMoveTasks':
        return ok({ Results: this.tasks.slice(-1) });
      default:
        throw new Error(`the SQS model has no ${call.operation}`);
    }
  };

  private queue(input: Input): ModelQueue {
    const queue = this.queues.get(String(input.QueueUrl));
    if (!queue) throw new Error(`no queue ${String(input.QueueUrl)}`);
    return queue;
  }

  private createQueue(name: string, attributes: Record<string, string>): SqsReply {
    const url = `https://sqs.us-east-1.amazonaws.com/123456789012/${name}`;
    const existing = this.queues.get(url);
    if (existing) {
      const same = Object.entries(attributes).every(([k, v]) => existing.attributes[k] === v);
      return same ? ok({ QueueUrl: url }) : sqsError('QueueAlreadyExists');
    }
    const arn = `arn:aws:sqs:us-east-1:123456789012:${name}`;
    this.queues.set(url, { url, arn, attributes: { ...attributes }, messages: [], dedup: new Map() });
    return ok({ QueueUrl: url });
  }

  private attributes(queue: ModelQueue): Record<string, string> {
    const now = Date.now();
    const live = queue.messages.filter((m) => !m.deleted);
    return {
      ...queue.attributes,
      QueueArn: queue.arn,
      ApproximateNumberOfMessages: String(live.filter((m) => m.visibleAt <= now).length),
      ApproximateNumberOfMessagesNotVisible: String(live.filter((m) => m.visibleAt > now).length),
      ApproximateNumberOfMessagesDelayed: '0',
    };
  }

  private append(queue: ModelQueue, m: Omit<Stored, 'seq' | 'deleted' | 'visibleAt'>): Stored {
    const stored = { ...m, seq: this.nextSeq++, deleted: false, visibleAt: 0 };
    queue.messages.push(stored);
    return stored;
  }

  private send(queue: ModelQueue, i: Input): SqsReply {
    const now = Date.now();
    const dedupId = String(i.MessageDeduplicationId);
    const body = String(i.MessageBody);
    // SQS checks the body it received: the MD5 is of this request's body, the ids of the original.
    const known = queue.dedup.get(dedupId);
    if (known && known.at + DEDUP_INTERVAL_MS > now) {
      return ok({ MessageId: known.id, SequenceNumber: String(known.seq), MD5OfMessageBody: md5(body) });
    }
    const stored = this.append(queue, {
      id: randomUUID(),
      group: String(i.MessageGroupId),
      dedupId,
      body,
      attributes: i.MessageAttributes,
      sentAt: now,
      receiveCount: 0,
    });
    queue.dedup.set(dedupId, { id: stored.id, seq: stored.seq, at: now });
    return ok({ MessageId: stored.id, SequenceNumber: String(stored.seq), MD5OfMessageBody: md5(body) });
  }

  private async receive(queue: ModelQueue, i: Input): Promise<SqsReply> {
    const deadline = Date.now() + Number(i.WaitTimeSeconds ?? 0) * 1000;
    for (;;) {
      const got = this.take(queue, Number(i.MaxNumberOfMessages ?? 1), Number(i.VisibilityTimeout ?? 30));
      if (got.length > 0 || Date.now() >= deadline) return ok({ Messages: got });
      await delay(20);
    }
  }

  private take(queue: ModelQueue, max: number, visibilitySec: number) {
    const now = Date.now();
    const policy = queue.attributes.RedrivePolicy
      ? (JSON.parse(queue.attributes.RedrivePolicy) as {
          deadLetterTargetArn: string;
          maxReceiveCount: number;
        })
      : undefined;
    const live = queue.messages.filter((m) => !m.deleted);
    const blocked = new Set(live.filter((m) => m.visibleAt > now).map((m) => m.group));
    const out = [];
    for (const m of live) {
      if (out.length >= max) break;
      if (blocked.has(m.group)) continue;
      if (policy && m.receiveCount >= policy.maxReceiveCount) {
        this.moveToDlq(m, policy.deadLetterTargetArn);
        continue; // the group moves on, in this same receive
      }
      m.receiveCount++;
      m.visibleAt = now + visibilitySec * 1000;
      m.receipt = randomUUID();
      this.receipts.set(m.receipt, { queue, message: m, visibleAt: m.visibleAt });
      out.push({
        MessageId: m.id,
        ReceiptHandle: m.receipt,
        Body: m.body,
        MD5OfBody: md5(m.body),
        Attributes: {
          SentTimestamp: String(m.sentAt),
          ApproximateReceiveCount: String(m.receiveCount),
          SequenceNumber: String(m.seq),
          MessageGroupId: m.group,
          MessageDeduplicationId: m.dedupId,
        },
        ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
      });
    }
    return out;
  }

  private moveToDlq(m: Stored, dlqArn: string): void {
    const dlq = [...this.queues.values()].find((q) => q.arn === dlqArn);
    if (!dlq) throw new Error(`no DLQ ${dlqArn}`);
    m.deleted = true;
    this.append(dlq, { ...m, dedupId: m.id });
  }

  private deleteMessage(receipt: string): SqsReply {
    const r = this.receipts.get(receipt);
    if (!r) return sqsError('ReceiptHandleIsInvalid', 404);
    if (r.visibleAt <= Date.now())
      return sqsError('InvalidParameterValue', 400, 'The receipt handle has expired.');
    r.message.deleted = true;
    return ok();
  }

  private changeVisibility(receipt: string, timeoutSec: number): SqsReply {
    const r = this.receipts.get(receipt);
    const now = Date.now();
    if (!r || r.message.deleted) return sqsError('ReceiptHandleIsInvalid', 404);
    if (r.message.receipt !== receipt || r.message.visibleAt <= now) {
      return sqsError('AWS.SimpleQueueService.MessageNotInflight');
    }
    r.message.visibleAt = r.visibleAt = now + timeoutSec * 1000;
    return ok();
  }

  private moveAll(dlqArn: string): SqsReply {
    const dlq = [...this.queues.values()].find((q) => q.arn === dlqArn);
    const source = [...this.queues.values()].find((q) => q.attributes.RedrivePolicy?.includes(`"${dlqArn}"`));
    if (!dlq || !source) return sqsError('ResourceNotFoundException', 404);
    const now = Date.now();
    const moving = dlq.messages.filter((m) => !m.deleted && m.visibleAt <= now);
    for (const m of moving) {
      m.deleted = true;
      this.append(source, { ...m, id: randomUUID(), dedupId: randomUUID(), sentAt: now, receiveCount: 0 });
    }
    const startedAt = Math.max(now, (this.tasks.at(-1)?.StartedTimestamp ?? 0) + 1);
    this.tasks.push({
      StartedTimestamp: startedAt,
      Status: 'COMPLETED',
      ApproximateNumberOfMessagesMoved: moving.length,
    });
    return ok({ TaskHandle: randomUUID() });
  }
}
