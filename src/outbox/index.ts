// The transactional outbox relay: committed outbox rows → the event bus
// (docs/events.md). relay.ts is the library, main.ts the process.

export * from './relay.ts';
export * from './topics.ts';
export { parseRelayConfig, type RelayConfig } from './relayConfig.ts';
export { createRelayMetrics, type RelayMetrics } from './relayMetrics.ts';
export { migrateOutbox, outboxStats, RELAY_LOCK_KEY, type OutboxRow, type OutboxStats } from './outboxSql.ts';
