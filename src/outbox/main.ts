// The outbox relay as a process: `node src/outbox/main.ts`. Configured by
// environment variables (relayConfig.ts). Start-up: apply the relay's own
// migration (outbox_parked), open the admin listener (/livez, /readyz,
// /metrics), declare the event topic and compare it with what is live, then
// poll. Reports { type: 'ready', adminPort, eventBus, topic } over IPC once the
// topic is declared. SIGTERM/SIGINT: the batch in flight commits or rolls
// back, then the bus and the pool close.
// Bad configuration exits with code 2 and one line; any other start failure 1;
// a resource of another environment 3 (the environment fence, src/guardrails/fence).

import Fastify from 'fastify';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { isTransientDbError } from '../db/pgErrors.ts';
import { isFirebreakError } from '../errors/index.ts';
import { kafkaUrl, startServiceFence } from '../guardrails/fence/index.ts';
import type { EventBus } from '../eventBus/EventBus.ts';
import { FileEventBus } from '../eventBus/FileEventBus.ts';
import { KafkaEventBus } from '../eventBus/KafkaEventBus.ts';
import { migrateOutbox } from './outboxSql.ts';
import { OutboxRelay, RelayError } from './relay.ts';
import { parseRelayConfig, type RelayConfig } from './relayConfig.ts';
import { eventTopicSpec } from './topics.ts';

/** Below the 30 s a supervisor (src/stack/serviceProcess.ts) waits for 'ready'. */
const STARTUP_DB_WAIT_MS = 20_000;
const SHUTDOWN_GRACE_MS = 20_000;
const READINESS_TIMEOUT_MS = 800;

function openBus(config: RelayConfig, logger: Logger): EventBus {
  if (config.EVENT_BUS === 'file') return new FileEventBus(config.EVENT_FILE!);
  return new KafkaEventBus({
    brokers: config.KAFKA_BROKERS!,
    clientId: config.KAFKA_CLIENT_ID,
    publishTimeoutMs: config.RELAY_PUBLISH_TIMEOUT_MS,
    log: (l) => logger[l.level === 'error' ? 'warn' : l.level]({ kafka: l.namespace, ...l.extra }, l.message),
    onClientReset: (reason) =>
      logger.info({ reason: reason.message }, 'kafka client reset; the next batch reconnects'),
  });
}

