// Every error a user or client can see has a stable code, an HTTP status and
// a message that says what is wrong and what to do. They are all made here,
// through @fastify/error, and each is listed in docs/errors.md.

import createError from '@fastify/error';

export const ERROR_CODES = {
  FB_UNAUTHENTICATED: 401,
  FB_FORBIDDEN: 403,
  FB_IDEMPOTENCY_KEY_MISSING: 400,
  FB_IDEMPOTENCY_KEY_INVALID: 400,
  FB_IDEMPOTENCY_CONFLICT: 409,
  FB_MALFORMED_JSON: 400,
  FB_BAD_REQUEST: 400,
  FB_BODY_TOO_LARGE: 413,
  FB_UNSUPPORTED_MEDIA_TYPE: 415,
  FB_INVALID_FIELD: 400,
  FB_UNKNOWN_CREATOR: 422,
  FB_UNKNOWN_CURRENCY: 422,
  FB_INVALID_AMOUNT: 422,
  FB_UNKNOWN_PLAN: 422,
  FB_NOT_FOUND: 404,
  FB_QUEUE_UNAVAILABLE: 503,
  FB_OVERLOADED: 503,
  FB_INTERNAL: 500,
  FB_MESSAGE_INVALID: 422,
  FB_CONFIG_INVALID: 400,
  FB_USAGE: 400,
  FB_DEPENDENCY_MISSING: 500,
  FB_ENV_MISMATCH: 500,
  FB_ENV_UNSTAMPED: 500,
  FB_ENV_CHECK_FAILED: 503,
  FB_CATALOG_UNAVAILABLE: 503,
  FB_CONFIG_NOT_PROMOTABLE: 409,
  FB_CONFIG_RELOAD_FAILED: 503,
  FB_CONFIG_RESTART_REQUIRED: 409,
  FB_STACK_RUNNING: 409,
  FB_STACK_NOT_FOUND: 404,
  FB_STACK_STATE_INVALID: 500,
  FB_STACK_START_FAILED: 500,
  FB_SNAPSHOT_KEY_INVALID: 400,
  FB_SNAPSHOT_WRONG_KEY: 422,
  FB_SNAPSHOT_INVALID: 422,
  FB_SNAPSHOT_CORRUPT: 422,
  FB_SNAPSHOT_VERIFY_FAILED: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FirebreakErrorOptions {
  /** The request field, header or flag at fault, e.g. "body.amountMinor" or "header.idempotency-key". */
  readonly field?: string;
  readonly cause?: unknown;
  /** Seconds a client should wait before retrying (503s). */
  readonly retryAfterSec?: number;
}

export class FirebreakError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message: string, options: FirebreakErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FirebreakError';
    this.code = code;
    this.statusCode = ERROR_CODES[code];
    this.field = options.field;
    this.retryAfterSec = options.retryAfterSec;
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}

/** The one factory. */
export function fbError(code: ErrorCode, message: string, options?: FirebreakErrorOptions): FirebreakError {
  return new FirebreakError(code, message, options);
}

export function isFirebreakError(err: unknown): err is FirebreakError {
  return err instanceof FirebreakError;
}

/**
 * Fastify-style error classes for the codes Fastify itself raises before our
 * handlers run, so they carry our codes too. Used by the API's error handler.
 */
export const FastifyMappedErrors = {
  malformedJson: createError('FB_MALFORMED_JSON', 'Request body is not valid JSON: %s', 400),
  bodyTooLarge: createError('FB_BODY_TOO_LARGE', 'Request body is larger than %s bytes', 413),
  unsupportedMediaType: createError(
    'FB_UNSUPPORTED_MEDIA_TYPE',
    'Content-Type must be application/json',
    415,
  ),
};
