// The admin listener: health, metrics and dead-letter operations, on its own
// port and its own Fastify instance. Liveness is answered here, apart from the
// checkout app's work, so a saturated API is reported as slow (readyz, metrics)
// and not restarted for being busy (the incident where health checks shared
// the saturated pool).

import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { CatalogIndex } from '../catalog/index.ts';
import type { Queue } from '../queue/Queue.ts';
import { fbError } from '../errors/index.ts';
import { apiLogger } from './apiLogger.ts';
import { handleError, installErrorReplies, refuseUnless, sendError } from './errorReplies.ts';
import { adminCaller } from './requestHeaders.ts';
import { storeCall } from './storeCall.ts';
import { DEFAULT_BODY_LIMIT_BYTES, DEFAULT_RETRY_AFTER_SEC } from './buildApp.ts';

/** Readiness must answer well inside a probe's own timeout (Kubernetes defaults to 1 s). */
export const DEFAULT_READINESS_TIMEOUT_MS = 800;
export const DLQ_LIST_MAX = 1_000;
const DLQ_LIST_DEFAULT = 100;
const ADMIN_STORE_TIMEOUT_MS = 10_000;

export interface BuildAdminAppOptions {
  readonly queue: Queue;
  /** sha256 hex digest of the admin key; the key itself is never configured anywhere. */
  readonly adminKeySha256: string;
  /** Lets a creator API key be told 403 (authenticated, not allowed) rather than 401. */
  readonly catalog?: CatalogIndex;
  /** The registry /metrics exposes (pass the checkout app's). */
  readonly registry: Registry;
  readonly logger?: Logger;
  readonly readinessTimeoutMs?: number;
  /** How readiness probes the queue DB. Default: queue.stats(). */
  readonly readinessCheck?: () => Promise<unknown>;
  /** The config in force and the last reload's outcome, for GET /v1/admin/config (src/config/reloadable.ts). */
  readonly configStatus?: () => unknown;
}

const limitQuery = z.object({ limit: z.coerce.number().int().min(1).max(DLQ_LIST_MAX).optional() });
const redriveBody = z.object({ messageIds: z.array(z.guid()).min(1).max(DLQ_LIST_MAX).optional() }).strict();

export function buildAdminApp(options: BuildAdminAppOptions): FastifyInstance {
  const logger = apiLogger(options.logger, { service: 'api-admin' });
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    frameworkErrors: (err, request, reply) => handleError(request, reply, err, DEFAULT_BODY_LIMIT_BYTES),
  });
  app.removeContentTypeParser('text/plain');
  installErrorReplies(app, DEFAULT_BODY_LIMIT_BYTES);
  const { queue, registry } = options;
  const readinessTimeoutMs = options.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  const readinessCheck = options.readinessCheck ?? (() => queue.stats());
  // Probes and scrapes arrive every few seconds; logging each would drown the rest.
  const quiet = { logLevel: 'warn' } as const;

  app.get('/livez', quiet, (_request, reply) => reply.send({ status: 'live' }));

  app.get('/readyz', quiet, async (_request, reply) => {
    try {
      await storeCall('readiness', readinessCheck, { timeoutMs: readinessTimeoutMs, retryAfterSec: 1 });
      return { status: 'ready' };
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const reason = cause instanceof Error ? cause.message : String(cause);
      return sendError(
        reply,
        fbError('FB_QUEUE_UNAVAILABLE', `Not ready: the queue database did not answer (${reason}).`, {
          retryAfterSec: 1,
        }),
      );
    }
  });

  app.get('/metrics', quiet, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });

  const requireAdmin = refuseUnless((request: FastifyRequest) => {
    const caller = adminCaller(request.headers.authorization, options.adminKeySha256, options.catalog);
    if (caller === 'creator') {
      throw fbError('FB_FORBIDDEN', 'Admin routes need the admin key; a creator API key is not enough.', {
        field: 'header.authorization',
      });
    }
    if (caller === 'none') {
      throw fbError('FB_UNAUTHENTICATED', 'Admin routes need "Authorization: Bearer <admin key>".', {
        field: 'header.authorization',
      });
    }
  });
  const store = { timeoutMs: ADMIN_STORE_TIMEOUT_MS, retryAfterSec: DEFAULT_RETRY_AFTER_SEC };

  app.get('/v1/admin/dlq', { onRequest: [requireAdmin] }, async (request) => {
    const query = limitQuery.safeParse(request.query);
    if (!query.success) {
      throw fbError('FB_INVALID_FIELD', `query.limit must be an integer from 1 to ${DLQ_LIST_MAX}.`, {
        field: 'query.limit',
      });
    }
    const letters = await storeCall(
      'queue.listDeadLetters',
      () => queue.listDeadLetters(query.data.limit ?? DLQ_LIST_DEFAULT),
      store,
    );
    return {
      deadLetters: letters.map((d) => ({
        messageId: d.messageId,
        groupId: d.groupId,
        dedupId: d.dedupId,
        sequence: d.sequence.toString(),
        receiveCount: d.receiveCount,
        sentAt: d.sentAt.toISOString(),
        deadLetteredAt: d.deadLetteredAt.toISOString(),
        body: d.body,
      })),
    };
  });

  // Which config runs (its content hash, comparable with `firebreak config diff`)
  // and whether the file on disk is what runs (lastReloadError says why not).
  const configStatus = options.configStatus;
  if (configStatus) app.get('/v1/admin/config', { onRequest: [requireAdmin] }, () => configStatus());

  app.post('/v1/admin/dlq/redrive', { onRequest: [requireAdmin] }, async (request) => {
    const parsed = redriveBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      throw fbError(
        'FB_INVALID_FIELD',
        `The body must be {} to redrive every dead letter, or {"messageIds": [...]} with 1 to ${DLQ_LIST_MAX} message ids (UUIDs from GET /v1/admin/dlq).`,
        { field: 'body.messageIds' },
      );
    }
    const ids = parsed.data.messageIds;
    const redriven = await storeCall('queue.redrive', () => queue.redrive(ids), store);
    request.log.warn({ redriven, messageIds: ids ?? 'all' }, 'dead letters redriven');
    return { redriven };
  });

  return app;
}
