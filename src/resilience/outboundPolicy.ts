// The one policy for outbound calls. Every client in Firebreak calls its
// dependency through an OutboundPolicy (docs/guardrails.md, "Resilient
// calls"), built here from cockatiel's pieces and the retry budget:
//
//   retry (full-jitter exponential backoff, bounded attempts, retry budget)
//     └─ circuit breaker (consecutive transient failures open it; open = fail fast)
//          └─ timeout (per attempt; its AbortSignal is handed to the call)
//               └─ the call
//
// - The timeout is per attempt, inside the breaker, so a dependency that
//   hangs counts as failing. Its signal is the `signal` the call receives:
//   pass it to fetch and the request is aborted, not just abandoned.
// - A failure is retried only when it is transient (the client's own table:
//   HTTP status, SQLSTATE, SQS error name), attempts remain, the caller has not
//   cancelled, and the retry budget allows it. A refused retry fails the call
//   at once with its own error: the caller sees what the dependency said.
// - An open breaker fails fast with BrokenCircuitError, never retried here.
// - Retries happen at one layer only: an error that already went through a
//   retrying OutboundPolicy (the SQS adapter's, say) is never retried by an
//   outer one (the scheduler's), so nested policies cannot multiply attempts.
//   The mark is on the error object, so a client must throw a new error per
//   failure (every client here does), never a shared instance.
// - retry: null is for calls that must not be repeated (not idempotent); the
//   client says why in a comment. budget: null and breaker: null likewise.

import {
  BrokenCircuitError,
  IsolatedCircuitError,
  TaskCancelledError,
  handleWhen,
  noop,
  retry,
  wrap,
  type CircuitBreakerPolicy,
  type IDisposable,
  type IPolicy,
  type RetryPolicy,
} from 'cockatiel';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { parseOrThrow } from '../queue/validateOptions.ts';
import {
  breakerPolicy,
  fullJitterBackoff,
  timeoutPolicy,
  type BreakerOptions,
  type RetryOptions,
  type TimeoutMode,
} from './policies.ts';
import {
  outboundMetrics,
  watchBreaker,
  type BreakerLogger,
  type OutboundMetrics,
} from './resilienceMetrics.ts';
import { DEFAULT_RETRY_BUDGET, RetryBudget, type RetryBudgetOptions } from './retryBudget.ts';

/** Three attempts, the first retry within 50 ms, none waiting more than 2 s. */
export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 2_000 };
/** Five transient failures in a row open it; one probe after 2 s. */
export const DEFAULT_BREAKER: BreakerOptions = { threshold: 5, halfOpenAfterMs: 2_000 };

export interface OutboundPolicyOptions {
  /** What is called, for metrics and logs: 'provider', 'ledger', 'queue', 'sqs', 'outbox'. */
  readonly dependency: string;
  /** True for errors after which the same call may succeed: they are retried and open the breaker. */
  readonly isTransient: (err: unknown) => boolean;
  /**
   * Per-attempt deadline, or null when the client bounds each attempt itself
   * (say where in a comment: a pg pool's statement_timeout, the SDK's request
   * timeout). A required key: every client decides.
   */
  readonly timeoutMs: number | null;
  /** Default aggressive (see policies.ts). */
  readonly timeoutMode?: TimeoutMode;
  /** Default DEFAULT_RETRY; null: never retried (a non-idempotent call). */
  readonly retry?: RetryOptions | null;
  /** A budget of its own (default DEFAULT_RETRY_BUDGET), a shared one, or null (say why). */
  readonly budget?: RetryBudget | RetryBudgetOptions | null;
  /** Default DEFAULT_BREAKER; null: no breaker (say why). */
  readonly breaker?: BreakerOptions | null;
  /** Where the outbound metrics go; none when absent. */
  readonly registry?: Registry;
  /** Logs breaker state changes. */
  readonly logger?: BreakerLogger;
}

/** What the call is given: the attempt's signal (pass it on) and its number (1 for the first). */
export interface AttemptContext {
  readonly signal: AbortSignal;
  readonly attempt: number;
}

export interface RetryEvent {
  readonly error: unknown;
  /** The retry's number: 1 for the first retry (the second attempt). */
  readonly attempt: number;
  readonly delayMs: number;
}

const retryOptions = z
  .object({
    maxAttempts: z.union([z.number().int().min(1).max(1_000), z.literal(Number.POSITIVE_INFINITY)]),
    initialDelayMs: z.number().int().min(0).max(600_000),
    maxDelayMs: z.number().int().min(0).max(3_600_000),
  })
  .refine((r) => r.maxDelayMs >= r.initialDelayMs, {
    message: 'must be at least initialDelayMs',
    path: ['maxDelayMs'],
  });

const OptionsSchema = z.object({
  dependency: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'must be a short lowercase name'),
  timeoutMs: z.number().int().min(1).max(3_600_000).nullable(),
  timeoutMode: z.enum(['cooperative', 'aggressive']).default('aggressive'),
  retry: retryOptions.nullable().default(DEFAULT_RETRY),
  breaker: z
    .object({
      threshold: z.number().int().min(1).max(100_000),
      halfOpenAfterMs: z.number().int().min(1).max(3_600_000),
    })
    .nullable()
    .default(DEFAULT_BREAKER),
});

/** Errors that already used up a retrying policy's attempts: outer policies pass them through. */
const spent = new WeakSet<object>();
/** Errors whose retry the budget refused (a subset of spent). */
const refused = new WeakSet<object>();

/** True when an OutboundPolicy that may retry has already given up on this error. */
export function retriesSpent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && spent.has(err);
}

