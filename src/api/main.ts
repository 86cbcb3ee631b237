// The checkout API as a process: `node src/api/main.ts`.
//
// Configured by environment variables (src/api/apiConfig.ts), with its config
// namespace layered on when FIREBREAK_CONFIG names one; the queue pool reloads
// when that file changes or on SIGHUP (src/config/reloadable.ts). Listens on
// loopback by default, the API and the admin listener on separate ports; when
// started with an IPC channel it reports { type: 'ready', port, adminPort }.
// SIGTERM or SIGINT: readiness turns false, the API stops accepting and drains
// in-flight requests, then the admin listener and the database pools close.
// Bad configuration exits with code 2 and one line; any other start failure 1;
// a resource of another environment 3 (the environment fence, src/guardrails/fence).

import pino, { type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { isTransientDbError } from '../db/pgErrors.ts';
import { CatalogIndex, loadCatalog } from '../catalog/index.ts';
import { isFirebreakError } from '../errors/index.ts';
import { startServiceFence } from '../guardrails/fence/index.ts';
import { PostgresIntake } from '../intake/PostgresIntake.ts';
import { registerQueueStatsMetrics } from '../metrics/index.ts';
import { migrateQueueDatabase } from '../queue/PostgresQueue.ts';
import type { Queue } from '../queue/Queue.ts';
import { openQueue, queueFenceResources } from '../queue/queueFromEnv.ts';
import { loadApiConfig, openReloadableQueuePool, type ApiConfig } from './apiConfig.ts';
import { openCatalogLookups } from '../cache/catalog/index.ts';
import { buildAdminApp } from './buildAdminApp.ts';
import { buildApp } from './buildApp.ts';

/** In-flight requests get this long to finish after a stop signal; then the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;
/** Below the 30 s a supervisor (src/stack/serviceProcess.ts) waits for 'ready'. */
const STARTUP_DB_WAIT_MS = 20_000;

function portOf(app: FastifyInstance): number {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
  return address.port;
}

/**
 * Opens the queue (applying its migrations, which include the intake's) and
 * the intake on the shared pool. A queue database that is still starting (or
 * restarting) is waited for, up to STARTUP_DB_WAIT_MS, rather than crash-looping.
 * With QUEUE_BACKEND=sqs the database holds the intake alone (migrated here)
 * and the queue is SQS (src/queue/queueFromEnv.ts).
 */
async function openStores(
  pool: pg.Pool,
  config: ApiConfig,
  logger: Logger,
  registry: Registry,
): Promise<{ queue: Queue; intake: PostgresIntake }> {
  const deadline = Date.now() + STARTUP_DB_WAIT_MS;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4_000)) {
    try {
      if (config.QUEUE_BACKEND === 'postgres') {
        const queue = await openQueue(config, { postgres: { pool } });
        return { queue, intake: PostgresIntake.connect({ pool }) };
      }
      await migrateQueueDatabase(pool);
      break;
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() + delayMs > deadline) throw err;
      logger.warn({ err, retryInMs: delayMs }, 'queue database not reachable yet');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
  return { queue: await openQueue(config, { registry, logger }), intake: PostgresIntake.connect({ pool }) };
}

async function main(): Promise<void> {
  const loaded = loadApiConfig(process.env);
  const config = loaded.config;
  const catalog = new CatalogIndex(await loadCatalog(config.CATALOG_PATH));
  const logger: Logger = pino({ level: config.LOG_LEVEL, base: { pid: process.pid } });
  // Exits 3 on a database or Redis of another environment (FIREBREAK_ENV), now and on every reconnect.
  await startServiceFence({
    service: 'api',
    logger,
    resources: {
      'queue database': config.QUEUE_DATABASE_URL,
      'cache redis': config.REDIS_URL,
      ...queueFenceResources(config),
    },
  });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One pool object for the life of the process; a config reload swaps the
  // connections behind it (create, verify, swap, drain the old: src/config/reloadable.ts).
  const queueDb = await openReloadableQueuePool({ env: process.env, loaded, logger, registry });
  const pool = queueDb.pool;
  const { queue, intake } = await openStores(pool, config, logger, registry);
  // Queue depth, oldest message age and DLQ depth, read (bounded) on each scrape.
  // The API exports them as well as the worker, so the queue is watched even
  // when no worker is running, which is exactly when it fills.
  registerQueueStatsMetrics({
    registry,
    queue,
    onError: (err) => logger.warn({ err }, 'queue stats for /metrics unavailable; gauges are stale'),
  });

  let stopping = false;
  // Cached catalog lookups (src/cache/catalog) only with a Redis: without one every lookup would be a database read.
  const catalogCache = config.REDIS_URL
    ? await openCatalogLookups({
        redisUrl: config.REDIS_URL,
        databaseUrl: config.QUEUE_DATABASE_URL,
        catalog: catalog.catalog,
        env: config.FIREBREAK_ENV,
        ratePerSec: config.CATALOG_FALLBACK_MAX_PER_SEC,
        maxConcurrent: config.CATALOG_FALLBACK_MAX_CONCURRENT,
        registry,
        logger,
      })
    : undefined;
  const app = buildApp({
    catalog,
    queue,
    intake,
    logger,
    registry,
    storeTimeoutMs: config.API_STORE_TIMEOUT_MS,
    retryAfterSec: config.API_RETRY_AFTER_SEC,
    loadShedding: {
      maxEventLoopDelayMs: config.API_MAX_EVENT_LOOP_DELAY_MS,
      maxInFlight: config.API_MAX_IN_FLIGHT,
    },
    ...(catalogCache ? { catalogLookups: catalogCache.lookups } : {}),
  });
  const admin = buildAdminApp({
    queue,
    catalog,
    registry,
    logger,
    adminKeySha256: config.ADMIN_KEY_SHA256,
    configStatus: () => queueDb.reloadable.status(),
    // A stopping process is not ready: the balancer takes it out before it closes.
    // One round trip on the queue's pool, not a scan of the queue.
    readinessCheck: () => (stopping ? Promise.reject(new Error('shutting down')) : pool.query('SELECT 1')),
  });
  // Admin first, so a probe can see the process before it takes traffic.
  await admin.listen({ host: config.API_HOST, port: config.API_ADMIN_PORT });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });
  const port = portOf(app);
  const adminPort = portOf(admin);
  logger.info(
    { host: config.API_HOST, port, adminPort, config: loaded.namespace?.file ?? 'environment only' },
    'checkout API listening',
  );
  if (loaded.overridden.length > 0)
    logger.warn({ overridden: loaded.overridden }, 'environment variables override config bindings');
  process.send?.({ type: 'ready', port, adminPort });

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'checkout API stopping');
    const deadline = setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown grace period over; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    deadline.unref();
    void (async () => {
      try {
        // Stops accepting, refuses requests on kept-alive connections with 503, waits for in-flight ones.
        await app.close();
        await admin.close();
        await Promise.allSettled([queue.close(), intake.close(), catalogCache?.close()]);
        await queueDb.reloadable.close();
        await pool.end();
        logger.info('checkout API stopped');
      } catch (err) {
        logger.error({ err }, 'checkout API did not stop cleanly');
        process.exitCode = 1;
      } finally {
        // The IPC channel is the last thing holding the process open.
        process.disconnect?.();
      }
    })();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID') {
    process.stderr.write(`${err.code}: ${err.message.replaceAll('\n', '; ')}\n`);
    process.exit(2);
  }
  pino().fatal({ err }, 'checkout API failed to start');
  process.exit(1);
});
