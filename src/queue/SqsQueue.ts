// The Amazon SQS FIFO adapter of the Queue port: what production runs
// (checkout-payments.fifo, group = creator id, dedup id = checkout id,
// visibility 300 s, maxReceiveCount 3 into checkout-payments-dlq.fifo).
// docs/queue.md ("SQS FIFO in production") says what SQS guarantees, what it
// does not, and how to run the queue contract suite against a real SQS.
//
// One message per ReceiveMessage call. SQS may return several messages of one
// group in one batch; the port hands out one message per group at a time, so
// the later ones would have to be held or given back. Giving one back, or
// letting it time out, counts a receive: a creator's poison message, retried
// three times with its followers in the same batches, would drag the followers
// into the dead-letter queue with it, never processed. Asking for one message
// per call means a group's later messages are never received while its head
// is in flight. A receive() that wants n messages makes up to n calls (a long
// poll, then short polls until one comes back empty). The price is requests,
// not throughput: the port deletes one receipt per call, so DeleteMessage, at
// one call per message, already sets the ceiling (300 calls/s per API action
// on a FIFO queue, more in high-throughput mode).
//
// Should SQS still hand out a later message of a group this receive holds, it
// is released at once (visibility 0). That keeps order, since the group's
// earlier message is in flight and SQS delivers a group in sequence order,
// and costs that message one receive count.
//
// Retries: the client this adapter makes has the SDK's retries off
// (maxAttempts 1) and every queue call (send, receive, delete, change
// visibility, attributes) goes through the outbound policy of src/resilience
// instead: the SDK's own numbers (3 attempts, full-jitter backoff from 100 ms)
// plus the retry budget and a breaker the SDK does not have, and the same
// metrics as every other client. The SDK's standard mode has a retry quota
// too, but it is invisible to /metrics, and two retry layers would multiply.
// All of these calls are safe to repeat: a send keeps its dedup id, a receive
// its attempt id, and delete / change visibility are idempotent per receipt.
// Each attempt is bounded by the SDK's request timeout (REQUEST_TIMEOUT_MS,
// above the 20 s long poll), not by a policy timeout, and the policy's signal
// is passed to the SDK. A caller-owned client keeps its own retry settings,
// under a pass-through policy unless `policy` is given. The dead-letter
// operations and the start-up checks (sqs/) use the client directly: an
// operator or a supervisor retries those.

import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { OutboundPolicy, outboundPolicy, type OutboundPolicyOptions } from '../resilience/index.ts';
import {
  DEFAULT_VISIBILITY_TIMEOUT_SEC,
  type DeadLetter,
  type Queue,
  type QueueStats,
  type ReceivedMessage,
  type ReceiveOptions,
  type SendInput,
  type SendResult,
} from './Queue.ts';
import { parseArgument, parseOrThrow } from './validateOptions.ts';
import {
  redriveAll,
  redriveNamed,
  releaseScanned,
  scanDeadLetters,
  type DeadLetterQueueRef,
} from './sqs/deadLetters.ts';
import { DeliveryTracker } from './sqs/deliveryTracker.ts';
import {
  ensureQueues,
  verifyQueues,
  type EnsuredQueues,
  type EnsureQueuesOptions,
} from './sqs/ensureQueues.ts';
import { isStaleReceiptError, isTransientSqsError } from './sqs/sqsErrors.ts';
import {
  bySequence,
  DEDUP_ID_ATTRIBUTE,
  parseSequence,
  receiveMessages,
  toDeadLetter,
  toReceivedMessage,
} from './sqs/sqsMessage.ts';

