// A read-through cache for read-mostly lookups: Redis first, the database
// (through a Fallback, normally a FallbackGuard) on a miss, then the value is
// written back for the next reader.
//
// A lookup reads the current version's key and, if the schema has one, the
// previous version's key, in one MGET. Each entry is decoded (envelope.ts);
// an entry that cannot be used, for whatever reason, is a counted miss: it is
// deleted (only if it still holds the bytes we read, so a good entry written
// meanwhile survives) and the database answers. Nothing about an entry ever
// becomes an exception to the caller. Redis being down or slow is a miss too
// (`redis_error`), and goes through the same guard, so neither poison nor an
// outage can flood the database.
//
// The only error `get` throws is FallbackUnavailableError, when the guard
// refuses or the load fails: answer it 503 with Retry-After.

import type { Redis } from 'ioredis';
import type { CacheMetrics } from './cacheMetrics.ts';
import { assertCacheNamespace, cacheKey, type CacheNamespace } from './cacheKey.ts';
import type { CacheSchema } from './cacheSchema.ts';
import { decodeEnvelope, encodeEnvelope, type MissReason, type PoisonReason } from './envelope.ts';
import type { Fallback } from './fallbackGuard.ts';

/** Deletes KEYS[1] only if it still holds ARGV[1]: never removes an entry another reader just repaired. */
const DELETE_IF_UNCHANGED = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export type CacheEvent =
  | { readonly type: 'poison'; readonly cache: string; readonly key: string; readonly reason: PoisonReason }
  | {
      readonly type: 'redis_error';
      readonly cache: string;
      readonly op: 'read' | 'write' | 'delete';
      readonly error: unknown;
    };

export interface ReadThroughCacheOptions<T> {
  /** null: no Redis configured; every lookup is a fallback (still guarded). */
  readonly redis: Redis | null;
  readonly namespace: CacheNamespace;
  readonly schema: CacheSchema<T>;
  readonly fallback: Fallback;
  readonly metrics: CacheMetrics;
  /** How long a value lives in Redis; a +/-10% jitter spreads expiries so they do not all miss at once. */
  readonly ttlMs: number;
  /** How long "no such id" is remembered, so lookups of unknown ids do not each reach the database. */
  readonly negativeTtlMs: number;
  readonly onEvent?: (event: CacheEvent) => void;
  /** For TTL jitter (tests); default Math.random. */
  readonly random?: () => number;
}

export class ReadThroughCache<T> {
  readonly schema: CacheSchema<T>;
  readonly namespace: CacheNamespace;
  private readonly redis: Redis | null;
  private readonly fallback: Fallback;
  private readonly metrics: CacheMetrics;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly onEvent: (event: CacheEvent) => void;
  private readonly random: () => number;

  constructor(options: ReadThroughCacheOptions<T>) {
    assertCacheNamespace(options.namespace);
    for (const [name, ms] of [
      ['ttlMs', options.ttlMs],
      ['negativeTtlMs', options.negativeTtlMs],
    ] as const)
      if (!Number.isSafeInteger(ms) || ms < 1)
        throw new RangeError(`ReadThroughCache: ${name} must be a positive integer`);
    this.redis = options.redis;
    this.namespace = options.namespace;
    this.schema = options.schema;
    this.fallback = options.fallback;
    this.metrics = options.metrics;
    this.ttlMs = options.ttlMs;
    this.negativeTtlMs = options.negativeTtlMs;
    this.onEvent = options.onEvent ?? (() => {});
    this.random = options.random ?? Math.random;
  }

  /** The key of `id` at the current version (or at `version`). */
  key(id: string, version = this.schema.version): string {
    return cacheKey(this.namespace, this.schema.name, version, id);
  }

  /**
   * The value for `id` (null: the database has none), from Redis or else from
   * `load` through the fallback. Throws only FallbackUnavailableError.
   */
  async get(id: string, load: (signal: AbortSignal) => Promise<T | null>): Promise<T | null> {
    const cache = this.schema.name;
    const current = this.key(id);
    const keys = this.schema.previous ? [current, this.key(id, this.schema.version - 1)] : [current];
    let missReason: MissReason = 'absent';
    let redisUp = this.redis !== null;
    if (this.redis) {
      let raw: (Buffer | null)[] | undefined;
      try {
        raw = await this.redis.mgetBuffer(...keys);
      } catch (error) {
        redisUp = false;
        missReason = 'redis_error';
        this.onEvent({ type: 'redis_error', cache, op: 'read', error });
      }
      if (raw) {
        for (const [i, key] of keys.entries()) {
          const bytes = raw[i] ?? null;
          const decoded = decodeEnvelope(this.schema, bytes);
          if (decoded.ok) {
            this.metrics.hits.inc({ cache });
            return decoded.value;
          }
          if (decoded.reason !== 'absent' && bytes) {
            // The first unusable entry names the miss; every unusable one is deleted.
            if (missReason === 'absent') missReason = decoded.reason;
            this.discard(key, bytes, decoded.reason);
          }
        }
      }
    }
    this.metrics.misses.inc({ cache, reason: missReason });
    // Coalesced on the current key: every reader of this id, whatever it found, shares one load.
    return this.fallback.run(current, async (signal) => {
      const value = await load(signal);
      // A loader returning what the schema rejects is a bug: the load fails here (a 503, and a
      // breaker failure) rather than storing an entry every reader would then reject.
      const envelope = encodeEnvelope(this.schema, value);
      // Skipped while Redis is failing: a write would only wait for the same timeout.
      if (redisUp) void this.write(current, envelope, value === null);
      return value;
    });
  }

  /** Writes `value` (null: "none") at the current version; false if Redis did not take it. For writer services. */
  async put(id: string, value: T | null): Promise<boolean> {
    return this.write(this.key(id), encodeEnvelope(this.schema, value), value === null);
  }

  /** Removes `id` at every version this reader knows (after the database changed). */
  async invalidate(id: string): Promise<void> {
    if (!this.redis) return;
    const keys = this.schema.previous
      ? [this.key(id), this.key(id, this.schema.version - 1)]
      : [this.key(id)];
    await this.redis.del(...keys);
  }

  /** Never rejects: a failed write is counted and reported, and the next reader simply misses. */
  private async write(key: string, envelope: Buffer, negative: boolean): Promise<boolean> {
    if (!this.redis) return false;
    const cache = this.schema.name;
    const base = negative ? this.negativeTtlMs : this.ttlMs;
    const ttl = Math.max(1, Math.round(base * (0.9 + 0.2 * this.random())));
    try {
      await this.redis.set(key, envelope, 'PX', ttl);
      this.metrics.writes.inc({ cache, outcome: 'ok' });
      return true;
    } catch (error) {
      this.metrics.writes.inc({ cache, outcome: 'error' });
      this.onEvent({ type: 'redis_error', cache, op: 'write', error });
      return false;
    }
  }

  private discard(key: string, bytes: Buffer, reason: PoisonReason): void {
    const cache = this.schema.name;
    this.metrics.poisonDeleted.inc({ cache, reason });
    this.onEvent({ type: 'poison', cache, key, reason });
    // Not awaited: the reader does not wait for the clean-up; a failed delete is found again next read.
    this.redis?.eval(DELETE_IF_UNCHANGED, 1, key, bytes).catch((error: unknown) => {
      this.onEvent({ type: 'redis_error', cache, op: 'delete', error });
    });
  }
}
