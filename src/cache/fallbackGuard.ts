// The guard between a cache miss and the database. In the incident behind
// this folder, every production reader that could not decode an entry went
// straight to the database at once, and full scans took its CPU to 100%. Here
// a miss reaches the database only through four gates, checked in this order:
//
//   1. single-flight: concurrent misses for one key share one load;
//   2. circuit breaker (cockatiel): after `breaker.threshold` consecutive
//      failed or timed-out loads it opens, and for `halfOpenAfterMs` every
//      load is refused at once; then one probe decides;
//   3. concurrency (cockatiel bulkhead): at most `maxConcurrent` loads run,
//      `maxQueued` more may wait; a slot is held until the load really ends,
//      even when its caller has already been answered "timeout", so the
//      database never sees more than `maxConcurrent` of our queries;
//   4. rate (token bucket): at most `burst + ratePerSec * T` loads in any T s.
//
// A refused load is a FallbackUnavailableError (reason + retryAfterMs), which
// a service answers 503 with Retry-After; refusals never reach the database
// and never count as breaker failures. Caps are per process: N instances
// allow N times the rate.

import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  IsolatedCircuitError,
  TaskCancelledError,
  bulkhead,
  circuitBreaker,
  handleWhen,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { CacheMetrics } from './cacheMetrics.ts';
import { assertCacheName } from './cacheKey.ts';
import { SingleFlight } from './singleFlight.ts';
import { TokenBucket } from './tokenBucket.ts';

/** What a cache needs from its fallback: run `load` for `key`, or refuse. */
export interface Fallback {
  run<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export type FallbackRefusal = 'rate_limited' | 'concurrency_limited' | 'breaker_open' | 'timeout' | 'failed';

/** The fallback did not produce a value: refused by a cap, or the load failed or timed out. */
export class FallbackUnavailableError extends Error {
  readonly reason: FallbackRefusal;
  /** When a retry has a chance: a hint for Retry-After. */
  readonly retryAfterMs: number;

  constructor(reason: FallbackRefusal, retryAfterMs: number, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'FallbackUnavailableError';
    this.reason = reason;
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}

export interface FallbackGuardOptions {
  /** Label on the guard's metrics, e.g. `catalog`. */
  readonly name: string;
  readonly metrics: CacheMetrics;
  readonly ratePerSec: number;
  /** Default: one second's worth of ratePerSec. */
  readonly burst?: number;
  readonly maxConcurrent: number;
  /** Loads that may wait for a slot (default 2 x maxConcurrent); beyond that, concurrency_limited. */
  readonly maxQueued?: number;
  /** A load (including its wait for a slot) answering later than this is a timeout and a breaker failure. */
  readonly timeoutMs?: number;
  readonly breaker?: { readonly threshold?: number; readonly halfOpenAfterMs?: number };
  /** Monotonic milliseconds for the token bucket (tests); default performance.now. */
  readonly now?: () => number;
  readonly onEvent?: (event: FallbackGuardEvent) => void;
}

export type FallbackGuardEvent =
  | { readonly type: 'breaker_open'; readonly guard: string; readonly error: unknown }
  | { readonly type: 'breaker_half_open' | 'breaker_closed'; readonly guard: string };

/** 2 s: a catalog lookup is a primary-key read of a few ms; 2 s means the database is in trouble. */
export const DEFAULT_FALLBACK_TIMEOUT_MS = 2_000;
export const DEFAULT_BREAKER_THRESHOLD = 5;
/** 5 s: long enough for a restarting database to come back, short enough that clients retry soon. */
export const DEFAULT_HALF_OPEN_AFTER_MS = 5_000;
/** Retry-After hint when a slot or the load itself was the problem. */
const SHORT_RETRY_MS = 1_000;

class LoadTimeoutError extends Error {}

export class FallbackGuard implements Fallback {
  readonly name: string;
  readonly maxConcurrent: number;
  readonly timeoutMs: number;
  readonly halfOpenAfterMs: number;
  private readonly metrics: CacheMetrics;
  private readonly flights = new SingleFlight();
  private readonly bucket: TokenBucket;
  private readonly bulkhead: BulkheadPolicy;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly onEvent: (event: FallbackGuardEvent) => void;
  private openedAt = 0;

