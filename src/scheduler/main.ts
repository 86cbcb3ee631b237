// The renewal scheduler as a process: `node src/scheduler/main.ts`. Configured
// by environment variables; serves /livez, /readyz and /metrics on its own
// loopback admin port; reports { type: 'ready', adminPort } over IPC; on
// SIGTERM finishes the run in progress and exits. Any number may run at once:
// they split the due schedules between them (see scheduler.ts).

import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { envInt, envUrl, parseEnv } from '../config/env.ts';
import { probe, runServiceMain, startAdminListener, stopOnSignals } from '../stack/serviceMain.ts';
import { startServiceFence } from '../guardrails/fence/index.ts';
import { Ledger } from '../ledger/index.ts';
import {
  openQueue,
  queueBackendEnv,
  queueFenceResources,
  refineQueueBackend,
} from '../queue/queueFromEnv.ts';
import { RenewalScheduler } from './scheduler.ts';

const SchedulerEnv = z
  .object({
    LEDGER_DATABASE_URL: envUrl,
    /** The payment queue's database; unused with QUEUE_BACKEND=sqs (the scheduler writes no intake). */
    QUEUE_DATABASE_URL: envUrl.optional(),
    SCHEDULER_HOST: z.string().default('127.0.0.1'),
    SCHEDULER_ADMIN_PORT: envInt(0, 65535).default(0),
    /** How often due schedules are looked for. Renewals are due on whole minutes at best; 10 s is plenty. */
    SCHEDULER_INTERVAL_MS: envInt(50, 3_600_000).default(10_000),
    SCHEDULER_BATCH_SIZE: envInt(1, 1_000).default(100),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Drills only: when set, the admin listener accepts PUT /v1/admin/clock
     * { "offsetMs": n } with header x-control-key, which moves the scheduler's
     * clock forward by n ms so a drill can bill a month of renewals in seconds.
     * Unset (the default, and always in production) the route does not exist.
     */
    SCHEDULER_CLOCK_CONTROL_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
    // The payment queue: Postgres (QUEUE_DATABASE_URL) or SQS FIFO (src/queue/queueFromEnv.ts).
    ...queueBackendEnv,
  })
  .superRefine((env, ctx) => {
    refineQueueBackend(env, ctx);
    if (env.QUEUE_BACKEND === 'postgres' && env.QUEUE_DATABASE_URL === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['QUEUE_DATABASE_URL'],
        message: 'is required when QUEUE_BACKEND is postgres: the Postgres URL of the payment queue database',
      });
  });

const ClockBody = z.strictObject({
  offsetMs: z
    .number()
    .int('must be a whole number of milliseconds')
    .min(0, 'must not be negative: the clock only moves forward')
    .max(10 * 366 * 86_400_000, 'must be at most ten years'),
});

async function main(): Promise<void> {
  const env = parseEnv(SchedulerEnv, process.env, 'scheduler');
  const logger = pino({ level: env.LOG_LEVEL, base: { service: 'scheduler', pid: process.pid } });
  // Exits 3 on a database of another environment (FIREBREAK_ENV), now and on every reconnect.
  await startServiceFence({
    service: 'scheduler',
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
    ...(env.QUEUE_DATABASE_URL
      ? { postgres: { databaseUrl: env.QUEUE_DATABASE_URL, maxConnections: 2 } }
      : {}),
    registry,
    logger,
  });
  const ledger = Ledger.connect({ databaseUrl: env.LEDGER_DATABASE_URL, poolSize: 3 });
  let clockOffsetMs = 0;
  const scheduler = new RenewalScheduler({
    now: () => new Date(Date.now() + clockOffsetMs),
    ledger,
    queue,
    registry,
    logger, // breaker state changes of the ledger and queue policies
    intervalMs: env.SCHEDULER_INTERVAL_MS,
    batchSize: env.SCHEDULER_BATCH_SIZE,
    onRun: (s) => {
      if (s.claimed.length > 0 || s.sent > 0) {
        logger.info(
          { claimed: s.claimed.length, sent: s.sent, duplicates: s.duplicates, ...s.stats },
          'renewals enqueued',
        );
      }
    },
    onError: (err) => logger.warn({ err }, 'scheduler run failed; backing off'),
  });

  // Liveness never checks dependencies; readiness does (both stores).
  const { admin, adminPort } = await startAdminListener({
    host: env.SCHEDULER_HOST,
    port: env.SCHEDULER_ADMIN_PORT,
    registry,
    notReady: async () =>
      (await probe('ledger', () => ledger.ping())) ?? (await probe('queue', () => queue.stats())),
    routes: (admin) => {
      const controlKey = env.SCHEDULER_CLOCK_CONTROL_KEY;
      if (controlKey !== undefined) {
        admin.put('/v1/admin/clock', async (request, reply) => {
          if (request.headers['x-control-key'] !== controlKey)
            return reply
              .code(401)
              .send({ error: { code: 'FB_UNAUTHENTICATED', message: 'x-control-key is missing or wrong.' } });
          const parsed = ClockBody.safeParse(request.body);
          if (!parsed.success || parsed.data.offsetMs < clockOffsetMs) {
            const message = parsed.success
              ? `body.offsetMs must not be below the current offset ${clockOffsetMs}: the clock only moves forward.`
              : `body.${parsed.error.issues[0]?.path.join('.') || 'offsetMs'} ${parsed.error.issues[0]?.message ?? 'is invalid'}`;
            return reply
              .code(400)
              .send({ error: { code: 'FB_INVALID_FIELD', message, field: 'body.offsetMs' } });
          }
          clockOffsetMs = parsed.data.offsetMs;
          logger.warn({ clockOffsetMs }, 'scheduler clock moved forward (drill clock control)');
          return { offsetMs: clockOffsetMs, now: new Date(Date.now() + clockOffsetMs).toISOString() };
        });
      }
    },
  });

  scheduler.start();
  logger.info({ adminPort, intervalMs: env.SCHEDULER_INTERVAL_MS }, 'renewal scheduler started');
  process.send?.({ type: 'ready', adminPort });
  stopOnSignals(logger, 'renewal scheduler', async () => {
    // A run cut short is harmless (claimed-but-unsent attempts are sent by the next run), but let it finish.
    await scheduler.stop();
    await Promise.allSettled([admin.close(), queue.close(), ledger.close()]);
  });
}

runServiceMain('renewal scheduler', main);
