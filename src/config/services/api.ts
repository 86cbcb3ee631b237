// The checkout API's namespace (config/api/<env>.yaml). The queue pool keys
// are applied by a live reload (src/config/reloadablePool.ts); the others on
// the next start (src/api/apiConfig.ts says which).

import { z } from 'zod';
import { logLevel, wholeNumber } from '../fields.ts';
import { locationField, secretField } from '../secretRef.ts';
import { queueBackendBindings, queueBackendEnvVars, refineQueueBackendBindings } from './queueBackend.ts';
import type { ServiceConfigSpec } from './serviceSpec.ts';

export const apiConfigSpec: ServiceConfigSpec = {
  service: 'api',
  bindings: z.strictObject({
    logLevel,
    catalogPath: locationField,
    /** The checkout intake's database, and the queue's when queueBackend is postgres. */
    queueDatabaseUrl: secretField,
    ...queueBackendBindings,
    /** The sha256 of the admin key; the key itself is never configured anywhere. */
    adminKeySha256: secretField,
  }),
  tunables: z.strictObject({
    queuePool: z.strictObject({
      max: wholeNumber(1, 100, 'connections'),
      connectTimeoutMs: wholeNumber(100, 30_000, 'ms'),
      idleTimeoutMs: wholeNumber(1_000, 600_000, 'ms'),
      /** How long a reload waits for the old pool's checked-out clients before closing it anyway. */
      drainTimeoutMs: wholeNumber(1_000, 300_000, 'ms'),
    }),
    http: z.strictObject({
      storeTimeoutMs: wholeNumber(100, 60_000, 'ms'),
      retryAfterSec: wholeNumber(1, 60, 's'),
    }),
    loadShedding: z.strictObject({
      maxEventLoopDelayMs: wholeNumber(50, 10_000, 'ms'),
      maxInFlight: wholeNumber(1, 100_000, 'requests'),
    }),
  }),
  envVars: [
    { env: 'LOG_LEVEL', path: ['bindings', 'logLevel'] },
    { env: 'CATALOG_PATH', path: ['bindings', 'catalogPath'] },
    { env: 'QUEUE_DATABASE_URL', path: ['bindings', 'queueDatabaseUrl'] },
    { env: 'ADMIN_KEY_SHA256', path: ['bindings', 'adminKeySha256'] },
    ...queueBackendEnvVars,
    { env: 'QUEUE_POOL_MAX', path: ['tunables', 'queuePool', 'max'] },
    { env: 'QUEUE_CONNECT_TIMEOUT_MS', path: ['tunables', 'queuePool', 'connectTimeoutMs'] },
    { env: 'QUEUE_IDLE_TIMEOUT_MS', path: ['tunables', 'queuePool', 'idleTimeoutMs'] },
    { env: 'QUEUE_POOL_DRAIN_TIMEOUT_MS', path: ['tunables', 'queuePool', 'drainTimeoutMs'] },
    { env: 'API_STORE_TIMEOUT_MS', path: ['tunables', 'http', 'storeTimeoutMs'] },
    { env: 'API_RETRY_AFTER_SEC', path: ['tunables', 'http', 'retryAfterSec'] },
    { env: 'API_MAX_EVENT_LOOP_DELAY_MS', path: ['tunables', 'loadShedding', 'maxEventLoopDelayMs'] },
    { env: 'API_MAX_IN_FLIGHT', path: ['tunables', 'loadShedding', 'maxInFlight'] },
  ],
  refine(doc, ctx) {
    refineQueueBackendBindings(doc, ctx);
    const t = doc.tunables as {
      queuePool: { connectTimeoutMs: number };
      http: { storeTimeoutMs: number };
    };
    // A connect that outlasts the request's own timeout only holds a pool slot
    // after the client has had its 503.
    if (t.queuePool.connectTimeoutMs >= t.http.storeTimeoutMs)
      ctx.addIssue({
        code: 'custom',
        path: ['tunables', 'queuePool', 'connectTimeoutMs'],
        message: `must be less than tunables.http.storeTimeoutMs (${t.http.storeTimeoutMs} ms): a connection wait must end before the request's own timeout`,
      });
  },
};
