// The payment provider port: what the worker needs from a PSP. One call,
// capture, made idempotent by the key: the same key always yields the same
// capture (or decline), however often it is sent, so the worker may retry and
// be redelivered freely as long as the key is stable.
//
// Adapters never retry inside: the worker owns the retry policy (the outbound
// policy of src/resilience) and decides from ProviderError.retryable alone.

export interface CaptureRequest {
  /** Stable across retries and redeliveries of one checkout. */
  readonly idempotencyKey: string;
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly customerRef: string;
  /** Minor units of `currency`; positive. */
  readonly amountMinor: bigint;
  /** ISO-4217 code, e.g. "USD". */
  readonly currency: string;
}

export type CaptureResult =
  | { readonly outcome: 'captured'; readonly captureId: string }
  | { readonly outcome: 'declined'; readonly declineCode: string; readonly captureId: string };

export interface PaymentProvider {
  /**
   * Resolves with the key's outcome; throws ProviderError when there is none
   * to report. `signal` aborts the request (the outbound policy's timeout).
   */
  capture(request: CaptureRequest, signal?: AbortSignal): Promise<CaptureResult>;
}

/**
 * A capture that produced no outcome. `retryable` is the whole contract:
 * true when sending the same request with the same key again may succeed and
 * cannot double-charge (5xx, 429, outage, network failure, timeout — the
 * capture may or may not have happened, and the key makes a retry find out);
 * false when it never will (the request is wrong, or the key was used for a
 * different request).
 */
export class ProviderError extends Error {
  /** The provider's code (e.g. PSP_TRANSIENT) or the adapter's (PSP_TIMEOUT, PSP_NETWORK, ...). */
  readonly code: string;
  readonly retryable: boolean;
  /** HTTP status, when the provider answered at all. */
  readonly statusCode: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { retryable: boolean; statusCode?: number | undefined; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.code = code;
    this.retryable = options.retryable;
    this.statusCode = options.statusCode;
  }
}

export function isRetryableProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError && err.retryable;
}
