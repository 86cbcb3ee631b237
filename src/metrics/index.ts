// Metric helpers shared by the processes. Each process owns its registry
// (never prom-client's global one); these register onto it.
//
// Still to come (another issue): cache hit/miss/fallback counters and fence
// (environment stamp) refusal counters, once the cache and the fence exist.

export {
  PAYMENT_QUEUE_LABEL,
  QUEUE_STATS_MAX_AGE_MS,
  QUEUE_STATS_TIMEOUT_MS,
  registerQueueStatsMetrics,
  type QueueStatsMetrics,
  type QueueStatsMetricsOptions,
} from './queueStatsMetrics.ts';