/** SQS's limits. */
export const SQS_MAX_WAIT_TIME_SEC = 20;
export const SQS_MAX_VISIBILITY_TIMEOUT_SEC = 43_200;
/** One receive() returns at most this many (SQS's batch size; the worker asks for its free slots). */
export const SQS_MAX_MESSAGES_PER_RECEIVE = 10;
/**
 * Long polls last up to 20 s; a request that takes longer is abandoned and
 * retried by the SDK (a retried receive keeps its attempt id, a retried send
 * its dedup id). Without it a dead connection could hold a receive forever.
 */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The policy of the client SqsQueue makes: the SDK's standard retry numbers
 * (3 attempts, full jitter from 100 ms, capped at 20 s), under the default
 * retry budget (10 % of calls plus 1/s over 10 s) and a breaker that fails
 * fast after 5 transient failures in a row, probing again after 2 s.
 */
export function sqsPolicy(options: Pick<OutboundPolicyOptions, 'registry' | 'logger'> = {}): OutboundPolicy {
  return outboundPolicy({
    dependency: 'sqs',
    isTransient: isTransientSqsError,
    timeoutMs: null, // REQUEST_TIMEOUT_MS, in the SDK's request handler, bounds each attempt
    retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 20_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 2_000 },
    ...options,
  });
}

/** A caller-owned client keeps its own retries: this one only counts calls. */
const passThrough = () =>
  outboundPolicy({
    dependency: 'sqs',
    isTransient: isTransientSqsError,
    timeoutMs: null,
    retry: null,
    breaker: null,
  });

export type SqsQueueEvent =
  | { readonly type: 'extra-of-group-released'; readonly groupId: string; readonly messageId: string }
  | { readonly type: 'release-failed'; readonly messageId: string; readonly error: unknown }
  | { readonly type: 'receive-failed-after-messages'; readonly kept: number; readonly error: unknown }
  | { readonly type: 'redrive-still-running'; readonly moved: number };

const fifoQueueUrl = z
  .url()
  .refine(
    (u) => URL.canParse(u) && new URL(u).pathname.endsWith('.fifo'),
    'must be the URL of a FIFO queue (name ending in .fifo)',
  );

const OptionsSchema = z
  .object({
    queueUrl: fifoQueueUrl,
    dlqUrl: fifoQueueUrl,
    /** For the client the queue makes itself (not with `client`). */
    region: z.string().min(1).optional(),
    /** A non-AWS endpoint (an SQS-compatible server); default: the region's SQS endpoint. */
    endpoint: z.url().optional(),
    /** A caller-owned client (credentials, retries, tests); left open by close(). */
    client: z.custom<SQSClient>((v) => v instanceof SQSClient, 'must be an SQSClient').optional(),
    visibilityTimeoutSec: z
      .number()
      .int()
      .min(0)
      .max(SQS_MAX_VISIBILITY_TIMEOUT_SEC)
      .default(DEFAULT_VISIBILITY_TIMEOUT_SEC),
    /** How long a dead-letter listing hides the messages it has seen (they are released after it). */
    deadLetterScanVisibilitySec: z.number().int().min(1).max(SQS_MAX_VISIBILITY_TIMEOUT_SEC).default(30),
    /** redrive() of everything waits this long for SQS's move task to finish. */
    redriveWaitMs: z.number().int().min(0).max(3_600_000).default(60_000),
    redrivePollMs: z.number().int().min(1).max(60_000).default(1_000),
    /** The outbound policy of every queue call; default sqsPolicy() (pass-through with a caller-owned client). */
    policy: z
      .custom<OutboundPolicy>((v) => v instanceof OutboundPolicy, 'must be an OutboundPolicy')
      .optional(),
    /** Fired for what the service should log. Must not throw. */
    onEvent: z.custom<(event: SqsQueueEvent) => void>((v) => typeof v === 'function').optional(),
  })
  .strict()
  .refine((o) => o.queueUrl !== o.dlqUrl, { message: 'must differ from queueUrl', path: ['dlqUrl'] })
  .refine((o) => o.client === undefined || (o.region === undefined && o.endpoint === undefined), {
    message: 'give either client or region/endpoint, not both',
    path: ['client'],
  })
  .refine((o) => o.client !== undefined || o.region !== undefined, {
    message: 'is required unless a client is given',
    path: ['region'],
  });

