// The one place outbound-call policies are built (cockatiel): exponential
// backoff with full jitter, bounded attempts, and circuit breakers that open
// on consecutive failures. The incidents behind Firebreak: retries without
// backoff turned a 12 s blip into an outage; a service that did not retry at
// all failed its first 480 requests after a failover.

import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from 'cockatiel';

export interface RetryOptions {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly threshold: number;
  /** How long the breaker stays open before letting one probe through. */
  readonly halfOpenAfterMs: number;
}

export function retryPolicy(isRetryable: (err: unknown) => boolean, options: RetryOptions): RetryPolicy {
  return retry(handleWhen(isRetryable), {
    maxAttempts: options.maxAttempts,
    backoff: new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: options.initialDelayMs,
      maxDelay: options.maxDelayMs,
    }),
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

/** Numeric breaker state for a gauge: 0 closed, 1 open, 2 half-open, 3 isolated. */
export function breakerStateValue(state: CircuitState): number {
  return state;
}

export function isOpen(breaker: CircuitBreakerPolicy): boolean {
  return breaker.state === CircuitState.Open || breaker.state === CircuitState.Isolated;
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

export { CircuitState };
