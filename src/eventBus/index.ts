// The event bus: the port (EventBus.ts), the Kafka and file adapters, the wire
// envelope, readers for the audit, and the local Kafka peer (kcat).

export * from './EventBus.ts';
export * from './envelope.ts';
export {
  KafkaEventBus,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  type KafkaEventBusOptions,
  type KafkaLogLine,
} from './KafkaEventBus.ts';
export { FileEventBus, readEventFile } from './FileEventBus.ts';
export { readKafkaEvents, type ReadKafkaOptions } from './kafkaReader.ts';
export { KcatMockCluster, kcatAvailable, type KcatMockClusterOptions } from './kcatMockCluster.ts';
