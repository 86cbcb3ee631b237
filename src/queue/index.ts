// The payment queue: the port (SQS FIFO semantics) and its Postgres adapter,
// whose database also holds the checkout intake. docs/queue.md says why the
// adapter is our own and what it was measured against. The Amazon SQS FIFO
// adapter (production) is imported from './SqsQueue.ts' itself, so that only
// the processes that use it load the AWS SDK.

export * from './Queue.ts';
export {
  PostgresQueue,
  migrateQueueDatabase,
  DEFAULT_DEDUP_WINDOW_SEC,
  DEFAULT_POLL_INTERVAL_MS,
  MAX_RECEIVE_BATCH,
  MAX_VISIBILITY_TIMEOUT_SEC,
  type DeadLetteredEvent,
  type PostgresQueueOptions,
} from './PostgresQueue.ts';
