// Resilient outbound calls: the one policy every client uses (outboundPolicy:
// timeout, full-jitter exponential backoff, retry budget, circuit breaker),
// the retry budget itself, the pieces it is built from, and the metrics and
// breaker wiring they report through. docs/guardrails.md, "Resilient calls".
export * from './outboundPolicy.ts';
export * from './policies.ts';
export * from './resilienceMetrics.ts';
export * from './retryBudget.ts';
export { BrokenCircuitError, CircuitState, TaskCancelledError } from 'cockatiel';
