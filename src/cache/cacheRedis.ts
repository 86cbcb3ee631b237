// The Redis client a cache uses (ioredis), configured so that a Redis outage
// is a fast miss and never a hung request or a crash:
//
// - enableOfflineQueue false: while disconnected, a command fails at once
//   instead of waiting in memory for a reconnect that may take minutes;
// - commandTimeout: a Redis that accepts connections but does not answer
//   (wedged, SIGSTOPped, a partition) fails a command after this long;
// - maxRetriesPerRequest 0: a command in flight when the connection drops
//   fails, it is not resent later (a cache read nobody waits for any more);
// - reconnects forever, backing off with jitter up to 2 s, and the API starts
//   whether or not Redis is up (lookups then go through the fallback guard).
//
// Every failure above surfaces as a `redis_error` miss in ReadThroughCache.

import { Redis } from 'ioredis';

/** A cache GET is sub-millisecond on a healthy Redis; 250 ms means it is not healthy. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 250;
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 1_000;
const RECONNECT_MAX_MS = 2_000;

export interface CacheRedisOptions {
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Connection errors (every reconnect attempt emits one); default: ignored. */
  readonly onError?: (err: Error) => void;
}

export function openCacheRedis(url: string, options: CacheRedisOptions = {}): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.floor(Math.random() * Math.min(RECONNECT_MAX_MS, 100 * 2 ** times)) + 50,
    // The client is told apart in CLIENT LIST when a shared Redis has to be investigated.
    connectionName: 'firebreak-cache',
  });
  // Without a listener, ioredis prints every reconnect failure to stderr.
  const onError = options.onError ?? (() => {});
  redis.on('error', onError);
  return redis;
}

/** Closes a cache client without waiting on a Redis that may not answer. */
export async function closeCacheRedis(redis: Redis, timeoutMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
