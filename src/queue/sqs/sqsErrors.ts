// Which SQS errors mean "this receipt no longer controls the message" (the
// port's `false`), decided by the error's name, never by its message text.
//
// The SDK speaks SQS's JSON protocol in query-compatible mode: a modelled error
// arrives as its class (name "MessageNotInflight"), an unmodelled one as a
// plain service exception named by its query code ("InvalidParameterValue").

const STALE_RECEIPT_ERRORS = new Set([
  // Not a receipt of this queue, malformed, or the message is gone.
  'ReceiptHandleIsInvalid',
  // ChangeMessageVisibility on a message whose visibility already ran out.
  'MessageNotInflight',
  // A FIFO queue's answer to DeleteMessage / ChangeMessageVisibility with a
  // receipt whose visibility timeout has run out ("The receipt handle has
  // expired"). Both calls carry only the queue URL (checked by open()), the
  // receipt and a timeout the adapter validated first, so the receipt is the
  // parameter at fault. The one other case is an extension that would keep a
  // message invisible for more than 12 hours in total; the worker extends by
  // one visibility timeout at a time and never holds a charge for 12 hours.
  'InvalidParameterValue',
]);

/** The error's SQS name without the query protocol's "AWS.SimpleQueueService." prefix. */
export function sqsErrorName(err: unknown): string {
  if (!(err instanceof Error)) return '';
  return err.name.replace(/^AWS\.SimpleQueueService\./, '');
}

/** True for errors of DeleteMessage / ChangeMessageVisibility that mean a stale receipt. */
export function isStaleReceiptError(err: unknown): boolean {
  return STALE_RECEIPT_ERRORS.has(sqsErrorName(err));
}

export function isQueueMissingError(err: unknown): boolean {
  const name = sqsErrorName(err);
  return name === 'QueueDoesNotExist' || name === 'NonExistentQueue';
}

// The AWS SDK's own classification (@smithy service-error-classification,
// which its standard retry mode uses), as a table: SqsQueue turns the SDK's
// retries off and retries through the outbound policy instead, so it needs
// the same answer to "may the same request succeed later?".
const THROTTLING_ERRORS = new Set([
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'SlowDown',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
]);
const TRANSIENT_ERRORS = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
]);
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** True when the same SQS request may succeed if sent again: throttling, 5xx, timeouts, network errors. */
export function isTransientSqsError(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  // The caller cancelled: not the service's failure, and retrying would ignore the cancel.
  if (err.name === 'AbortError') return false;
  const e = err as Error & {
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    code?: unknown;
  };
  const name = sqsErrorName(err);
  if (e.$retryable !== undefined || THROTTLING_ERRORS.has(name) || TRANSIENT_ERRORS.has(name)) return true;
  if (TRANSIENT_STATUS.has(e.$metadata?.httpStatusCode ?? 0)) return true;
  if (typeof e.code === 'string' && TRANSIENT_SOCKET_CODES.has(e.code)) return true;
  return isTransientSqsError(err.cause, depth + 1);
}