/**
 * True when the call failed because the retry budget refused its retry: the
 * dependency is failing more than the budget absorbs, as with an open breaker,
 * rather than this one request being at fault. The worker holds its message
 * then instead of counting a receive against the dead-letter limit.
 */
export function retryRefused(err: unknown): boolean {
  return typeof err === 'object' && err !== null && refused.has(err);
}

/** Carries the final error of a call out of cockatiel's retry loop (which retries every other error). */
class GiveUp extends Error {
  readonly error: unknown;
  /** The retry budget said no (the error is an object: only transient errors get that far). */
  readonly refused: boolean;
  constructor(error: unknown, refused: boolean) {
    super('retries given up', { cause: error });
    this.error = error;
    this.refused = refused && typeof error === 'object' && error !== null;
  }
}

export class OutboundPolicy {
  readonly dependency: string;
  /** The breaker, for callers that pause while it is open (the worker); undefined when there is none. */
  readonly breaker: CircuitBreakerPolicy | undefined;
  readonly budget: RetryBudget | undefined;
  readonly maxAttempts: number;
  private readonly isTransient: (err: unknown) => boolean;
  private readonly inner: IPolicy;
  private readonly retry: RetryPolicy | undefined;
  private readonly metrics: OutboundMetrics | undefined;

  constructor(options: OutboundPolicyOptions) {
    const o = parseOrThrow(OptionsSchema, options, `outbound policy (${String(options.dependency)})`);
    if (typeof options.isTransient !== 'function') {
      throw new TypeError(`outbound policy (${o.dependency}): isTransient must be a function`);
    }
    this.dependency = o.dependency;
    this.isTransient = options.isTransient;
    this.maxAttempts = o.retry?.maxAttempts ?? 1;
    this.metrics = options.registry ? outboundMetrics(options.registry, o.dependency) : undefined;

    this.breaker = o.breaker ? breakerPolicy((err) => this.failure(err), o.breaker) : undefined;
    if (this.breaker) {
      watchBreaker(this.breaker, o.dependency, {
        gauges: this.metrics ? [this.metrics.breakerState] : [],
        logger: options.logger,
      });
    }
    const timeout = o.timeoutMs === null ? undefined : timeoutPolicy(o.timeoutMs, o.timeoutMode);
    const layers = [this.breaker, timeout].filter((p): p is NonNullable<typeof p> => p !== undefined);
    this.inner = layers.length === 0 ? noop : layers.length === 1 ? layers[0]! : wrap(...layers);

    if (o.retry && o.retry.maxAttempts > 1) {
      this.budget =
        options.budget === null
          ? undefined
          : options.budget instanceof RetryBudget
            ? options.budget
            : new RetryBudget(options.budget ?? DEFAULT_RETRY_BUDGET);
      this.retry = retry(
        handleWhen((err) => !(err instanceof GiveUp)),
        {
          maxAttempts: o.retry.maxAttempts - 1,
          backoff: fullJitterBackoff(o.retry),
        },
      );
      this.retry.onRetry(() => this.metrics?.retries.inc({ dependency: this.dependency }));
    }
  }

  /** Fired before each retry's backoff delay. */
  onRetry(listener: (event: RetryEvent) => void): IDisposable {
    if (!this.retry) return { dispose: () => {} };
    return this.retry.onRetry((r) =>
      listener({ error: 'error' in r ? r.error : r.value, attempt: r.attempt, delayMs: r.delay }),
    );
  }

  /**
   * Runs `call` under the policy. Rejects with the call's own last error (or
   * BrokenCircuitError while the breaker is open, TaskCancelledError for an
   * aggressive timeout). `signal` cancels: no retry starts after it aborts.
   */
  async execute<T>(call: (context: AttemptContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    this.metrics?.requests.inc({ dependency: this.dependency });
    this.budget?.recordRequest();
    const attempt = (n: number, s: AbortSignal | undefined) =>
      this.inner.execute(({ signal: attemptSignal }) => call({ signal: attemptSignal, attempt: n }), s);
    if (!this.retry) return attempt(1, signal);
    try {
      return await this.retry.execute(async ({ attempt: retries, signal: s }) => {
        try {
          return await attempt(retries + 1, s);
        } catch (err) {
          const verdict = this.shouldRetry(err, retries + 1, s);
          if (verdict !== 'retry') throw new GiveUp(err, verdict === 'refused');
          throw err;
        }
      }, signal);
    } catch (err) {
      if (!(err instanceof GiveUp)) throw err;
      if (err.refused) refused.add(err.error as object);
      if (typeof err.error === 'object' && err.error !== null && this.failure(err.error))
        spent.add(err.error);
      throw err.error;
    }
  }

  /** A failure of the dependency (not of the request): transient, or a timeout; never an open breaker. */
  private failure(err: unknown): boolean {
    if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) return false;
    // Timeouts count even when the client's table does not list TaskCancelledError.
    return err instanceof TaskCancelledError || this.isTransient(err);
  }

  private shouldRetry(err: unknown, attemptsMade: number, signal: AbortSignal): 'retry' | 'no' | 'refused' {
    if (signal.aborted || attemptsMade >= this.maxAttempts) return 'no';
    if (retriesSpent(err) || !this.failure(err)) return 'no';
    if (this.budget && !this.budget.tryRetry()) {
      this.metrics?.refused.inc({ dependency: this.dependency });
      return 'refused';
    }
    return 'retry';
  }
}

/** Builds the one outbound policy (see the top of this file). */
export function outboundPolicy(options: OutboundPolicyOptions): OutboundPolicy {
  return new OutboundPolicy(options);
}