async function migrateWhenReachable(url: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + STARTUP_DB_WAIT_MS;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4_000)) {
    try {
      await migrateOutbox(url);
      return;
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() + delayMs > deadline) throw err;
      logger.warn({ err, retryInMs: delayMs }, 'ledger database not reachable yet');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** null when the ledger answers a round trip within the readiness timeout. */
async function ledgerProblem(pool: pg.Pool): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`ledger: no answer within ${READINESS_TIMEOUT_MS} ms`),
      READINESS_TIMEOUT_MS,
    );
  });
  const ping = pool.query('SELECT 1').then(
    () => null,
    (err: unknown) => `ledger: ${(err as Error).message}`,
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const config = parseRelayConfig(process.env);
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'relay', pid: process.pid } });
  // Exits 3 on a ledger or Kafka cluster of another environment (FIREBREAK_ENV), before the migration.
  const fence = await startServiceFence({
    service: 'relay',
    logger,
    resources: {
      'ledger database': config.LEDGER_DATABASE_URL,
      'event bus':
        config.KAFKA_BROKERS && config.EVENT_BUS === 'kafka' ? kafkaUrl(config.KAFKA_BROKERS) : undefined,
    },
  });
  await migrateWhenReachable(config.LEDGER_DATABASE_URL, logger);

  const pool = new pg.Pool({
    connectionString: config.LEDGER_DATABASE_URL,
    max: 3,
    connectionTimeoutMillis: 2_000,
    statement_timeout: 10_000,
    // A relay that hangs mid-batch (holding the relay lock in an open transaction)
    // is cut off by the server, so a standby can take over.
    idle_in_transaction_session_timeout: config.RELAY_PUBLISH_TIMEOUT_MS + 10_000,
  });
  pool.on('error', (err) => logger.warn({ err }, 'idle ledger connection lost'));
  const bus = fence.guardEventBus(openBus(config, logger));
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const topic = eventTopicSpec({
    name: config.EVENT_TOPIC,
    partitions: config.EVENT_TOPIC_PARTITIONS,
    retentionMs: config.EVENT_TOPIC_RETENTION_MS,
    replicationFactor: config.EVENT_TOPIC_REPLICATION,
  });
  const relay = new OutboxRelay({
    pool,
    bus,
    topic,
    registry,
    batchSize: config.RELAY_BATCH_SIZE,
    pollIntervalMs: config.RELAY_POLL_INTERVAL_MS,
    retryInitialMs: config.RELAY_RETRY_INITIAL_MS,
    retryMaxMs: config.RELAY_RETRY_MAX_MS,
    topicCheckIntervalMs: config.RELAY_TOPIC_CHECK_INTERVAL_MS,
    events: {
      onPublished: (count, durationMs) => logger.debug({ count, durationMs }, 'events published'),
      onParked: (p) =>
        logger.error(
          { outboxId: p.id.toString(), eventId: p.eventId, eventType: p.eventType, reason: p.reason },
          'invalid outbox event parked (not published); see docs/events.md#invalid-events',
        ),
      onRetry: (err, attempt, delayMs) =>
        logger.warn(
          {
            err,
            stage: err instanceof RelayError ? err.stage : 'declare',
            attempt,
            retryInMs: Math.round(delayMs),
          },
          'relay attempt failed; retrying with backoff',
        ),
      onDeclared: (r) =>
        r.unsupported
          ? logger.warn(
              { topic: topic.name, reason: r.unsupported },
              'topic not declared: the bus cannot declare topics',
            )
          : logger.info({ topic: topic.name, created: r.created.length > 0 }, 'topic declared'),
      onTopicCheck: (c) => {
        const fields = { topic: c.topic, declared: c.declared, live: c.live };
        if (c.retentionDrift) logger.warn(fields, 'topic retention differs from the declared retention');
        else if (c.partitionsDrift)
          logger.warn(fields, 'topic partition count differs from the declared one');
        else if (c.retentionDrift === null) logger.info(fields, 'topic retention could not be checked');
        else logger.debug(fields, 'topic matches its declaration');
      },
      onTopicCheckFailed: (err) => logger.warn({ err }, 'topic check failed; will try again'),
    },
  });

  let stopping = false;
  // Liveness never checks dependencies; readiness does (ledger reachable, topic declared).
  const admin = Fastify({ logger: false });
  admin.get('/livez', () => ({ status: 'live' }));
  admin.get('/readyz', async (_req, reply) => {
    const problem = stopping
      ? 'shutting down'
      : relay.declared === undefined
        ? 'topic not declared yet'
        : await ledgerProblem(pool);
    if (problem) return reply.code(503).send({ status: 'not_ready', reason: problem });
    return { status: 'ready' };
  });
  admin.get('/metrics', async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  await admin.listen({ host: config.RELAY_HOST, port: config.RELAY_ADMIN_PORT });
  const address = admin.server.address();
  const adminPort = typeof address === 'object' && address ? address.port : config.RELAY_ADMIN_PORT;

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'relay stopping');
    const deadline = setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown grace period over; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    deadline.unref();
    void (async () => {
      await relay.stop();
      await Promise.allSettled([bus.close(), admin.close()]);
      await pool.end().catch(() => {});
      logger.info('relay stopped');
      process.disconnect?.();
    })();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  logger.info({ adminPort, bus: bus.kind, topic: topic.name }, 'relay declaring its topic');
  try {
    await relay.declareTopics();
  } catch (err) {
    if (stopping) return; // stopped while the bus was still unreachable
    throw err;
  }
  if (stopping) return;
  relay.start();
  logger.info({ adminPort, bus: bus.kind, topic: topic.name }, 'relay started');
  process.send?.({
    type: 'ready',
    adminPort,
    eventBus: bus.kind,
    topic: topic.name,
    topicDeclared: relay.declared?.unsupported === undefined,
  });
}

main().catch((err: unknown) => {
  if (isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID') {
    process.stderr.write(`${err.code}: ${err.message.replaceAll('\n', '; ')}\n`);
    process.exit(2);
  }
  pino().fatal({ err }, 'relay failed to start');
  process.exit(1);
});
