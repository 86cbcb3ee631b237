// The payment worker's namespace (config/worker/<env>.yaml), read at start
// (src/worker/main.ts through parseEnv).

import { z } from 'zod';
import { logLevel, wholeNumber } from '../fields.ts';
import { locationField, secretField } from '../secretRef.ts';
import { queueBackendBindings, queueBackendEnvVars, refineQueueBackendBindings } from './queueBackend.ts';
import type { ServiceConfigSpec } from './serviceSpec.ts';

export const workerConfigSpec: ServiceConfigSpec = {
  service: 'worker',
  bindings: z.strictObject({
    logLevel,
    ledgerDatabaseUrl: secretField,
    /** The checkout intake's database, and the queue's when queueBackend is postgres. */
    queueDatabaseUrl: secretField,
    providerUrl: locationField,
    ...queueBackendBindings,
  }),
  tunables: z.strictObject({
    concurrency: wholeNumber(1, 256),
    queue: z.strictObject({
      visibilityTimeoutSec: wholeNumber(1, 43_200, 's'),
      // 1 would dead-letter a checkout on its first transient provider error.
      maxReceiveCount: wholeNumber(2, 100, 'receives'),
    }),
    provider: z.strictObject({
      // The floor is what any provider could plausibly answer in; whether a
      // value fits the real provider's latency only a drill against a provider
      // that behaves like it can tell (src/drill/scenarios/badConfig.ts).
      timeoutMs: wholeNumber(100, 120_000, 'ms'),
    }),
  }),
  envVars: [
    { env: 'LOG_LEVEL', path: ['bindings', 'logLevel'] },
    { env: 'LEDGER_DATABASE_URL', path: ['bindings', 'ledgerDatabaseUrl'] },
    { env: 'QUEUE_DATABASE_URL', path: ['bindings', 'queueDatabaseUrl'] },
    { env: 'PSP_URL', path: ['bindings', 'providerUrl'] },
    ...queueBackendEnvVars,
    { env: 'WORKER_CONCURRENCY', path: ['tunables', 'concurrency'] },
    { env: 'QUEUE_VISIBILITY_TIMEOUT_SEC', path: ['tunables', 'queue', 'visibilityTimeoutSec'] },
    { env: 'QUEUE_MAX_RECEIVE_COUNT', path: ['tunables', 'queue', 'maxReceiveCount'] },
    { env: 'PSP_TIMEOUT_MS', path: ['tunables', 'provider', 'timeoutMs'] },
  ],
  refine(doc, ctx) {
    refineQueueBackendBindings(doc, ctx);
    const t = doc.tunables as { queue: { visibilityTimeoutSec: number }; provider: { timeoutMs: number } };
    // The worker tries a capture twice (src/worker/paymentWorker.ts) before it
    // releases the message. Both attempts must end inside the visibility
    // timeout even if an extension is lost, or a slow capture races a
    // redelivery of its own message (safe, thanks to the idempotency key, but
    // twice the load on a provider that is already slow).
    if (t.provider.timeoutMs * 2 >= t.queue.visibilityTimeoutSec * 1000)
      ctx.addIssue({
        code: 'custom',
        path: ['tunables', 'provider', 'timeoutMs'],
        message: `must be under half of tunables.queue.visibilityTimeoutSec (${t.queue.visibilityTimeoutSec} s): the worker tries a capture twice and both tries must end before the message can be redelivered`,
      });
  },
};
