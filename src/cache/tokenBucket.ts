// A token bucket: at most `burst` operations at once after a quiet spell, and
// `ratePerSec` on average after that; in any window of T seconds, at most
// burst + ratePerSec * T. It caps how many fallback queries the database sees
// per second (fallbackGuard.ts).
//
// Written here rather than taken from a library: cockatiel (our resilience
// library) has no rate limiter, the npm ones are either Redis-backed (a rate
// limit that fails when Redis fails is no use when Redis is the thing that
// failed) or callback/timer-driven queues, and this is twenty lines of
// arithmetic on an injectable clock, so tests need no timers at all.

export interface TokenBucketOptions {
  readonly ratePerSec: number;
  /** Bucket size; default one second's worth (at least 1). */
  readonly burst?: number;
  /** Milliseconds, monotonic; default performance.now. */
  readonly now?: () => number;
}

export class TokenBucket {
  readonly ratePerSec: number;
  readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private updatedAt: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSec > 0) || !Number.isFinite(options.ratePerSec))
      throw new RangeError('TokenBucket: ratePerSec must be a positive finite number');
    this.ratePerSec = options.ratePerSec;
    this.burst = options.burst ?? Math.max(1, Math.ceil(options.ratePerSec));
    if (!(this.burst >= 1) || !Number.isFinite(this.burst))
      throw new RangeError('TokenBucket: burst must be at least 1');
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.updatedAt = this.now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSec);
    this.updatedAt = now;
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 if one is). */
  msUntilNext(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000);
  }
}
