// The intake record of every checkout request the API has seen. It lives beside
// the payment queue (never in the ledger database, so the API keeps working
// while the ledger is down) and gives the API three things the queue alone
// cannot: long-term idempotency (the same key with a different body is
// refused forever, not just inside a dedup window), a status to answer
// GET /v1/checkouts/:id, and the acceptance sequence the auditor checks
// per-creator commit order against.

import type { Queue } from '../queue/Queue.ts';

export type IntakeStatus = 'received' | 'queued' | 'charged' | 'declined' | 'dead_lettered';

export interface IntakeRecord {
  readonly checkoutId: string;
  readonly creatorId: string;
  /** sha256 of the canonical request body; a replay must match it. */
  readonly requestHash: string;
  readonly status: IntakeStatus;
  /**
   * Queue sequence once queued; acceptance order within the creator. Up to 128
   * bits (SQS FIFO sequence numbers), stored as numeric(39,0) and carried as a
   * decimal string to the database and back.
   */
  readonly queueSequence: bigint | null;
  readonly receivedAt: Date;
  readonly updatedAt: Date;
  /** Reason for a decline or dead letter, when known. */
  readonly detail: string | null;
}

export type RecordResult =
  | { readonly kind: 'new'; readonly record: IntakeRecord }
  | { readonly kind: 'replay'; readonly record: IntakeRecord }
  | { readonly kind: 'conflict'; readonly record: IntakeRecord };

export interface RecordInput {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly requestHash: string;
}

export interface RecordAndSendInput extends RecordInput {
  /** The queue message (group = creatorId, dedup id = checkoutId). */
  readonly body: string;
  /** The acceptance time the body carries; recorded as the intake's receivedAt. */
  readonly receivedAt: Date;
}

export interface CheckoutIntake {
  /** Records a request as 'received', or reports a replay or conflict with the existing record. */
  record(input: RecordInput): Promise<RecordResult>;
  /**
   * Records a new request and sends its message to `queue` in one transaction,
   * leaving the record 'queued' with its sequence ('new'); or, writing nothing,
   * reports a replay or conflict with the existing record. Null when this intake
   * cannot send to that queue atomically (it is not the queue in the intake's
   * own database, on its pool): the caller then uses record, send, markQueued.
   */
  recordAndSend?(input: RecordAndSendInput, queue: Queue): Promise<RecordResult | null>;
  /** Moves 'received' to 'queued' with the queue's sequence. Idempotent. */
  markQueued(checkoutId: string, queueSequence: bigint): Promise<void>;
  /** Sets a terminal status (charged, declined, dead_lettered). Idempotent. */
  markOutcome(
    checkoutId: string,
    status: 'charged' | 'declined' | 'dead_lettered',
    detail?: string,
  ): Promise<void>;
  get(checkoutId: string): Promise<IntakeRecord | null>;
  close(): Promise<void>;
}
