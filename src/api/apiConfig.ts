// The API process's configuration, from the environment, validated once at
// start. A wrong value stops the process with one line naming the variable
// and saying what it should be, before anything is opened.

import { z } from 'zod';
import { fbError } from '../errors/index.ts';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { layerServiceConfig } from '../config/layer.ts';
import type { LoadedNamespace } from '../config/namespace.ts';
import { verificationFailed, type LoadedConfig } from '../config/reloadable.ts';
import { startReloadablePool, type PoolSettings, type ReloadablePool } from '../config/reloadablePool.ts';
import { apiConfigSpec } from '../config/services/api.ts';
import { DEFAULT_RETRY_AFTER_SEC, DEFAULT_STORE_TIMEOUT_MS } from './buildApp.ts';
import { QUEUE_CONNECT_TIMEOUT_MS } from './queuePool.ts';
import { DEFAULT_ENV, ENV_NAME_PATTERN } from '../guardrails/fence/environment.ts';
import { queueBackendEnv, refineQueueBackend } from '../queue/queueFromEnv.ts';

const port = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number from 0 to 65535 (0 picks a free port)` })
    .int({ error: `${name} must be a whole port number from 0 to 65535` })
    .min(0, { error: `${name} must be from 0 to 65535` })
    .max(65_535, { error: `${name} must be from 0 to 65535` });

const positiveInt = (name: string, max: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number from 1 to ${max}` })
    .int({ error: `${name} must be a whole number from 1 to ${max}` })
    .min(1, { error: `${name} must be from 1 to ${max}` })
    .max(max, { error: `${name} must be from 1 to ${max}` });

