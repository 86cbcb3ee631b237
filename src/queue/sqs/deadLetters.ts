// The dead-letter queue side of SqsQueue: listing, redrive of all (SQS's move
// task) and redrive of named messages (receive, send back, delete).
//
// SQS has no way to look at messages without receiving them. A listing
// receives dead letters with a short visibility timeout, so that one scan
// does not see the same message twice, then makes them visible again.
// Caveats (docs/queue.md): each listing counts as a receive of every message
// it shows; while a scan runs, those messages are hidden from a move task; and
// the DLQ is a FIFO queue too, so a scan sees, per creator, only the dead
// letters SQS hands out before that creator's group locks (up to 10).

import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DEDUP_ID_ATTRIBUTE, receiveMessages, toReceivedMessage, bySequence } from './sqsMessage.ts';

/** SQS's own cap on one ReceiveMessage and on one batch request. */
export const SQS_MAX_BATCH = 10;

export interface DeadLetterQueueRef {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /** How long a scan hides the dead letters it has seen. */
  readonly scanVisibilitySec: number;
}

/** Receives up to `limit` dead letters, hidden for scanVisibilitySec, oldest first. */
export async function scanDeadLetters(
  ref: DeadLetterQueueRef,
  limit: number,
  stopWhen: (seen: readonly Message[]) => boolean = () => false,
): Promise<Message[]> {
  const seen = new Map<string, Message>();
  for (let call = 0; seen.size < limit; call++) {
    let batch: Message[];
    try {
      batch = await receiveMessages(ref.client, {
        queueUrl: ref.dlqUrl,
        maxMessages: Math.min(SQS_MAX_BATCH, limit - seen.size),
        // One short long-poll first: an empty short poll can miss messages.
        waitTimeSeconds: call === 0 ? 1 : 0,
        visibilityTimeoutSec: ref.scanVisibilitySec,
      });
    } catch (err) {
      await releaseScanned(ref, [...seen.values()]);
      throw err;
    }
    const before = seen.size;
    // A message seen again (its hiding ran out during a long scan) keeps its newest receipt.
    for (const m of batch) if (m.MessageId) seen.set(m.MessageId, m);
    if (seen.size === before || stopWhen([...seen.values()])) break;
  }
  return [...seen.values()].sort((a, b) => bySequence(toReceivedMessage(a), toReceivedMessage(b)));
}

/** Makes scanned messages visible again. Best effort: what fails reappears when its hiding runs out. */
export async function releaseScanned(ref: DeadLetterQueueRef, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += SQS_MAX_BATCH) {
    const entries = messages.slice(i, i + SQS_MAX_BATCH).map((m, j) => ({
      Id: `m${i + j}`,
      ReceiptHandle: m.ReceiptHandle ?? '',
      VisibilityTimeout: 0,
    }));
    await ref.client
      .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: ref.dlqUrl, Entries: entries }))
      .catch(() => undefined);
  }
}

/**
 * Redrive of named dead letters. SQS's move task moves a whole DLQ, so named
 * ones are found by a scan, sent back to the payment queue (the tail of their
 * group, as a new message: SQS's own redrive also makes new messages) and then
 * deleted from the DLQ. Ids match the DLQ copy's MessageId or the original
 * message's id (SQS puts it in the copy's MessageDeduplicationId).
 *
 * The resend's dedup id is derived from the DLQ copy, not the checkout id: a
 * checkout id sent less than 5 minutes ago would be deduplicated away, the
 * delete would follow, and the payment would be lost. A crash between send
 * and delete leaves a copy in both queues; a second redrive within 5 minutes
 * is deduplicated, a later one makes a duplicate the worker absorbs
 * (provider idempotency key, ledger primary key).
 */
export async function redriveNamed(
  ref: DeadLetterQueueRef,
  ids: ReadonlySet<string>,
  scanLimit: number,
): Promise<number> {
  const isNamed = (m: Message) =>
    ids.has(m.MessageId ?? '') || ids.has(m.Attributes?.MessageDeduplicationId ?? '');
  const scanned = await scanDeadLetters(ref, scanLimit, (seen) => seen.filter(isNamed).length >= ids.size);
  const named = scanned.filter(isNamed);
  const done = new Set<Message>();
  try {
    for (const m of named) {
      const original = toReceivedMessage(m);
      await ref.client.send(
        new SendMessageCommand({
          QueueUrl: ref.queueUrl,
          MessageBody: original.body,
          MessageGroupId: original.groupId,
          MessageDeduplicationId: `redrive-${original.messageId}`,
          MessageAttributes: { [DEDUP_ID_ATTRIBUTE]: { DataType: 'String', StringValue: original.dedupId } },
        }),
      );
      await ref.client.send(
        new DeleteMessageCommand({ QueueUrl: ref.dlqUrl, ReceiptHandle: m.ReceiptHandle }),
      );
      done.add(m);
    }
  } finally {
    await releaseScanned(
      ref,
      scanned.filter((m) => !done.has(m)),
    );
  }
  return done.size;
}

export interface MoveTaskOptions {
  readonly dlqArn: string;
  readonly waitMs: number;
  readonly pollMs: number;
}

export interface MoveTaskResult {
  readonly moved: number;
  /** False when waitMs ran out first: the task goes on in SQS. */
  readonly finished: boolean;
}

/**
 * Redrive of the whole DLQ with SQS's move task, back to each message's source
 * queue (no DestinationArn), oldest first, so a creator's dead letters keep
 * their order at the tail of the group. Waits for the task to end (up to
 * waitMs) and answers SQS's count of moved messages. Only one task may run per
 * DLQ at a time: a second start fails with SQS's error.
 */
export async function redriveAll(ref: DeadLetterQueueRef, o: MoveTaskOptions): Promise<MoveTaskResult> {
  // ListMessageMoveTasks names a task's handle only while it runs; ours is the
  // first one started after the latest we saw before starting it.
  const before = (await latestMoveTask(ref, o.dlqArn))?.StartedTimestamp ?? -1;
  const started = await ref.client.send(new StartMessageMoveTaskCommand({ SourceArn: o.dlqArn }));
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    const task = await latestMoveTask(ref, o.dlqArn);
    const ours = task !== undefined && (task.StartedTimestamp ?? -1) > before;
    const moved = ours ? (task.ApproximateNumberOfMessagesMoved ?? 0) : 0;
    if (ours && task.Status === 'FAILED') {
      throw new Error(
        `SQS message move task ${started.TaskHandle ?? ''} failed: ${task.FailureReason ?? ''}`,
      );
    }
    if (ours && task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') return { moved, finished: true };
    if (Date.now() >= deadline) return { moved, finished: false };
    await new Promise((resolve) => setTimeout(resolve, o.pollMs));
  }
}

async function latestMoveTask(ref: DeadLetterQueueRef, dlqArn: string) {
  const out = await ref.client.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 1 }));
  return out.Results?.[0];
}
