// A retry budget: the retries sent to one dependency may be at most a fixed
// share of the requests sent to it recently, plus a small floor. When the
// dependency fails everything, the load it sees stays close to the load the
// callers make (×(1 + ratio)), instead of ×maxAttempts: retries help with a
// blip and cannot turn an outage into a storm (the billing API incident:
// three immediate retries per failed request turned a 12 s blip into an
// outage).
//
// Hand-written because cockatiel, the policy library everything else here is
// built on, has none: its retry policy bounds the attempts of one call, never
// the retries across calls, so N callers failing at once still multiply the
// load by maxAttempts. The AWS SDK has one inside (its retry quota) but only
// for its own calls. This is the model of Finagle's RetryBudget (ttl,
// minRetriesPerSec, percentCanRetry) and of tower's TpsBudget, kept small:
//
//   retries allowed in the window = minRetriesPerSec × window + ratio × requests in the window
//
// A request is deposited once, when a call starts (its retries are not
// requests). A retry is withdrawn when the policy wants to retry; a refused
// retry is not made and the call fails at once with its error. The window
// slides in `buckets` steps: an event counts for between (buckets-1)/buckets
// of the window and the whole window. The clock is injected so tests are
// deterministic without sleeping.

import { z } from 'zod';
import { parseOrThrow } from '../queue/validateOptions.ts';

export interface RetryBudgetOptions {
  /** How long a request (a deposit) or a retry (a withdrawal) counts. */
  readonly windowMs: number;
  /** Retries allowed per second of window whatever the traffic: lets a quiet client retry a blip. */
  readonly minRetriesPerSec: number;
  /** Retries allowed per request in the window: 0.1 is one retry per ten requests. */
  readonly ratio: number;
  /** Steps the window slides in; default 10. */
  readonly buckets?: number;
  /** Milliseconds on a monotonic clock; default performance.now. */
  readonly now?: () => number;
}

/**
 * The defaults of every outbound policy (docs/guardrails.md says why): 10 % of
 * the traffic may be retried, plus one retry a second over a 10 s window.
 */
export const DEFAULT_RETRY_BUDGET = { windowMs: 10_000, minRetriesPerSec: 1, ratio: 0.1 } as const;

const OptionsSchema = z
  .object({
    windowMs: z.number().int().min(1_000).max(600_000),
    minRetriesPerSec: z.number().min(0).max(10_000),
    ratio: z.number().min(0).max(10),
    buckets: z.number().int().min(1).max(1_000).default(10),
    now: z.custom<() => number>((v) => typeof v === 'function', 'must be a function').optional(),
  })
  .strict();

export interface RetryBudgetSnapshot {
  readonly requests: number;
  readonly retries: number;
  /** Retries the window allows in total (floor included); a retry is allowed while retries < allowed. */
  readonly allowed: number;
}

export class RetryBudget {
  readonly windowMs: number;
  readonly minRetriesPerSec: number;
  readonly ratio: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  /** Ring of buckets: which step each slot holds, and its counts. */
  private readonly step: number[];
  private readonly requests: number[];
  private readonly retries: number[];

  constructor(options: RetryBudgetOptions = DEFAULT_RETRY_BUDGET) {
    const o = parseOrThrow(OptionsSchema, options, 'RetryBudget options');
    this.windowMs = o.windowMs;
    this.minRetriesPerSec = o.minRetriesPerSec;
    this.ratio = o.ratio;
    this.bucketMs = o.windowMs / o.buckets;
    this.now = o.now ?? (() => performance.now());
    this.step = new Array<number>(o.buckets).fill(Number.NEGATIVE_INFINITY);
    this.requests = new Array<number>(o.buckets).fill(0);
    this.retries = new Array<number>(o.buckets).fill(0);
  }

  /** A call starts: it earns `ratio` retries for the length of the window. */
  recordRequest(): void {
    this.requests[this.slot()]!++;
  }

  /** True (and the retry is counted) when the budget allows one more retry now; false leaves it untouched. */
  tryRetry(): boolean {
    const slot = this.slot();
    const { retries, allowed } = this.snapshot();
    // The epsilon absorbs binary fractions (0.1 × 30 is 3.0000000000000004, 0.1 × 70 is 7.000000000000001).
    if (retries + 1 > allowed + 1e-9) return false;
    this.retries[slot]!++;
    return true;
  }

  snapshot(): RetryBudgetSnapshot {
    const current = this.currentStep();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.step.length; i++) {
      if (current - this.step[i]! < this.step.length) {
        requests += this.requests[i]!;
        retries += this.retries[i]!;
      }
    }
    const floor = (this.minRetriesPerSec * this.windowMs) / 1000;
    return { requests, retries, allowed: floor + this.ratio * requests };
  }

  private currentStep(): number {
    return Math.floor(this.now() / this.bucketMs);
  }

  /** The slot of the current step, emptied first if it last held an older step. */
  private slot(): number {
    const current = this.currentStep();
    const i = ((current % this.step.length) + this.step.length) % this.step.length;
    if (this.step[i] !== current) {
      this.step[i] = current;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }
}
