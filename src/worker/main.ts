// The payment worker as a process: `node src/worker/main.ts`. Configured by
// environment variables; serves /livez, /readyz and /metrics on its own
// loopback admin port; reports { type: 'ready', adminPort } over IPC.

import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { envInt, envUrl, parseEnv } from '../config/env.ts';
import { probe, runServiceMain, startAdminListener, stopOnSignals } from '../stack/serviceMain.ts';
import { startServiceFence } from '../guardrails/fence/index.ts';
import { PostgresIntake } from '../intake/PostgresIntake.ts';
import { Ledger } from '../ledger/index.ts';
import { HttpProvider } from '../psp/httpProvider.ts';
import { registerQueueStatsMetrics } from '../metrics/index.ts';
import {
  openQueue,
  queueBackendEnv,
  queueFenceResources,
  refineQueueBackend,
} from '../queue/queueFromEnv.ts';
import { PaymentWorker } from './paymentWorker.ts';

const WorkerEnv = z
  .object({
    LEDGER_DATABASE_URL: envUrl,
    QUEUE_DATABASE_URL: envUrl,
    PSP_URL: envUrl,
    WORKER_HOST: z.string().default('127.0.0.1'),
    WORKER_ADMIN_PORT: envInt(0, 65535).default(0),
    WORKER_CONCURRENCY: envInt(1, 256).default(96),
    QUEUE_VISIBILITY_TIMEOUT_SEC: envInt(1, 43_200).default(300),
    QUEUE_MAX_RECEIVE_COUNT: envInt(1, 1000).default(3),
    PSP_TIMEOUT_MS: envInt(100, 120_000).default(5_000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // The payment queue: Postgres or SQS FIFO (src/queue/queueFromEnv.ts); the intake stays in QUEUE_DATABASE_URL.
    ...queueBackendEnv,
  })
  .superRefine(refineQueueBackend);

async function main(): Promise<void> {
  const env = parseEnv(WorkerEnv, process.env, 'worker');
  const logger = pino({ level: env.LOG_LEVEL, base: { service: 'worker', pid: process.pid } });
  // Exits 3 on a database of another environment (FIREBREAK_ENV), now and on every reconnect.
  await startServiceFence({
    service: 'worker',
    logger,
    resources: {
      'ledger database': env.LEDGER_DATABASE_URL,
      'queue database': env.QUEUE_DATABASE_URL,
      ...queueFenceResources(env),
    },
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const queue = await openQueue(env, {
    postgres: { databaseUrl: env.QUEUE_DATABASE_URL },
    visibilityTimeoutSec: env.QUEUE_VISIBILITY_TIMEOUT_SEC,
    maxReceiveCount: env.QUEUE_MAX_RECEIVE_COUNT,
    registry,
    logger,
  });
  const intake = await PostgresIntake.open({ databaseUrl: env.QUEUE_DATABASE_URL });
  // Queue depth, oldest message age and DLQ depth, read (bounded) on each scrape.
  registerQueueStatsMetrics({
    registry,
    queue,
    onError: (err) => logger.warn({ err }, 'queue stats for /metrics unavailable; gauges are stale'),
  });
  const ledger = Ledger.connect({ databaseUrl: env.LEDGER_DATABASE_URL });
  const provider = new HttpProvider({ baseUrl: env.PSP_URL, timeoutMs: env.PSP_TIMEOUT_MS });
  const worker = new PaymentWorker({
    queue,
    intake,
    ledger,
    provider,
    registry,
    logger,
    concurrency: env.WORKER_CONCURRENCY,
    visibilityTimeoutSec: env.QUEUE_VISIBILITY_TIMEOUT_SEC,
  });

  // Liveness never checks dependencies; readiness does.
  const { admin, adminPort } = await startAdminListener({
    host: env.WORKER_HOST,
    port: env.WORKER_ADMIN_PORT,
    registry,
    notReady: () => probe('ledger', () => ledger.ping()),
  });

  worker.start();
  logger.info({ adminPort, concurrency: env.WORKER_CONCURRENCY }, 'payment worker started');
  process.send?.({ type: 'ready', adminPort });
  stopOnSignals(logger, 'payment worker', async () => {
    await worker.stop();
    await Promise.allSettled([admin.close(), queue.close(), intake.close(), ledger.close()]);
  });
}

runServiceMain('payment worker', main);
