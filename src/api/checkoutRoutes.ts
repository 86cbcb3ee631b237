// POST /v1/checkouts and GET /v1/checkouts/:id.
//
// Accepting a checkout is: validate everything (nothing is written for a
// rejected request), record the request in the intake (which decides new,
// replay or conflict for the derived checkout id), send it to the payment
// queue (deduplicated by checkout id, grouped by creator so per-creator order
// holds), mark the intake row queued, answer 202. With the Postgres intake and
// queue on one pool (the API's own set-up) all of that is one statement and one
// commit (intake.recordAndSend). Otherwise the steps run one by one, and a
// crash or a 503 in between is repaired by the client's retry: a replay still
// in 'received' is sent again and the queue's dedup makes that a no-op if the
// first send landed.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CatalogIndex } from '../catalog/index.ts';
import {
  CheckoutMessageSchema,
  encodeCheckoutMessage,
  type CheckoutMessage,
} from '../checkout/checkoutMessage.ts';
import type { CheckoutIntake, IntakeRecord, RecordResult } from '../intake/CheckoutIntake.ts';
import type { Queue } from '../queue/Queue.ts';
import { fbError } from '../errors/index.ts';
import type { ApiMetrics } from './apiMetrics.ts';
import { checkoutIdFor } from './checkoutId.ts';
import { validateCheckoutRequest, type CheckoutRequest } from './checkoutRequest.ts';
import { addRequestLogFields } from './apiLogger.ts';
import { authenticateCreator, idempotencyKeyOf } from './requestHeaders.ts';
import { refuseUnless } from './errorReplies.ts';
import { storeCall, type StoreCallOptions } from './storeCall.ts';

export interface CheckoutRoutesOptions {
  readonly catalog: CatalogIndex;
  readonly queue: Queue;
  readonly intake: CheckoutIntake;
  readonly metrics: ApiMetrics;
  readonly bodyLimitBytes: number;
  readonly store: StoreCallOptions;
}

export interface CheckoutAccepted {
  readonly checkoutId: string;
  readonly status: IntakeRecord['status'];
  readonly statusUrl: string;
}

const checkoutIdParam = z.uuid();

function statusUrlOf(checkoutId: string): string {
  return `/v1/checkouts/${checkoutId}`;
}

function messageFor(checkoutId: string, request: CheckoutRequest, acceptedAt: Date): CheckoutMessage {
  return {
    v: 1,
    checkoutId,
    creatorId: request.creatorId,
    customerRef: request.customerRef,
    planId: request.planId,
    amountMinor: request.amountMinor,
    currency: request.currency,
    acceptedAt: acceptedAt.toISOString(),
  };
}

export function checkoutRoutes(app: FastifyInstance, options: CheckoutRoutesOptions): void {
  const { catalog, queue, intake, metrics } = options;
  const store = <T>(what: string, call: () => Promise<T>): Promise<T> => storeCall(what, call, options.store);

  // Cheap header checks run before the body is read, so an unauthenticated
  // client cannot make us buffer 64 KiB and learns nothing from body errors.
  const authenticate = refuseUnless((request: FastifyRequest) => {
    authenticateCreator(request.headers.authorization, catalog);
  });

  app.post(
    '/v1/checkouts',
    {
      bodyLimit: options.bodyLimitBytes,
      onRequest: [
        authenticate,
        refuseUnless((request) => {
          idempotencyKeyOf(request.headers['idempotency-key']);
        }),
      ],
    },
    async (request, reply): Promise<CheckoutAccepted> => {
      const creator = authenticateCreator(request.headers.authorization, catalog);
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key']);
      if (request.body === undefined) {
        // Fastify only skips parsing when there is no Content-Type and no body.
        throw fbError(
          'FB_UNSUPPORTED_MEDIA_TYPE',
          'Content-Type must be application/json; send the body as JSON.',
          {
            field: 'header.content-type',
          },
        );
      }
      const validated = validateCheckoutRequest(request.body, creator, catalog);
      if (!validated.ok) throw validated.error;
      const checkout = validated.request;
      const checkoutId = checkoutIdFor(checkout.creatorId, idempotencyKey);
      const acceptedAt = new Date();
      const message = messageFor(checkoutId, checkout, acceptedAt);
      // The message must be one the worker accepts before anything is written;
      // a mismatch here is our bug, and must not leave an intake row behind.
      CheckoutMessageSchema.parse(message);
      const input = { checkoutId, creatorId: checkout.creatorId, requestHash: checkout.requestHash };

      // One statement records and queues a new checkout when the intake lives
      // beside the queue (PostgresIntake + PostgresQueue on one pool); otherwise
      // record, send and markQueued, one after the other.
      let recorded: RecordResult | null = null;
      const recordAndSend = intake.recordAndSend?.bind(intake);
      if (recordAndSend) {
        const body = encodeCheckoutMessage(message);
        recorded = await store('intake.recordAndSend', () =>
          recordAndSend({ ...input, body, receivedAt: acceptedAt }, queue),
        );
      }
      recorded ??= await store('intake.record', () => intake.record(input));
      if (recorded.kind === 'conflict') {
        throw fbError(
          'FB_IDEMPOTENCY_CONFLICT',
          'This Idempotency-Key was already used for a different checkout request; use a new key for a new checkout, or resend the original request unchanged.',
          { field: 'header.idempotency-key' },
        );
      }
      let status = recorded.record.status;
      if (status === 'received') {
        // Recorded but not (known to be) queued: a first attempt that failed
        // between record and send, or an intake that cannot send itself.
        // acceptedAt is the intake's receivedAt, so every resend carries the same message.
        const body = encodeCheckoutMessage(messageFor(checkoutId, checkout, recorded.record.receivedAt));
        const sent = await store('queue.send', () =>
          queue.send({ groupId: checkout.creatorId, dedupId: checkoutId, body }),
        );
        await store('intake.markQueued', () => intake.markQueued(checkoutId, sent.sequence));
        status = 'queued';
      }
      const replayed = recorded.kind === 'replay';
      metrics.checkoutsAccepted.inc({ replayed: String(replayed) });
      addRequestLogFields(request, { checkoutId, creatorId: checkout.creatorId, replayed, status });
      const statusUrl = statusUrlOf(checkoutId);
      reply.code(202).header('location', statusUrl);
      if (replayed) reply.header('idempotent-replayed', 'true');
      return { checkoutId, status, statusUrl };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/checkouts/:id', { onRequest: [authenticate] }, async (request) => {
    const creator = authenticateCreator(request.headers.authorization, catalog);
    const parsedId = checkoutIdParam.safeParse(request.params.id);
    if (!parsedId.success) {
      throw fbError(
        'FB_INVALID_FIELD',
        'The checkout id in the URL must be the checkoutId (a UUID) you were given.',
        {
          field: 'params.id',
        },
      );
    }
    const checkoutId = parsedId.data.toLowerCase();
    const record = await store('intake.get', () => intake.get(checkoutId));
    // Another creator's checkout is answered exactly like a missing one, so
    // checkout ids cannot be probed across creators.
    if (record === null || record.creatorId !== creator.id) {
      throw fbError('FB_NOT_FOUND', `No checkout ${checkoutId} exists for your API key; check the id.`, {
        field: 'params.id',
      });
    }
    return {
      checkoutId: record.checkoutId,
      status: record.status,
      statusUrl: statusUrlOf(record.checkoutId),
      detail: record.detail,
      receivedAt: record.receivedAt.toISOString(),
      updatedAt: record.updatedAt.toISOString(),
    };
  });
}
