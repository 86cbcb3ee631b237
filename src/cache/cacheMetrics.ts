// The cache's and the fallback guard's Prometheus metrics, registered once on
// the registry a service owns (never prom-client's global one) and shared by
// every cache and guard of that service, told apart by label.
//
//   firebreak_cache_hits_total{cache}                 served from Redis
//   firebreak_cache_misses_total{cache,reason}        one per lookup not served from Redis (MissReason)
//   firebreak_cache_poison_deleted_total{cache,reason} unusable entries deleted (not absent ones)
//   firebreak_cache_writes_total{cache,outcome}       write-backs after a fallback: ok | error
//   firebreak_cache_fallback_queries_total{guard}     loads the guard let through to the database
//   firebreak_cache_fallback_failures_total{guard,reason} of those, the ones that failed: error | timeout
//   firebreak_cache_fallback_coalesced_total{guard}   lookups that joined a load already running for their key
//   firebreak_cache_fallback_rejected_total{guard,reason} rate_limited | concurrency_limited | breaker_open
//   firebreak_cache_fallback_in_flight{guard}         loads running now
//   firebreak_cache_fallback_breaker_state{guard}     0 closed, 1 open, 2 half-open
//   firebreak_cache_fallback_limit{guard,limit}       the configured caps: rate_per_sec, burst, concurrency

import { Counter, Gauge, type Registry } from 'prom-client';

const metricsByRegistry = new WeakMap<Registry, CacheMetrics>();

export class CacheMetrics {
  readonly hits: Counter<'cache'>;
  readonly misses: Counter<'cache' | 'reason'>;
  readonly poisonDeleted: Counter<'cache' | 'reason'>;
  readonly writes: Counter<'cache' | 'outcome'>;
  readonly fallbackQueries: Counter<'guard'>;
  readonly fallbackFailures: Counter<'guard' | 'reason'>;
  readonly coalesced: Counter<'guard'>;
  readonly rejected: Counter<'guard' | 'reason'>;
  readonly inFlight: Gauge<'guard'>;
  readonly breakerState: Gauge<'guard'>;
  readonly limits: Gauge<'guard' | 'limit'>;

  /** The one CacheMetrics of a registry (created on first use). */
  static of(registry: Registry): CacheMetrics {
    let metrics = metricsByRegistry.get(registry);
    if (!metrics) {
      metrics = new CacheMetrics(registry);
      metricsByRegistry.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    const registers = [registry];
    this.hits = new Counter({
      name: 'firebreak_cache_hits_total',
      help: 'Cache lookups served from a valid Redis entry.',
      labelNames: ['cache'],
      registers,
    });
    this.misses = new Counter({
      name: 'firebreak_cache_misses_total',
      help: 'Cache lookups not served from Redis, by why: absent, an unusable entry (foreign_format, corrupt_envelope, wrong_schema, unknown_version, checksum_mismatch, invalid_payload) or redis_error.',
      labelNames: ['cache', 'reason'],
      registers,
    });
    this.poisonDeleted = new Counter({
      name: 'firebreak_cache_poison_deleted_total',
      help: 'Unusable cache entries found and deleted, by why they were unusable.',
      labelNames: ['cache', 'reason'],
      registers,
    });
    this.writes = new Counter({
      name: 'firebreak_cache_writes_total',
      help: 'Cache entries written back after a database fallback, by outcome (ok, error).',
      labelNames: ['cache', 'outcome'],
      registers,
    });
    this.fallbackQueries = new Counter({
      name: 'firebreak_cache_fallback_queries_total',
      help: 'Database fallback loads the guard let through (counted when they start).',
      labelNames: ['guard'],
      registers,
    });
    this.fallbackFailures = new Counter({
      name: 'firebreak_cache_fallback_failures_total',
      help: 'Database fallback loads that failed (error) or did not answer in time (timeout); these open the breaker.',
      labelNames: ['guard', 'reason'],
      registers,
    });
    this.coalesced = new Counter({
      name: 'firebreak_cache_fallback_coalesced_total',
      help: 'Lookups that waited for a fallback load already running for the same key instead of starting one.',
      labelNames: ['guard'],
      registers,
    });
    this.rejected = new Counter({
      name: 'firebreak_cache_fallback_rejected_total',
      help: 'Fallback loads refused by the guard (answered 503), by cap: rate_limited, concurrency_limited, breaker_open.',
      labelNames: ['guard', 'reason'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'firebreak_cache_fallback_in_flight',
      help: 'Fallback loads running now.',
      labelNames: ['guard'],
      registers,
    });
    this.breakerState = new Gauge({
      name: 'firebreak_cache_fallback_breaker_state',
      help: "The fallback guard's circuit breaker: 0 closed, 1 open, 2 half-open.",
      labelNames: ['guard'],
      registers,
    });
    this.limits = new Gauge({
      name: 'firebreak_cache_fallback_limit',
      help: "The fallback guard's configured caps: rate_per_sec, burst, concurrency.",
      labelNames: ['guard', 'limit'],
      registers,
    });
  }
}
