// The reconciler as a process: `node src/reconcile/main.ts`. Configured by
// environment variables; serves /livez, /readyz and /metrics on its own
// loopback admin port; reports { type: 'ready', adminPort } over IPC; on
// SIGTERM finishes the pass in progress and exits. Several may run at once
// (each repair locks its checkout row and re-checks under the lock), but one
// is enough: a pass reads the whole ledger.

import { hostname } from 'node:os';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { envInt, envUrl, parseEnv } from '../config/env.ts';
import { probe, runServiceMain, startAdminListener, stopOnSignals } from '../stack/serviceMain.ts';
import { startServiceFence } from '../guardrails/fence/index.ts';
import { Ledger } from '../ledger/index.ts';
import { ProviderRecordClient } from './providerRecord.ts';
import { DEFAULT_INTERVAL_MS, DEFAULT_PAGE_SIZE, Reconciler } from './reconciler.ts';

const ReconcilerEnv = z.object({
  LEDGER_DATABASE_URL: envUrl,
  /** The provider's API, e.g. http://127.0.0.1:4100 (read routes only). */
  PSP_URL: envUrl,
  /** The provider's read credential (the sandbox: its control key, PSP_CONTROL_KEY). */
  PSP_READ_KEY: z.string().min(16, 'must be at least 16 characters'),
  RECONCILER_HOST: z.string().default('127.0.0.1'),
  RECONCILER_ADMIN_PORT: envInt(0, 65535).default(0),
  /** How often a pass starts. */
  RECONCILER_INTERVAL_MS: envInt(100, 86_400_000).default(DEFAULT_INTERVAL_MS),
  RECONCILER_PAGE_SIZE: envInt(10, 10_000).default(DEFAULT_PAGE_SIZE),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

async function main(): Promise<void> {
  const env = parseEnv(ReconcilerEnv, process.env, 'reconciler');
  const logger = pino({ level: env.LOG_LEVEL, base: { service: 'reconciler', pid: process.pid } });
  // Exits 3 on a ledger of another environment (FIREBREAK_ENV), now and on every reconnect.
  await startServiceFence({
    service: 'reconciler',
    logger,
    resources: { 'ledger database': env.LEDGER_DATABASE_URL },
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ledger = Ledger.connect({ databaseUrl: env.LEDGER_DATABASE_URL, poolSize: 2 });
  const provider = new ProviderRecordClient({ baseUrl: env.PSP_URL, readKey: env.PSP_READ_KEY });
  const reconciler = new Reconciler({
    ledger,
    provider,
    registry,
    repairedBy: `reconciler pid ${process.pid} on ${hostname()}`,
    intervalMs: env.RECONCILER_INTERVAL_MS,
    pageSize: env.RECONCILER_PAGE_SIZE,
    events: {
      onDetected: (f) =>
        logger.error(
          { checkoutId: f.checkoutId, kinds: f.kinds, details: f.details, repairable: f.repairable },
          f.repairable
            ? 'ledger tampering detected: the ledger disagrees with the provider record; repairing'
            : 'ledger tampering detected that cannot be repaired automatically; a person must look',
        ),
      onRepaired: (f) =>
        logger.warn(
          {
            checkoutId: f.checkoutId,
            kinds: f.kinds,
            repairId: f.repairId,
            detectionToRepairMs: f.repairedAt.getTime() - f.detectedAt.getTime(),
          },
          'ledger rows restored from the provider record (reconciliation_repairs)',
        ),
      onRepairError: (checkoutId, err) =>
        logger.error({ err, checkoutId }, 'repair failed; trying again next pass'),
      onPass: (s) => {
        if (s.differing > 0 || s.open > 0) logger.info(s, 'reconciliation pass');
        else logger.debug(s, 'reconciliation pass');
      },
      onError: (err) => logger.warn({ err }, 'reconciliation pass failed; backing off'),
    },
  });

  // Liveness never checks dependencies; readiness does (the ledger; the provider is read by the passes).
  const { admin, adminPort } = await startAdminListener({
    host: env.RECONCILER_HOST,
    port: env.RECONCILER_ADMIN_PORT,
    registry,
    notReady: () => probe('ledger', () => ledger.ping()),
  });

  reconciler.start();
  logger.info({ adminPort, intervalMs: env.RECONCILER_INTERVAL_MS }, 'reconciler started');
  process.send?.({ type: 'ready', adminPort });
  stopOnSignals(logger, 'reconciler', async () => {
    await reconciler.stop();
    await Promise.allSettled([admin.close(), ledger.close()]);
  });
}

runServiceMain('reconciler', main);
