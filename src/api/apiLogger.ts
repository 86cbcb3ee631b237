// The API's pino logger. Request logs carry what a 3 am investigation needs
// (the Idempotency-Key, the User-Agent, the checkout id) with every secret
// redacted: creator API keys travel in Authorization, and the admin key must
// never reach a log line under any name.
//
// How much is logged per request follows the log level, because at 1,000
// requests/s the logging itself is a cost worth choosing (docs/performance.md):
// - info (the default): one "request summary" line per request with the
//   fields above, picked one by one, so no header is ever copied or redacted;
// - debug or trace: also Fastify's own "incoming request" and "request
//   completed" lines, each with every request header (redacted);
// - warn and above: no per-request line.

import pino, { type Logger } from 'pino';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-admin-key"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  'adminKey',
  '*.apiKey',
  '*.adminKey',
  'config.ADMIN_KEY',
];

interface LoggableRequest {
  readonly method?: string;
  readonly url?: string;
  readonly ip?: string;
  readonly headers?: Record<string, unknown>;
}

function serializeRequest(req: LoggableRequest): Record<string, unknown> {
  return { method: req.method, url: req.url, remoteAddress: req.ip, headers: { ...req.headers } };
}

/**
 * A child of `parent` (or of a silent logger) that redacts secrets and
 * serializes requests with their headers. Fastify's per-request loggers are
 * children of it, so they inherit both.
 */
export function apiLogger(parent: Logger | undefined, bindings: Record<string, unknown>): FastifyBaseLogger {
  const base = parent ?? pino({ level: 'silent' });
  return base.child(bindings, {
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest },
  });
}

export type RequestLogMode = 'full' | 'summary' | 'off';

/** How much the API logs per request at `logger`'s level (see the top of this file). */
export function requestLogMode(logger: FastifyBaseLogger): RequestLogMode {
  // 'silent' and unknown levels are not in the table: nothing is logged.
  const level = pino.levels.values[logger.level] ?? Number.POSITIVE_INFINITY;
  if (level <= pino.levels.values.debug!) return 'full';
  return level <= pino.levels.values.info! ? 'summary' : 'off';
}

/** Fields a route adds to its request's summary line (the checkout id, say). */
const routeFields = new WeakMap<FastifyRequest, Readonly<Record<string, unknown>>>();

export function addRequestLogFields(
  request: FastifyRequest,
  fields: Readonly<Record<string, unknown>>,
): void {
  routeFields.set(request, fields);
}

/** One info line per completed request (modes full and summary). */
export function installRequestSummaryLine(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    const idempotencyKey = request.headers['idempotency-key'];
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        userAgent: request.headers['user-agent'],
        ...routeFields.get(request),
      },
      'request summary',
    );
    done();
  });
}
