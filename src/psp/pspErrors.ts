// The sandbox provider's own error vocabulary. These codes are the provider's
// wire protocol (as Stripe's `card_declined` or `idempotency_error` would be),
// not Firebreak's client-visible FB_* codes: the only reader is httpProvider,
// which turns them into a ProviderError with a retry decision. Every error body
// has the same shape as Firebreak's: { error: { code, message, field? } }.

export const PSP_ERROR_CODES = {
  /** No Idempotency-Key header on a capture. */
  PSP_IDEMPOTENCY_KEY_MISSING: 400,
  /** The Idempotency-Key is empty, too long or not printable ASCII. */
  PSP_IDEMPOTENCY_KEY_INVALID: 400,
  /** The key was used before with a different request body. Never retry. */
  PSP_IDEMPOTENCY_CONFLICT: 409,
  /** The body is not JSON. */
  PSP_MALFORMED_JSON: 400,
  /** A body field is missing, of the wrong type or out of range (see `field`). */
  PSP_INVALID_REQUEST: 400,
  PSP_BODY_TOO_LARGE: 413,
  PSP_UNSUPPORTED_MEDIA_TYPE: 415,
  /** Control route without the right x-control-key. */
  PSP_UNAUTHORIZED: 401,
  /** Control routes are disabled because the sandbox has no control key. */
  PSP_CONTROL_DISABLED: 403,
  PSP_NOT_FOUND: 404,
  /** Injected transient failure (errorRate / errorAfterCaptureRate). Retry with the same key. */
  PSP_TRANSIENT: 500,
  /** Unexpected failure inside the sandbox (e.g. its capture record cannot be written). */
  PSP_INTERNAL: 500,
  /** Injected outage, or the sandbox is shutting down. Retry later with the same key. */
  PSP_UNAVAILABLE: 503,
} as const;

export type PspErrorCode = keyof typeof PSP_ERROR_CODES;

export function isPspErrorCode(value: unknown): value is PspErrorCode {
  return typeof value === 'string' && Object.hasOwn(PSP_ERROR_CODES, value);
}

export interface PspErrorBody {
  readonly error: { readonly code: PspErrorCode; readonly message: string; readonly field?: string };
}

/** An error the sandbox answers with; its status comes from the code. */
export class PspHttpError extends Error {
  readonly code: PspErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;

  constructor(code: PspErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PspHttpError';
    this.code = code;
    this.statusCode = PSP_ERROR_CODES[code];
    this.field = options.field;
  }

  toJSON(): PspErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}

export function pspError(code: PspErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
  return new PspHttpError(code, message, options);
}
