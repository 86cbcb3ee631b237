// The API's pino logger. Request logs carry the request headers (the
// Idempotency-Key and User-Agent are what a 3 am investigation needs) with
// every secret redacted: creator API keys travel in Authorization, and the
// admin key must never reach a log line under any name.

import pino, { type Logger } from 'pino';
import type { FastifyBaseLogger } from 'fastify';

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
