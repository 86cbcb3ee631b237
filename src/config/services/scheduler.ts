// The renewal scheduler's namespace (config/scheduler/<env>.yaml), read at
// start (src/scheduler/main.ts through parseEnv). The drill-only clock control
// key has no place here: it is a secret and must never exist in production.

import { z } from 'zod';
import { logLevel, wholeNumber } from '../fields.ts';
import { secretField } from '../secretRef.ts';
import type { ServiceConfigSpec } from './serviceSpec.ts';

export const schedulerConfigSpec: ServiceConfigSpec = {
  service: 'scheduler',
  bindings: z.strictObject({
    logLevel,
    ledgerDatabaseUrl: secretField,
    queueDatabaseUrl: secretField,
  }),
  tunables: z.strictObject({
    intervalMs: wholeNumber(50, 3_600_000, 'ms'),
    batchSize: wholeNumber(1, 1_000, 'schedules'),
  }),
  envVars: [
    { env: 'LOG_LEVEL', path: ['bindings', 'logLevel'] },
    { env: 'LEDGER_DATABASE_URL', path: ['bindings', 'ledgerDatabaseUrl'] },
    { env: 'QUEUE_DATABASE_URL', path: ['bindings', 'queueDatabaseUrl'] },
    { env: 'SCHEDULER_INTERVAL_MS', path: ['tunables', 'intervalMs'] },
    { env: 'SCHEDULER_BATCH_SIZE', path: ['tunables', 'batchSize'] },
  ],
};
