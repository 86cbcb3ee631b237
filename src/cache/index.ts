// The versioned cache with a capped database fallback (docs/guardrails.md):
// envelopes with schema, version and checksum; a read-through cache that
// turns every unusable entry into a counted, deleted miss; and the guard
// (single-flight, rate and concurrency caps, circuit breaker) every miss goes
// through. Usable by any Node service; src/cache/catalog/ is the API's use.

export { cacheKey, cacheKeyPattern, type CacheNamespace } from './cacheKey.ts';
export { defineCacheSchema, type CacheSchema } from './cacheSchema.ts';
export {
  MISS_REASONS,
  decodeEnvelope,
  encodeEnvelope,
  encodeEnvelopeAt,
  type Decoded,
  type MissReason,
  type PoisonReason,
} from './envelope.ts';
export { CacheMetrics } from './cacheMetrics.ts';
export {
  DEFAULT_BREAKER_THRESHOLD,
  DEFAULT_FALLBACK_TIMEOUT_MS,
  DEFAULT_HALF_OPEN_AFTER_MS,
  FallbackGuard,
  FallbackUnavailableError,
  type Fallback,
  type FallbackGuardEvent,
  type FallbackGuardOptions,
  type FallbackRefusal,
} from './fallbackGuard.ts';
export { ReadThroughCache, type CacheEvent, type ReadThroughCacheOptions } from './ReadThroughCache.ts';
export { closeCacheRedis, openCacheRedis, type CacheRedisOptions } from './cacheRedis.ts';
export { SingleFlight } from './singleFlight.ts';
export { TokenBucket } from './tokenBucket.ts';
export { CachePoisoner, msgpack, type CachePoisonerOptions } from './cachePoisoner.ts';