const bounded = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number from ${min} to ${max}` })
    .int({ error: `${name} must be a whole number from ${min} to ${max}` })
    .min(min, { error: `${name} must be from ${min} to ${max}` })
    .max(max, { error: `${name} must be from ${min} to ${max}` });

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ApiConfigSchema = z
  .object({
    API_HOST: z
      .string()
      .min(1, { error: 'API_HOST must be a host or IP address to listen on, e.g. 127.0.0.1' })
      .default('127.0.0.1'),
    API_PORT: port('API_PORT').default(0),
    API_ADMIN_PORT: port('API_ADMIN_PORT').default(0),
    QUEUE_DATABASE_URL: z
      .string({
        error:
          'QUEUE_DATABASE_URL is required: the Postgres URL of the payment queue database (of the checkout intake alone with QUEUE_BACKEND=sqs)',
      })
      .regex(/^postgres(ql)?:\/\/\S+$/, {
        error: 'QUEUE_DATABASE_URL must be a postgres:// URL of the payment queue database',
      }),
    CATALOG_PATH: z
      .string({ error: 'CATALOG_PATH is required: the path of the catalog JSON file' })
      .min(1, { error: 'CATALOG_PATH must be the path of the catalog JSON file' }),
    ADMIN_KEY_SHA256: z
      .string({ error: 'ADMIN_KEY_SHA256 is required: the sha256 hex digest of the admin key' })
      .regex(/^[0-9a-f]{64}$/, {
        error:
          'ADMIN_KEY_SHA256 must be the lowercase hex sha256 digest (64 characters) of the admin key, not the key',
      }),
    LOG_LEVEL: z
      .enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info'),
    // --- cached catalog lookups (src/cache/catalog): on only when REDIS_URL is set ---
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, {
        error: 'REDIS_URL must be a redis:// or rediss:// URL of the cache (unset: no catalog lookup routes)',
      })
      .optional(),
    /** The first segment of every cache key, so environments never share an entry. */
    FIREBREAK_ENV: z
      .string()
      .regex(ENV_NAME_PATTERN, {
        error:
          'FIREBREAK_ENV must be an environment name: lower-case letters, digits and "-", starting with a letter (e.g. staging, production)',
      })
      .default(DEFAULT_ENV),
    CATALOG_FALLBACK_MAX_PER_SEC: positiveInt('CATALOG_FALLBACK_MAX_PER_SEC', 10_000).default(50),
    CATALOG_FALLBACK_MAX_CONCURRENT: positiveInt('CATALOG_FALLBACK_MAX_CONCURRENT', 100).default(4),
    // --- tunables: config/api/<env>.yaml `tunables` (src/config/services/api.ts) or these variables ---
    QUEUE_POOL_MAX: bounded('QUEUE_POOL_MAX', 1, 100).default(10),
    QUEUE_CONNECT_TIMEOUT_MS: bounded('QUEUE_CONNECT_TIMEOUT_MS', 100, 30_000).default(
      QUEUE_CONNECT_TIMEOUT_MS,
    ),
    QUEUE_IDLE_TIMEOUT_MS: bounded('QUEUE_IDLE_TIMEOUT_MS', 1_000, 600_000).default(10_000),
    QUEUE_POOL_DRAIN_TIMEOUT_MS: bounded('QUEUE_POOL_DRAIN_TIMEOUT_MS', 1_000, 300_000).default(30_000),
    API_STORE_TIMEOUT_MS: bounded('API_STORE_TIMEOUT_MS', 100, 60_000).default(DEFAULT_STORE_TIMEOUT_MS),
    API_RETRY_AFTER_SEC: bounded('API_RETRY_AFTER_SEC', 1, 60).default(DEFAULT_RETRY_AFTER_SEC),
    API_MAX_EVENT_LOOP_DELAY_MS: bounded('API_MAX_EVENT_LOOP_DELAY_MS', 50, 10_000).default(1_000),
    /** Checkout requests in progress above which new ones are answered 503 at once (src/api/buildApp.ts). */
    API_MAX_IN_FLIGHT: bounded('API_MAX_IN_FLIGHT', 1, 100_000).default(128),
    // --- the payment queue: Postgres (QUEUE_DATABASE_URL) or SQS FIFO (src/queue/queueFromEnv.ts);
    // the intake stays in QUEUE_DATABASE_URL either way ---
    ...queueBackendEnv,
  })
  .superRefine(refineQueueBackend);

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

/**
 * Parses the API's environment, with its config namespace layered on when
 * FIREBREAK_CONFIG names one (src/config/layer.ts); throws FB_CONFIG_INVALID
 * naming every wrong variable or key.
 */
export function parseApiConfig(env: Readonly<Record<string, string | undefined>>): ApiConfig {
  return loadApiConfig(env).config;
}

/** The config and the namespace it came from (null without FIREBREAK_CONFIG). */
export function loadApiConfig(env: Readonly<Record<string, string | undefined>>): {
  config: ApiConfig;
  namespace: LoadedNamespace | null;
  overridden: readonly string[];
} {
  const layered = layerServiceConfig('api', env);
  return { config: parseLayered(layered.env), namespace: layered.namespace, overridden: layered.overridden };
}

/** The queue pool a config asks for; a live reload rebuilds the pool when this changes. */
export function apiPoolSettings(config: ApiConfig): PoolSettings {
  return {
    connectionString: config.QUEUE_DATABASE_URL,
    max: config.QUEUE_POOL_MAX,
    connectionTimeoutMillis: config.QUEUE_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: config.QUEUE_IDLE_TIMEOUT_MS,
  };
}

/** What a running API applies on reload: its queue pool. Everything else is read once, at start. */
const RELOADABLE: ReadonlySet<string> = new Set([
  'QUEUE_DATABASE_URL',
  'QUEUE_POOL_MAX',
  'QUEUE_CONNECT_TIMEOUT_MS',
  'QUEUE_IDLE_TIMEOUT_MS',
  'QUEUE_POOL_DRAIN_TIMEOUT_MS',
]);

/** The settings that differ and that only a restart applies, named as in the namespace file. */
export function apiRestartOnlyChanges(previous: ApiConfig, next: ApiConfig): string[] {
  return (Object.keys(ApiConfigSchema.shape) as (keyof ApiConfig)[])
    .filter((key) => previous[key] !== next[key])
    .filter(
      // The catalog cache reads the queue database over its own pool, opened at start.
      (key) => !RELOADABLE.has(key) || (key === 'QUEUE_DATABASE_URL' && next.REDIS_URL !== undefined),
    )
    .map((key) => {
      const binding = apiConfigSpec.envVars.find((b) => b.env === key);
      return binding ? `${binding.path.join('.')} (${key})` : key;
    });
}

function asLoaded(loaded: ReturnType<typeof loadApiConfig>): LoadedConfig<ApiConfig> {
  const ns = loaded.namespace;
  return { config: loaded.config, hash: ns?.hash ?? null, env: ns?.env ?? null, file: ns?.file ?? null };
}

/** A reload must not point the API at a database the queue was never migrated in: every checkout would fail. */
async function hasQueueSchema(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ ok: boolean }>(
    `SELECT to_regclass('queue_message') IS NOT NULL AND to_regclass('checkout_intake') IS NOT NULL AS ok`,
  );
  if (rows[0]?.ok !== true)
    throw verificationFailed(
      'the new queue database',
      new Error(
        'it has no queue schema (tables queue_message, checkout_intake); point at a migrated queue database',
      ),
    );
}

export interface QueuePoolReloadOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** What the process started with (loadApiConfig). */
  readonly loaded: ReturnType<typeof loadApiConfig>;
  readonly logger: Logger;
  readonly registry: Registry;
  /** More checks a new pool must pass before it is used (e.g. the environment fence). */
  readonly verify?: readonly ((pool: pg.Pool, config: ApiConfig) => Promise<void>)[];
}

/**
 * The API's queue pool, reloaded safely when its namespace file changes or on
 * SIGHUP (src/config/reloadable.ts): a changed pool setting or database URL
 * gets a new pool, verified (round trip, queue schema, `verify`), swapped in,
 * and the old one drained and closed. Any other changed setting is reported
 * as needing a restart; a failed reload keeps the old pool and says why.
 */
export function openReloadableQueuePool(o: QueuePoolReloadOptions): Promise<ReloadablePool<ApiConfig>> {
  const { logger } = o;
  return startReloadablePool<ApiConfig>({
    service: 'api',
    initial: asLoaded(o.loaded),
    load: () => asLoaded(loadApiConfig(o.env)),
    poolSettings: apiPoolSettings,
    drainTimeoutMs: (config) => config.QUEUE_POOL_DRAIN_TIMEOUT_MS,
    restartOnly: apiRestartOnlyChanges,
    verify: [hasQueueSchema, ...(o.verify ?? [])],
    onIdleError: (err) => logger.warn({ err }, 'idle queue database connection lost'),
    watchFile: o.loaded.namespace?.file ?? null,
    registry: o.registry,
    onReload: (outcome) => {
      const fields = {
        result: outcome.result,
        trigger: outcome.trigger,
        hash: outcome.hash,
        previousHash: outcome.previousHash,
        durationMs: outcome.durationMs,
        ...(outcome.disposed ? { oldPool: outcome.disposed } : {}),
      };
      if (outcome.error)
        logger.error(
          { ...fields, code: outcome.error.code, reason: outcome.error.message },
          'config reload refused; the old config keeps running',
        );
      else if (outcome.result === 'applied') logger.info(fields, 'config reloaded');
      else logger.debug(fields, 'config reload: nothing changed');
    },
    onWatchError: (err) => logger.warn({ err }, 'config file watch failed; SIGHUP still reloads'),
  });
}

function parseLayered(env: Readonly<Record<string, string | undefined>>): ApiConfig {
  // Empty strings count as unset, as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(
    Object.keys(ApiConfigSchema.shape).flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const parsed = ApiConfigSchema.safeParse(present);
  if (!parsed.success) {
    // Messages name their variable; the queue backend's (queueFromEnv.ts) get it from the issue's path.
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return key === '' || issue.message.startsWith(key) ? issue.message : `${key} ${issue.message}`;
    });
    throw fbError('FB_CONFIG_INVALID', `invalid API configuration: ${problems.join('; ')}`, {
      field: String(parsed.error.issues[0]?.path[0] ?? ''),
    });
  }
  return parsed.data;
}
