// The API's cached catalog lookups: a creator's price list, a plan, an FX
// rate. Three versioned read-through caches over the lookup tables, sharing
// one fallback guard, because the guard protects one database: its caps are
// for all three together.

import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { CacheMetrics } from '../cacheMetrics.ts';
import type { CacheNamespace } from '../cacheKey.ts';
import { FallbackGuard, type Fallback, type FallbackGuardEvent } from '../fallbackGuard.ts';
import { ReadThroughCache, type CacheEvent } from '../ReadThroughCache.ts';
import type { CatalogLookupSource } from './catalogLookupStore.ts';
import {
  creatorPlansCacheSchema,
  fxRateCacheSchema,
  planCacheSchema,
  type CreatorPlans,
  type FxRate,
  type PlanDetail,
} from './catalogSchemas.ts';

/** The service segment of the API's cache keys. */
export const CATALOG_CACHE_SERVICE = 'api';
export const CATALOG_GUARD_NAME = 'catalog';
/** Prices change rarely and a change shows within this (the route says so in Cache-Control). */
export const PLAN_TTL_MS = 300_000;
/** FX snapshots turn over more often than prices. */
export const FX_TTL_MS = 60_000;
/** Long enough to absorb a flood of lookups for ids that do not exist; short enough for a new plan. */
export const NEGATIVE_TTL_MS = 30_000;

/** Default caps per API process: far above the catalog's real read rate, far below what hurts the database. */
export const DEFAULT_FALLBACK_MAX_PER_SEC = 50;
export const DEFAULT_FALLBACK_MAX_CONCURRENT = 4;

export interface CatalogLookupsOptions {
  /** null: no Redis; every lookup is a (guarded) database read. */
  readonly redis: Redis | null;
  readonly source: CatalogLookupSource;
  readonly registry: Registry;
  /** The environment segment of every key (CACHE_ENV). */
  readonly env: string;
  readonly guard?: {
    readonly ratePerSec?: number;
    readonly burst?: number;
    readonly maxConcurrent?: number;
    readonly timeoutMs?: number;
    readonly breakerThreshold?: number;
    readonly halfOpenAfterMs?: number;
  };
  /** Replaces the guard (benches compare against an unguarded fallback); never set in a service. */
  readonly fallback?: Fallback;
  readonly onCacheEvent?: (event: CacheEvent) => void;
  readonly onGuardEvent?: (event: FallbackGuardEvent) => void;
}

export class CatalogLookups {
  readonly namespace: CacheNamespace;
  readonly guard: FallbackGuard | undefined;
  readonly creatorPlansCache: ReadThroughCache<CreatorPlans>;
  readonly planCache: ReadThroughCache<PlanDetail>;
  readonly fxRateCache: ReadThroughCache<FxRate>;
  private readonly source: CatalogLookupSource;

  constructor(options: CatalogLookupsOptions) {
    const metrics = CacheMetrics.of(options.registry);
    const g = options.guard ?? {};
    this.source = options.source;
    this.namespace = { env: options.env, service: CATALOG_CACHE_SERVICE };
    this.guard = options.fallback
      ? undefined
      : new FallbackGuard({
          name: CATALOG_GUARD_NAME,
          metrics,
          ratePerSec: g.ratePerSec ?? DEFAULT_FALLBACK_MAX_PER_SEC,
          ...(g.burst === undefined ? {} : { burst: g.burst }),
          maxConcurrent: g.maxConcurrent ?? DEFAULT_FALLBACK_MAX_CONCURRENT,
          ...(g.timeoutMs === undefined ? {} : { timeoutMs: g.timeoutMs }),
          breaker: {
            ...(g.breakerThreshold === undefined ? {} : { threshold: g.breakerThreshold }),
            ...(g.halfOpenAfterMs === undefined ? {} : { halfOpenAfterMs: g.halfOpenAfterMs }),
          },
          ...(options.onGuardEvent ? { onEvent: options.onGuardEvent } : {}),
        });
    const fallback: Fallback = options.fallback ?? this.guard!;
    const common = {
      redis: options.redis,
      namespace: this.namespace,
      fallback,
      metrics,
      negativeTtlMs: NEGATIVE_TTL_MS,
      ...(options.onCacheEvent ? { onEvent: options.onCacheEvent } : {}),
    };
    this.creatorPlansCache = new ReadThroughCache({
      ...common,
      schema: creatorPlansCacheSchema,
      ttlMs: PLAN_TTL_MS,
    });
    this.planCache = new ReadThroughCache({ ...common, schema: planCacheSchema, ttlMs: PLAN_TTL_MS });
    this.fxRateCache = new ReadThroughCache({ ...common, schema: fxRateCacheSchema, ttlMs: FX_TTL_MS });
  }

  /** Ids must be validated (lowercase UUIDs, ISO codes) before they get here. */
  creatorPlans(creatorId: string): Promise<CreatorPlans | null> {
    return this.creatorPlansCache.get(creatorId, (signal) => this.source.creatorPlans(creatorId, signal));
  }

  plan(planId: string): Promise<PlanDetail | null> {
    return this.planCache.get(planId, (signal) => this.source.plan(planId, signal));
  }

  fxRate(currency: string): Promise<FxRate | null> {
    return this.fxRateCache.get(currency, (signal) => this.source.fxRate(currency, signal));
  }
}