export type SqsQueueOptions = z.input<typeof OptionsSchema>;
type ResolvedOptions = z.output<typeof OptionsSchema>;

const ReceiveOptionsSchema = z.object({
  maxMessages: z.number().int().min(1).max(100),
  waitTimeMs: z.number().int().min(0).max(60_000).optional(),
});

// SQS: 1-128 characters from alphanumerics and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~).
const sqsId = z.string().regex(/^[!-~]{1,128}$/, 'must be 1-128 printable ASCII characters, no spaces');
const SendInputSchema = z.object({ groupId: sqsId, dedupId: sqsId, body: z.string() });
const visibilitySec = z.number().int().min(0).max(SQS_MAX_VISIBILITY_TIMEOUT_SEC);

export class SqsQueue implements Queue {
  private readonly options: ResolvedOptions;
  private readonly client: SQSClient;
  private readonly ownsClient: boolean;
  private readonly policy: OutboundPolicy;
  private readonly tracker = new DeliveryTracker();
  private readonly receiving = new Set<Promise<unknown>>();
  private dlqArn: string | undefined;
  private closed = false;

  private constructor(options: ResolvedOptions) {
    this.options = options;
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new SQSClient({
        region: options.region,
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
        // One attempt per send(): the outbound policy retries (see the header).
        maxAttempts: 1,
      });
    this.policy = options.policy ?? (this.ownsClient ? sqsPolicy() : passThrough());
  }

  /** One queue call under the policy; the attempt's signal reaches the SDK. */
  private call<T>(send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return this.policy.execute(({ signal }) => send(signal));
  }

  /** Validates options and makes the client; no request yet (see open). */
  static connect(options: SqsQueueOptions): SqsQueue {
    return new SqsQueue(parseOrThrow(OptionsSchema, options, 'SqsQueue options'));
  }

  /** Validates options and checks the queues (FIFO, redriving to dlqUrl: sqs/ensureQueues.ts). */
  static async open(options: SqsQueueOptions): Promise<SqsQueue> {
    const queue = SqsQueue.connect(options);
    try {
      queue.dlqArn = await verifyQueues(queue.client, queue.options.queueUrl, queue.options.dlqUrl);
    } catch (err) {
      await queue.close();
      throw err;
    }
    return queue;
  }

  /** Creates (or confirms) checkout-payments.fifo and its DLQ; see sqs/ensureQueues.ts. */
  static ensureQueues(client: SQSClient, options?: EnsureQueuesOptions): Promise<EnsuredQueues> {
    return ensureQueues(client, options);
  }

  async send(input: SendInput): Promise<SendResult> {
    const { groupId, dedupId, body } = parseArgument(SendInputSchema, input, 'send input');
    const command = new SendMessageCommand({
      QueueUrl: this.options.queueUrl,
      MessageBody: body,
      MessageGroupId: groupId,
      MessageDeduplicationId: dedupId,
      MessageAttributes: { [DEDUP_ID_ATTRIBUTE]: { DataType: 'String', StringValue: dedupId } },
    });
    const out = await this.call((abortSignal) => this.client.send(command, { abortSignal }));
    if (!out.MessageId) throw new Error('SQS SendMessage answered without a MessageId');
    const sequence = parseSequence(out.SequenceNumber, 'SendMessage answer');
    return {
      messageId: out.MessageId,
      sequence,
      duplicate: this.tracker.sent(dedupId, out.MessageId, Date.now()),
    };
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    const parsed = parseArgument(ReceiveOptionsSchema, options, 'receive options');
    if (this.closed) return [];
    // Whole seconds, rounded up so a receive never returns before waitTimeMs.
    const waitSec = Math.min(SQS_MAX_WAIT_TIME_SEC, Math.ceil((parsed.waitTimeMs ?? 0) / 1000));
    const receiving = this.receiveUpTo(Math.min(parsed.maxMessages, SQS_MAX_MESSAGES_PER_RECEIVE), waitSec);
    this.receiving.add(receiving);
    try {
      return await receiving;
    } finally {
      this.receiving.delete(receiving);
    }
  }

