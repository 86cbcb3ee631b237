// Turns cache and guard events into log lines, for a service that wants them
// (libraries fire events; services log them). Poison arrives once per read
// under an incident like ours, thousands a second: each kind is logged at
// most once per interval, with how many were folded into it.

import type { Logger } from 'pino';
import type { CacheEvent } from './ReadThroughCache.ts';
import type { FallbackGuardEvent } from './fallbackGuard.ts';

/** One line per kind of event per 10 s is enough to see it started, and what it is. */
export const CACHE_LOG_INTERVAL_MS = 10_000;

export interface CacheEventLog {
  readonly onCacheEvent: (event: CacheEvent) => void;
  readonly onGuardEvent: (event: FallbackGuardEvent) => void;
}

export function cacheEventLog(logger: Logger, intervalMs = CACHE_LOG_INTERVAL_MS): CacheEventLog {
  const last = new Map<string, { at: number; folded: number }>();
  const throttled = (kind: string, log: (folded: number) => void) => {
    const now = Date.now();
    const seen = last.get(kind);
    if (seen && now - seen.at < intervalMs) {
      seen.folded += 1;
      return;
    }
    last.set(kind, { at: now, folded: 0 });
    log(seen?.folded ?? 0);
  };
  return {
    onCacheEvent: (event) => {
      if (event.type === 'poison') {
        throttled(`poison:${event.cache}:${event.reason}`, (folded) =>
          logger.warn(
            { cache: event.cache, reason: event.reason, key: event.key, alsoSinceLastLine: folded },
            'unusable cache entry deleted; reading the database (guarded)',
          ),
        );
      } else {
        throttled(`redis:${event.cache}:${event.op}`, (folded) =>
          logger.warn(
            { cache: event.cache, op: event.op, err: event.error, alsoSinceLastLine: folded },
            'Redis did not answer; cache bypassed (guarded)',
          ),
        );
      }
    },
    onGuardEvent: (event) => {
      if (event.type === 'breaker_open')
        logger.error(
          { guard: event.guard, err: event.error },
          'database fallback breaker opened: lookups answer 503',
        );
      else if (event.type === 'breaker_half_open')
        logger.warn({ guard: event.guard }, 'database fallback breaker probing');
      else logger.info({ guard: event.guard }, 'database fallback breaker closed');
    },
  };
}
