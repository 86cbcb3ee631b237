// The payment queue port. Semantics are those of an SQS FIFO queue, because
// that is what production runs (checkout-payments.fifo):
//
// - Messages of one group (a creator id) are delivered strictly in send order,
//   one at a time: while a message of a group is in flight, no later message of
//   that group is delivered. Different groups are delivered in parallel.
// - A received message is invisible for the visibility timeout (default 300 s);
//   if it is not deleted by then it becomes visible again, with its receive
//   count incremented on the next receive.
// - A message that has been received maxReceiveCount times (default 3) and comes
//   back is moved to the dead-letter queue instead of being delivered again; the
//   group then moves on to its next message.
// - Sending a second message with the same dedupId while the first is still
//   known to the queue is a no-op that returns the original message.
// - Nothing expires while waiting (the Postgres adapter keeps messages forever;
//   SQS keeps them 14 days, see docs/queue.md).

export const DEFAULT_VISIBILITY_TIMEOUT_SEC = 300;
export const DEFAULT_MAX_RECEIVE_COUNT = 3;

export interface SendInput {
  readonly groupId: string;
  readonly dedupId: string;
  readonly body: string;
}

export interface SendResult {
  readonly messageId: string;
  /** Position in the queue; strictly increasing in send order within a group. */
  readonly sequence: bigint;
  /** True when a message with the same dedupId was already known: nothing new was queued. */
  readonly duplicate: boolean;
}

export interface ReceivedMessage {
  readonly messageId: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly body: string;
  readonly sequence: bigint;
  /** 1 on first delivery. */
  readonly receiveCount: number;
  readonly sentAt: Date;
  /** Opaque; valid only for this delivery. */
  readonly receiptHandle: string;
}

export interface ReceiveOptions {
  readonly maxMessages: number;
  /** Long poll: wait up to this long for a message when none is visible. */
  readonly waitTimeMs?: number;
}

export interface DeadLetter {
  readonly messageId: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly body: string;
  readonly sequence: bigint;
  readonly receiveCount: number;
  readonly sentAt: Date;
  readonly deadLetteredAt: Date;
}

export interface QueueStats {
  readonly visible: number;
  readonly inFlight: number;
  readonly deadLettered: number;
  /** Age of the oldest message not yet deleted, in seconds (0 when empty). */
  readonly oldestAgeSec: number;
}

export interface Queue {
  send(input: SendInput): Promise<SendResult>;
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Returns false when the receipt is stale (the message was redelivered or already deleted). */
  delete(receiptHandle: string): Promise<boolean>;
  /**
   * Extends (or shortens) the invisibility of a received message. Returns false when stale, or when
   * its timeout has already run out (it is no longer in flight: SQS's MessageNotInflight).
   */
  changeVisibility(receiptHandle: string, timeoutSec: number): Promise<boolean>;
  stats(): Promise<QueueStats>;
  listDeadLetters(limit: number): Promise<DeadLetter[]>;
  /** Moves dead letters (all, or those named) back to the tail of their group. Returns how many moved. */
  redrive(messageIds?: readonly string[]): Promise<number>;
  close(): Promise<void>;
}
