// A stand-in for the SQS endpoint, for the tests that cannot reach a real SQS:
// an SQSClient whose HTTP handler answers from a script. Requests go through
// the SDK's real serialization (AWS JSON 1.0, query-compatible errors, body
// MD5 checks, retries), so the tests see exactly what would go on the wire.

import { createHash } from 'node:crypto';
import { SQSClient, type Message } from '@aws-sdk/client-sqs';

export const REGION = 'us-east-1';
export const ENDPOINT = `https://sqs.${REGION}.amazonaws.com`;
export const QUEUE_URL = `${ENDPOINT}/123456789012/checkout-payments.fifo`;
export const DLQ_URL = `${ENDPOINT}/123456789012/checkout-payments-dlq.fifo`;
export const QUEUE_ARN = `arn:aws:sqs:${REGION}:123456789012:checkout-payments.fifo`;
export const DLQ_ARN = `arn:aws:sqs:${REGION}:123456789012:checkout-payments-dlq.fifo`;

/** One request as SQS would receive it: the operation (x-amz-target) and its JSON input. */
export interface SqsCall {
  readonly operation: string;
  readonly input: Record<string, unknown>;
}

export interface SqsReply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export type Responder = (call: SqsCall, index: number) => SqsReply | Promise<SqsReply>;

/**
 * An SQS error as SQS's JSON protocol sends it: the modelled type in the body
 * and the query-protocol code in x-amzn-query-error (which the SDK prefers).
 */
export function sqsError(queryCode: string, status = 400, message = queryCode): SqsReply {
  const shape = queryCode.replace(/^AWS\.SimpleQueueService\./, '');
  return {
    status,
    headers: { 'x-amzn-query-error': `${queryCode};${status >= 500 ? 'Receiver' : 'Sender'}` },
    body: { __type: `com.amazonaws.sqs#${shape}`, message },
  };
}

export const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

export interface FakeMessage {
  readonly id: string;
  readonly group: string;
  readonly seq: string;
  readonly body?: string;
  readonly receipt?: string;
  readonly receiveCount?: number;
  readonly dedupId?: string;
  /** The checkout id attribute; omitted when null. */
  readonly dedupAttribute?: string | null;
  readonly sentAt?: number;
}

/** A message as ReceiveMessage returns it (with a correct MD5OfBody). */
export function sqsMessage(m: FakeMessage): Message {
  const body = m.body ?? `body of ${m.id}`;
  const dedupAttribute = m.dedupAttribute === undefined ? (m.dedupId ?? `dedup-${m.id}`) : m.dedupAttribute;
  return {
    MessageId: m.id,
    ReceiptHandle: m.receipt ?? `receipt-${m.id}`,
    Body: body,
    MD5OfBody: md5(body),
    Attributes: {
      SentTimestamp: String(m.sentAt ?? 1_700_000_000_000),
      ApproximateReceiveCount: String(m.receiveCount ?? 1),
      SequenceNumber: m.seq,
      MessageGroupId: m.group,
      MessageDeduplicationId: m.dedupId ?? `dedup-${m.id}`,
    },
    ...(dedupAttribute === null
      ? {}
      : { MessageAttributes: { 'firebreak.dedupId': { DataType: 'String', StringValue: dedupAttribute } } }),
  };
}

export const ok = (body: unknown = {}): SqsReply => ({ body });
export const messages = (...list: FakeMessage[]): SqsReply => ok({ Messages: list.map(sqsMessage) });

export interface FakeSqs {
  readonly client: SQSClient;
  readonly calls: SqsCall[];
  /** The inputs of every call of one operation, in order. */
  readonly inputsOf: (operation: string) => Record<string, unknown>[];
}

/** An SQSClient answering from `respond`. maxAttempts 1 unless asked: the tests script each answer. */
export function fakeSqs(respond: Responder, { maxAttempts = 1 }: { maxAttempts?: number } = {}): FakeSqs {
  const calls: SqsCall[] = [];
  const client = new SQSClient({
    region: REGION,
    endpoint: ENDPOINT,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts,
    requestHandler: {
      async handle(request: { headers: Record<string, string>; body?: unknown }) {
        const target = request.headers['x-amz-target'] ?? '';
        const text = request.body === undefined ? '{}' : new TextDecoder().decode(request.body as Uint8Array);
        const call = {
          operation: target.replace(/^AmazonSQS\./, ''),
          input: JSON.parse(text) as Record<string, unknown>,
        };
        calls.push(call);
        const reply = await respond(call, calls.length - 1);
        return {
          response: {
            statusCode: reply.status ?? 200,
            headers: { 'content-type': 'application/x-amz-json-1.0', ...reply.headers },
            body: Buffer.from(JSON.stringify(reply.body ?? {})),
          },
        };
      },
    },
  });
  return {
    client,
    calls,
    inputsOf: (operation) => calls.filter((c) => c.operation === operation).map((c) => c.input),
  };
}

/** Routes each operation to its own responder; an operation without one fails the test loudly. */
export function byOperation(routes: Record<string, Responder>): Responder {
  return (call, index) => {
    const route = routes[call.operation];
    if (!route) throw new Error(`unexpected SQS call ${call.operation} ${JSON.stringify(call.input)}`);
    return route(call, index);
  };
}

/** Answers the given replies in turn, then `rest` forever. */
export function inTurn(replies: SqsReply[], rest: SqsReply = ok()): Responder {
  let i = 0;
  return () => replies[i++] ?? rest;
}
