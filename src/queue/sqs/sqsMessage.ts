// SQS messages to the port's shapes, and the one ReceiveMessage request every
// receive of the adapter makes (queue, dead-letter listing, redrive by id).

import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetter, ReceivedMessage } from '../Queue.ts';

/**
 * The dedup id (checkout id) also travels as a message attribute: when SQS
 * moves a message from a FIFO queue to its FIFO dead-letter queue it replaces
 * the MessageDeduplicationId with the original MessageId, and the operator
 * listing dead letters needs the checkout id.
 */
export const DEDUP_ID_ATTRIBUTE = 'firebreak.dedupId';

const SYSTEM_ATTRIBUTES = [
  'SentTimestamp',
  'ApproximateReceiveCount',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
] as const;

export interface ReceiveCall {
  readonly queueUrl: string;
  readonly maxMessages: number;
  readonly waitTimeSeconds: number;
  readonly visibilityTimeoutSec: number;
  /** Kept across retries of one receive (SqsQueue's policy retries it); a fresh one when absent. */
  readonly attemptId?: string;
}

/**
 * One ReceiveMessage. The attempt id makes retries of this call (SqsQueue's
 * outbound policy, or a caller-owned client's SDK retries) after a network
 * error return the same messages and receipts instead of
 * new ones, which would otherwise sit invisible, blocking their groups, until
 * their visibility timeout ran out (a FIFO-only parameter, kept 5 minutes).
 */
export async function receiveMessages(
  client: SQSClient,
  call: ReceiveCall,
  abortSignal?: AbortSignal,
): Promise<Message[]> {
  const out = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: call.queueUrl,
      MaxNumberOfMessages: call.maxMessages,
      WaitTimeSeconds: call.waitTimeSeconds,
      VisibilityTimeout: call.visibilityTimeoutSec,
      MessageSystemAttributeNames: [...SYSTEM_ATTRIBUTES],
      MessageAttributeNames: [DEDUP_ID_ATTRIBUTE],
      ReceiveRequestAttemptId: call.attemptId ?? randomUUID(),
    }),
    abortSignal === undefined ? {} : { abortSignal },
  );
  return out.Messages ?? [];
}

/** A 128-bit SequenceNumber, a decimal string, as bigint. */
export function parseSequence(value: string | undefined, what: string): bigint {
  if (value === undefined || !/^[0-9]{1,40}$/.test(value)) {
    throw new Error(`SQS ${what} has no valid SequenceNumber (${String(value)}): is the queue a FIFO queue?`);
  }
  return BigInt(value);
}

function required(message: Message, value: string | undefined, name: string): string {
  if (value === undefined || value === '') {
    throw new Error(`SQS message ${message.MessageId ?? '(no id)'} arrived without ${name}`);
  }
  return value;
}

function integerAttribute(message: Message, name: 'SentTimestamp' | 'ApproximateReceiveCount'): number {
  const value = Number(required(message, message.Attributes?.[name], name));
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`SQS message ${message.MessageId} has a bad ${name}`);
  }
  return value;
}

function dedupIdOf(message: Message): string {
  return (
    message.MessageAttributes?.[DEDUP_ID_ATTRIBUTE]?.StringValue ??
    required(message, message.Attributes?.MessageDeduplicationId, 'MessageDeduplicationId')
  );
}

export function toReceivedMessage(message: Message): ReceivedMessage {
  return {
    messageId: required(message, message.MessageId, 'MessageId'),
    groupId: required(message, message.Attributes?.MessageGroupId, 'MessageGroupId'),
    dedupId: dedupIdOf(message),
    body: message.Body ?? '',
    sequence: parseSequence(message.Attributes?.SequenceNumber, `message ${message.MessageId}`),
    receiveCount: integerAttribute(message, 'ApproximateReceiveCount'),
    sentAt: new Date(integerAttribute(message, 'SentTimestamp')),
    receiptHandle: required(message, message.ReceiptHandle, 'ReceiptHandle'),
  };
}

/**
 * A message received from the dead-letter queue, as the port's DeadLetter.
 * What SQS does not keep (docs/queue.md, "SQS FIFO in production"):
 * - sequence is the DLQ's own SequenceNumber (its arrival order there);
 * - receiveCount is SQS's count less this listing's own receive (earlier
 *   listings count too: each one is a receive);
 * - SQS does not record when it moved a message. deadLetteredAt is the DLQ
 *   copy's SentTimestamp: at or before the move, so the DLQ's retention (which
 *   restarts at the move for FIFO queues) ends no earlier than 14 days after it.
 */
export function toDeadLetter(message: Message): DeadLetter {
  const received = toReceivedMessage(message);
  return {
    messageId: received.messageId,
    groupId: received.groupId,
    dedupId: received.dedupId,
    body: received.body,
    sequence: received.sequence,
    receiveCount: Math.max(0, received.receiveCount - 1),
    sentAt: received.sentAt,
    deadLetteredAt: received.sentAt,
  };
}

export function bySequence(a: ReceivedMessage, b: ReceivedMessage): number {
  return a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0;
}