  private async receiveUpTo(wanted: number, waitSec: number): Promise<ReceivedMessage[]> {
    const taken = new Map<string, ReceivedMessage>(); // group → its message in this receive
    while (taken.size < wanted && !this.closed) {
      let batch: Message[];
      // One attempt id for this call and its retries: a retry after a lost answer gets the same messages.
      const receive = {
        queueUrl: this.options.queueUrl,
        maxMessages: 1,
        waitTimeSeconds: taken.size === 0 ? waitSec : 0,
        visibilityTimeoutSec: this.options.visibilityTimeoutSec,
        attemptId: randomUUID(),
      };
      try {
        batch = await this.call((abortSignal) => receiveMessages(this.client, receive, abortSignal));
      } catch (err) {
        if (taken.size === 0) throw err;
        // What we hold is in flight: hand it out rather than strand it for a visibility timeout.
        this.options.onEvent?.({ type: 'receive-failed-after-messages', kept: taken.size, error: err });
        break;
      }
      if (batch.length === 0) break;
      await this.take(batch, taken);
    }
    return [...taken.values()];
  }

  /** Adds a batch to this receive's messages, one per group (see the header). */
  private async take(batch: readonly Message[], taken: Map<string, ReceivedMessage>): Promise<void> {
    const visibleAtMs = Date.now() + this.options.visibilityTimeoutSec * 1000;
    const extras: ReceivedMessage[] = [];
    for (const m of batch.map(toReceivedMessage).sort(bySequence)) {
      this.tracker.delivered(m.receiptHandle, m.messageId, m.sentAt.getTime(), visibleAtMs);
      const held = taken.get(m.groupId);
      // The same message again means the earlier delivery's visibility ran out: keep the newest receipt.
      if (held === undefined || held.messageId === m.messageId) taken.set(m.groupId, m);
      else extras.push(m);
    }
    await Promise.all(extras.map((m) => this.releaseExtra(m)));
  }

  private async releaseExtra(m: ReceivedMessage): Promise<void> {
    this.tracker.finish(m.receiptHandle);
    this.options.onEvent?.({ type: 'extra-of-group-released', groupId: m.groupId, messageId: m.messageId });
    try {
      await this.changeVisibilityCall(m.receiptHandle, 0);
    } catch (error) {
      // It comes back when its visibility runs out, still behind its group's head.
      this.options.onEvent?.({ type: 'release-failed', messageId: m.messageId, error });
    }
  }

  async delete(receiptHandle: string): Promise<boolean> {
    if (receiptHandle === '' || this.tracker.isFinished(receiptHandle)) return false;
    try {
      const command = new DeleteMessageCommand({
        QueueUrl: this.options.queueUrl,
        ReceiptHandle: receiptHandle,
      });
      await this.call((abortSignal) => this.client.send(command, { abortSignal }));
    } catch (err) {
      if (isStaleReceiptError(err)) return false;
      throw err;
    }
    this.tracker.finish(receiptHandle);
    return true;
  }

  async changeVisibility(receiptHandle: string, timeoutSec: number): Promise<boolean> {
    parseArgument(visibilitySec, timeoutSec, 'changeVisibility timeoutSec');
    if (receiptHandle === '' || this.tracker.isFinished(receiptHandle)) return false;
    try {
      await this.changeVisibilityCall(receiptHandle, timeoutSec);
    } catch (err) {
      if (isStaleReceiptError(err)) return false;
      throw err;
    }
    this.tracker.visibilityChanged(receiptHandle, Date.now() + timeoutSec * 1000);
    return true;
  }

  private async changeVisibilityCall(receiptHandle: string, timeoutSec: number): Promise<void> {
    const command = new ChangeMessageVisibilityCommand({
      QueueUrl: this.options.queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: timeoutSec,
    });
    await this.call((abortSignal) => this.client.send(command, { abortSignal }));
  }

