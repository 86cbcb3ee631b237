// Everything the API process needs for its cached catalog lookups, opened in
// one call from src/api/main.ts (only when REDIS_URL is set): the lookup
// tables migrated and synced from the catalog file, a small pool of their
// own, the Redis client, and the lookups with their guard and metrics. The
// API starts whether or not Redis answers: until it does, every lookup is a
// guarded database read.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalog } from '../../catalog/index.ts';
import { cacheEventLog } from '../cacheEventLog.ts';
import { closeCacheRedis, openCacheRedis } from '../cacheRedis.ts';
import { CatalogLookups } from './catalogLookups.ts';
import { PostgresCatalogLookups, migrateCatalogLookups, syncCatalogLookups } from './catalogLookupStore.ts';
import { catalogLookupPool } from './catalogPool.ts';

export interface OpenCatalogLookupsOptions {
  readonly redisUrl: string;
  /** The API's own (queue/intake) database; never the ledger's. */
  readonly databaseUrl: string;
  readonly catalog: Catalog;
  readonly env: string;
  readonly ratePerSec: number;
  readonly maxConcurrent: number;
  readonly registry: Registry;
  readonly logger: Logger;
}

export interface OpenedCatalogLookups {
  readonly lookups: CatalogLookups;
  close(): Promise<void>;
}

export async function openCatalogLookups(options: OpenCatalogLookupsOptions): Promise<OpenedCatalogLookups> {
  const logger = options.logger.child({ component: 'catalog-cache' });
  const pool = catalogLookupPool(options.databaseUrl, options.maxConcurrent, (err) =>
    logger.warn({ err }, 'idle catalog lookup connection lost'),
  );
  try {
    await migrateCatalogLookups(pool);
    const synced = await syncCatalogLookups(pool, options.catalog);
    logger.info(synced, 'catalog lookup tables synced from the catalog file');
  } catch (err) {
    await pool.end();
    throw err;
  }
  const events = cacheEventLog(logger);
  let lastRedisError = '';
  const redis = openCacheRedis(options.redisUrl, {
    // Every reconnect attempt errors; log when the error changes, not each time.
    onError: (err) => {
      if (err.message === lastRedisError) return;
      lastRedisError = err.message;
      logger.warn({ err }, 'cache Redis connection error; lookups fall back to the database (guarded)');
    },
  });
  redis.on('ready', () => {
    lastRedisError = '';
    logger.info('cache Redis connected');
  });
  const lookups = new CatalogLookups({
    redis,
    source: new PostgresCatalogLookups(pool),
    registry: options.registry,
    env: options.env,
    guard: { ratePerSec: options.ratePerSec, maxConcurrent: options.maxConcurrent },
    onCacheEvent: events.onCacheEvent,
    onGuardEvent: events.onGuardEvent,
  });
  return {
    lookups,
    async close() {
      await closeCacheRedis(redis);
      await pool.end();
    },
  };
}
