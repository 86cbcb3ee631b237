// The building blocks of outbound-call policies (cockatiel): exponential
// backoff with full jitter, bounded attempts, timeouts, and circuit breakers
// that open on consecutive failures. outboundPolicy.ts composes them (with the
// retry budget) into the one policy every client uses; these are exported for
// the few places that need a single piece. The incidents behind Firebreak:
// retries without backoff turned a 12 s blip into an outage; a service that
// did not retry at all failed its first 480 requests after a failover.

import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  retry,
  timeout,
  type CircuitBreakerPolicy,
  type RetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';

export interface RetryOptions {
  /** Attempts in all, the first included (cockatiel's own maxAttempts counts only the retries). */
  readonly maxAttempts: number;
  /** Ceiling of the first retry's delay; each retry doubles it, up to maxDelayMs. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly threshold: number;
  /** How long the breaker stays open before letting one probe through. */
  readonly halfOpenAfterMs: number;
}

/**
 * cooperative: the signal is aborted at the deadline and the call is trusted
 * to stop (fetch does, and its own error says what happened). aggressive: the
 * caller gets a TaskCancelledError at the deadline even if the call ignores
 * the signal (which is aborted all the same).
 */
export type TimeoutMode = 'cooperative' | 'aggressive';

/** Exponential backoff with full jitter: retry n waits uniformly in [0, min(max, initial × 2^(n-1))). */
export function fullJitterBackoff(options: RetryOptions): ExponentialBackoff<unknown> {
  return new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: options.initialDelayMs,
    maxDelay: options.maxDelayMs,
  });
}

export function retryPolicy(isRetryable: (err: unknown) => boolean, options: RetryOptions): RetryPolicy {
  return retry(handleWhen(isRetryable), {
    maxAttempts: Math.max(0, options.maxAttempts - 1),
    backoff: fullJitterBackoff(options),
  });
}

export function breakerPolicy(
  isFailure: (err: unknown) => boolean,
  options: BreakerOptions,
): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.threshold),
  });
}

/** A per-attempt deadline whose AbortSignal reaches the call (pass it on to fetch). */
export function timeoutPolicy(ms: number, mode: TimeoutMode = 'aggressive'): TimeoutPolicy {
  return timeout(ms, mode === 'cooperative' ? TimeoutStrategy.Cooperative : TimeoutStrategy.Aggressive);
}

/** Full-jitter exponential delay for attempt n (1-based), for delays cockatiel does not own (redelivery). */
export function jitteredDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
