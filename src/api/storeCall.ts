// Every call the API makes to the queue or the intake goes through here. A
// failure of either store is answered 503 FB_QUEUE_UNAVAILABLE with a
// Retry-After, never a 500: the checkout id is derived from the client's
// Idempotency-Key, so the client's retry with the same key is always safe, and
// a client told "retry" retries where a client told "500" gives up (the
// incident where the first 480 requests after a failover were simply lost).
//
// Transient errors (connection refused, admin shutdown, pool timeout...) are
// logged as warnings; anything else still answers 503 but is logged as an
// error, because it may be a bug rather than an outage.

import { fbError } from '../errors/index.ts';
import { isTransientDbError } from '../db/pgErrors.ts';

export interface StoreCallOptions {
  /** Longest the API waits on one store call before answering 503 (the call itself is not cancelled). */
  readonly timeoutMs: number;
  /** Retry-After sent with the 503. */
  readonly retryAfterSec: number;
  readonly onUnavailable?: (what: string, err: unknown, transient: boolean) => void;
}

class StoreTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

export async function storeCall<T>(
  what: string,
  call: () => Promise<T>,
  options: StoreCallOptions,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // A call that throws synchronously is a failure like any other.
  const pending = new Promise<T>((resolve, reject) => {
    call().then(resolve, reject);
  });
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreTimeoutError(`${what} took longer than ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
  });
  try {
    return await Promise.race([pending, deadline]);
  } catch (err) {
    // The abandoned call may still fail later; that failure has already been answered.
    pending.catch(() => {});
    options.onUnavailable?.(what, err, isTransientDbError(err));
    throw fbError(
      'FB_QUEUE_UNAVAILABLE',
      `The checkout queue is unavailable right now; retry after ${options.retryAfterSec} s (with the same Idempotency-Key when creating a checkout).`,
      { retryAfterSec: options.retryAfterSec, cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}
