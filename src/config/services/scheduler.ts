// The renewal scheduler's namespace (config/scheduler/<env>.yaml), read at
// start (src/scheduler/main.ts through parseEnv). The drill-only clock control
// key has no place here: it is a secret and must never exist in production.

import { z } from 'zod';
import { logLevel, wholeNumber } from '../fields.ts';
import { secretField } from '../secretRef.ts';
import { queueBackendBindings, queueBackendEnvVars, refineQueueBackendBindings } from './queueBackend.ts';
import type { ServiceConfigSpec } from './serviceSpec.ts';

export const schedulerConfigSpec: ServiceConfigSpec = {
  service: 'scheduler',
  bindings: z.strictObject({
    logLevel,
    ledgerDatabaseUrl: secretField,
    /** The queue's database; only with queueBackend postgres (the scheduler writes no intake). */
    queueDatabaseUrl: secretField.optional(),
    ...queueBackendBindings,
  }),
  tunables: z.strictObject({
    intervalMs: wholeNumber(50, 3_600_000, 'ms'),
    batchSize: wholeNumber(1, 1_000, 'schedules'),
  }),
  envVars: [
    { env: 'LOG_LEVEL', path: ['bindings', 'logLevel'] },
    { env: 'LEDGER_DATABASE_URL', path: ['bindings', 'ledgerDatabaseUrl'] },
    { env: 'QUEUE_DATABASE_URL', path: ['bindings', 'queueDatabaseUrl'] },
    ...queueBackendEnvVars,
    { env: 'SCHEDULER_INTERVAL_MS', path: ['tunables', 'intervalMs'] },
    { env: 'SCHEDULER_BATCH_SIZE', path: ['tunables', 'batchSize'] },
  ],
  refine(doc, ctx) {
    refineQueueBackendBindings(doc, ctx);
    const b = doc.bindings as { queueBackend?: string; queueDatabaseUrl?: unknown };
    if ((b.queueBackend ?? 'postgres') === 'postgres' && b.queueDatabaseUrl === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bindings', 'queueDatabaseUrl'],
        message: 'is required when bindings.queueBackend is postgres (a reference to the queue database URL)',
      });
  },
};