  constructor(options: FallbackGuardOptions) {
    assertCacheName('fallback guard name', options.name);
    if (!Number.isSafeInteger(options.maxConcurrent) || options.maxConcurrent < 1)
      throw new RangeError('FallbackGuard: maxConcurrent must be a positive integer');
    this.name = options.name;
    this.metrics = options.metrics;
    this.maxConcurrent = options.maxConcurrent;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_FALLBACK_TIMEOUT_MS;
    this.halfOpenAfterMs = options.breaker?.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_AFTER_MS;
    this.onEvent = options.onEvent ?? (() => {});
    this.bucket = new TokenBucket({
      ratePerSec: options.ratePerSec,
      ...(options.burst === undefined ? {} : { burst: options.burst }),
      ...(options.now ? { now: options.now } : {}),
    });
    this.bulkhead = bulkhead(options.maxConcurrent, options.maxQueued ?? 2 * options.maxConcurrent);
    // Every failure of the load counts; a bulkhead refusal is not the database's fault.
    this.breaker = circuitBreaker(
      handleWhen((err) => !(err instanceof BulkheadRejectedError) && !(err instanceof TaskCancelledError)),
      {
        halfOpenAfter: this.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(options.breaker?.threshold ?? DEFAULT_BREAKER_THRESHOLD),
      },
    );
    const guard = this.name;
    this.breaker.onBreak((reason) => {
      this.openedAt = Date.now();
      this.onEvent({ type: 'breaker_open', guard, error: 'error' in reason ? reason.error : reason });
    });
    this.breaker.onHalfOpen(() => this.onEvent({ type: 'breaker_half_open', guard }));
    this.breaker.onReset(() => this.onEvent({ type: 'breaker_closed', guard }));
    this.breaker.onStateChange((state) => this.metrics.breakerState.set({ guard }, stateValue(state)));
    this.metrics.breakerState.set({ guard }, 0);
    this.metrics.inFlight.set({ guard }, 0);
    this.metrics.limits.set({ guard, limit: 'rate_per_sec' }, this.bucket.ratePerSec);
    this.metrics.limits.set({ guard, limit: 'burst' }, this.bucket.burst);
    this.metrics.limits.set({ guard, limit: 'concurrency' }, this.maxConcurrent);
  }

  get breakerState(): 'closed' | 'open' | 'half-open' {
    const value = stateValue(this.breaker.state);
    return value === 0 ? 'closed' : value === 1 ? 'open' : 'half-open';
  }

  /** Runs `load` for `key` through single-flight and the caps; throws FallbackUnavailableError when refused or failed. */
  run<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.flights.run(
      key,
      () => this.admit(load),
      () => this.metrics.coalesced.inc({ guard: this.name }),
    );
  }

  private refuse(reason: FallbackRefusal, retryAfterMs: number, message: string, cause?: unknown): never {
    if (reason === 'rate_limited' || reason === 'concurrency_limited' || reason === 'breaker_open')
      this.metrics.rejected.inc({ guard: this.name, reason });
    throw new FallbackUnavailableError(reason, retryAfterMs, message, cause);
  }

  private async admit<T>(load: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // Checked before a token is spent, so an open breaker does not drain the bucket.
    // While half-open, the one probe decides; everyone else is refused, not queued behind it.
    const state = this.breaker.state;
    if (state === CircuitState.HalfOpen || state === CircuitState.Isolated)
      this.refuse(
        'breaker_open',
        SHORT_RETRY_MS,
        `${this.name}: the database fallback is being probed after failures`,
      );
    if (state === CircuitState.Open) {
      const remaining = this.halfOpenAfterMs - (Date.now() - this.openedAt);
      if (remaining > 0)
        this.refuse(
          'breaker_open',
          remaining,
          `${this.name}: the database fallback is paused after repeated failures`,
        );
    }
    if (this.bulkhead.executionSlots <= 0 && this.bulkhead.queueSlots <= 0)
      this.refuse(
        'concurrency_limited',
        SHORT_RETRY_MS,
        `${this.name}: ${this.maxConcurrent} database fallbacks already running`,
      );
    if (!this.bucket.tryTake())
      this.refuse(
        'rate_limited',
        this.bucket.msUntilNext(),
        `${this.name}: database fallbacks are capped at ${this.bucket.ratePerSec}/s`,
      );
    try {
      return await this.breaker.execute(() => this.timed(load));
    } catch (err) {
      if (err instanceof FallbackUnavailableError) throw err;
      if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError)
        this.refuse(
          'breaker_open',
          SHORT_RETRY_MS,
          `${this.name}: the database fallback is paused after repeated failures`,
          err,
        );
      if (err instanceof BulkheadRejectedError)
        this.refuse(
          'concurrency_limited',
          SHORT_RETRY_MS,
          `${this.name}: ${this.maxConcurrent} database fallbacks already running`,
          err,
        );
      if (err instanceof LoadTimeoutError)
        throw new FallbackUnavailableError('timeout', SHORT_RETRY_MS, err.message, err);
      throw new FallbackUnavailableError(
        'failed',
        SHORT_RETRY_MS,
        `${this.name}: the database fallback failed`,
        err,
      );
    }
  }

  /**
   * The load in a bulkhead slot, raced against the timeout. On timeout the
   * caller is answered, the abort signal fires, a load still queued for a
   * slot never starts, and a running one keeps its slot until it ends.
   */
  private async timed<T>(load: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const guard = this.name;
    const slot = this.bulkhead.execute(async () => {
      this.metrics.fallbackQueries.inc({ guard });
      this.metrics.inFlight.inc({ guard });
      try {
        return await load(abort.signal);
      } catch (err) {
        if (!abort.signal.aborted) this.metrics.fallbackFailures.inc({ guard, reason: 'error' });
        throw err;
      } finally {
        this.metrics.inFlight.dec({ guard });
      }
    }, abort.signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        this.metrics.fallbackFailures.inc({ guard, reason: 'timeout' });
        reject(
          new LoadTimeoutError(`${guard}: the database fallback did not answer within ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([slot, deadline]);
    } finally {
      clearTimeout(timer);
      // A load abandoned by its timeout may still fail; that failure was already answered.
      slot.catch(() => {});
    }
  }
}

function stateValue(state: CircuitState): number {
  // Isolated (held open by hand) is reported as open.
  return state === CircuitState.Closed ? 0 : state === CircuitState.HalfOpen ? 2 : 1;
}