  /**
   * SQS's approximate counters (they settle within about a minute). SQS's API
   * has no age of the oldest message: oldestAgeSec is 0 for an empty queue,
   * else the age of the oldest message this client holds in flight (a lower
   * bound, 0 when it holds none). Alerting on age uses CloudWatch's
   * ApproximateAgeOfOldestMessage (QueueMessageNearExpiry, docs/queue.md).
   */
  async stats(): Promise<QueueStats> {
    const names: QueueAttributeName[] = [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ];
    const [queue, dlq] = await Promise.all([
      this.attributes(this.options.queueUrl, names),
      this.attributes(this.options.dlqUrl, names),
    ]);
    const count = (attrs: Record<string, string>, name: QueueAttributeName) => Number(attrs[name] ?? 0);
    const visible =
      count(queue, 'ApproximateNumberOfMessages') + count(queue, 'ApproximateNumberOfMessagesDelayed');
    const inFlight = count(queue, 'ApproximateNumberOfMessagesNotVisible');
    const deadLettered =
      count(dlq, 'ApproximateNumberOfMessages') +
      count(dlq, 'ApproximateNumberOfMessagesNotVisible') +
      count(dlq, 'ApproximateNumberOfMessagesDelayed');
    const now = Date.now();
    const oldest = visible + inFlight === 0 ? undefined : this.tracker.oldestInFlightSentAtMs(now);
    const oldestAgeSec = oldest === undefined ? 0 : Math.max(0, Math.floor((now - oldest) / 1000));
    return { visible, inFlight, deadLettered, oldestAgeSec };
  }

  /** Receives dead letters briefly and makes them visible again: see sqs/deadLetters.ts for the caveats. */
  async listDeadLetters(limit: number): Promise<DeadLetter[]> {
    parseArgument(z.number().int().min(1).max(10_000), limit, 'listDeadLetters limit');
    const scanned = await scanDeadLetters(this.dlqRef(), limit);
    try {
      return scanned.map(toDeadLetter);
    } finally {
      await releaseScanned(this.dlqRef(), scanned);
    }
  }

  /**
   * All: SQS's move task, awaited up to redriveWaitMs; answers SQS's count of
   * moved messages. Named: scan, send back, delete (sqs/deadLetters.ts). Either
   * way SQS makes new messages: a redriven message has a new MessageId.
   */
  async redrive(messageIds?: readonly string[]): Promise<number> {
    if (messageIds !== undefined) {
      if (messageIds.length === 0) return 0;
      return redriveNamed(this.dlqRef(), new Set(messageIds), 10_000);
    }
    const result = await redriveAll(this.dlqRef(), {
      dlqArn: await this.deadLetterQueueArn(),
      waitMs: this.options.redriveWaitMs,
      pollMs: this.options.redrivePollMs,
    });
    if (!result.finished) this.options.onEvent?.({ type: 'redrive-still-running', moved: result.moved });
    return result.moved;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Receives under way end within their long poll (≤ 20 s) and hand out what they got.
    await Promise.allSettled([...this.receiving]);
    if (this.ownsClient) this.client.destroy();
  }

  private dlqRef(): DeadLetterQueueRef {
    return {
      client: this.client,
      queueUrl: this.options.queueUrl,
      dlqUrl: this.options.dlqUrl,
      scanVisibilitySec: this.options.deadLetterScanVisibilitySec,
    };
  }

  private async attributes(queueUrl: string, names: QueueAttributeName[]): Promise<Record<string, string>> {
    const command = new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names });
    const out = await this.call((abortSignal) => this.client.send(command, { abortSignal }));
    return out.Attributes ?? {};
  }

  private async deadLetterQueueArn(): Promise<string> {
    if (this.dlqArn === undefined) {
      const arn = (await this.attributes(this.options.dlqUrl, ['QueueArn'])).QueueArn;
      if (!arn) throw new Error(`SQS GetQueueAttributes ${this.options.dlqUrl} answered without a QueueArn`);
      this.dlqArn = arn;
    }
    return this.dlqArn;
  }
}
