// A reloadable Postgres pool: the safe-reload library (reloadable.ts) applied
// to a pg.Pool, for any service whose config names a database and its pool
// settings. Callers hold one SwappablePool for the life of the process; a
// reload whose pool settings changed builds a new pg.Pool, verifies it (a
// round trip, then the service's own checks, e.g. that the database has the
// expected schema, or the environment fence), swaps it in, then drains and
// ends the old pool.

import pg from 'pg';
import type { Registry } from 'prom-client';
import { isDeepStrictEqual } from 'node:util';
import { ReloadableConfig, verificationFailed, type LoadedConfig, type ReloadOutcome } from './reloadable.ts';
import { drainAndEnd, SwappablePool, type DrainResult } from './swappablePool.ts';

export interface PoolSettings {
  readonly connectionString: string;
  readonly max: number;
  readonly connectionTimeoutMillis: number;
  readonly idleTimeoutMillis: number;
}

/** A verification round trip must answer well within this, or the new pool is refused. */
export const VERIFY_TIMEOUT_MS = 5_000;

export interface ReloadablePoolOptions<C> {
  readonly service: string;
  readonly initial: LoadedConfig<C>;
  readonly load: () => LoadedConfig<C> | Promise<LoadedConfig<C>>;
  readonly poolSettings: (config: C) => PoolSettings;
  /** How long a reload waits for the old pool's checked-out clients. */
  readonly drainTimeoutMs: (config: C) => number;
  readonly restartOnly?: (previous: C, next: C) => readonly string[];
  /** Checks after the built-in round trip; throw to refuse the new pool (keep the old one). */
  readonly verify?: readonly ((pool: pg.Pool, config: C) => Promise<void>)[];
  /** Errors of idle connections of any of the pools (a database restart); without a listener they crash the process. */
  readonly onIdleError: (err: Error) => void;
  readonly watchFile?: string | null;
  readonly debounceMs?: number;
  readonly sighup?: boolean;
  readonly registry?: Registry;
  readonly onReload?: (outcome: ReloadOutcome<DrainResult>) => void;
  readonly onWatchError?: (err: Error) => void;
}

export interface ReloadablePool<C> {
  /** The pool to hand to stores: always the pool in force. */
  readonly pool: SwappablePool;
  readonly reloadable: ReloadableConfig<C, pg.Pool, DrainResult>;
}

export function createPool(settings: PoolSettings, onIdleError: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({ ...settings });
  // The failed client is already removed from the pool; the next query opens a new one.
  pool.on('error', onIdleError);
  return pool;
}

async function roundTrip(pool: pg.Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pool.query('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${VERIFY_TIMEOUT_MS} ms`)),
          VERIFY_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    throw verificationFailed('the new database pool failed its round trip (SELECT 1)', err);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the initial pool and starts watching for reloads. */
export async function startReloadablePool<C>(o: ReloadablePoolOptions<C>): Promise<ReloadablePool<C>> {
  const initialPool = createPool(o.poolSettings(o.initial.config), o.onIdleError);
  const pool = new SwappablePool(initialPool);
  const reloadable = new ReloadableConfig<C, pg.Pool, DrainResult>({
    service: o.service,
    initial: { loaded: o.initial, resources: initialPool },
    load: o.load,
    ...(o.restartOnly ? { restartOnly: o.restartOnly } : {}),
    needsRebuild: (previous, next) => !isDeepStrictEqual(o.poolSettings(previous), o.poolSettings(next)),
    build: (config) => Promise.resolve(createPool(o.poolSettings(config), o.onIdleError)),
    verify: [
      (next) => roundTrip(next),
      ...(o.verify ?? []).map((check) => async (next: pg.Pool, config: C) => check(next, config)),
    ],
    activate: (next) => {
      pool.swap(next);
    },
    dispose: (old, config) => drainAndEnd(old, o.drainTimeoutMs(config)),
    ...(o.watchFile !== undefined ? { watchFile: o.watchFile } : {}),
    ...(o.debounceMs !== undefined ? { debounceMs: o.debounceMs } : {}),
    ...(o.sighup !== undefined ? { sighup: o.sighup } : {}),
    ...(o.registry ? { registry: o.registry } : {}),
    ...(o.onReload ? { onReload: o.onReload } : {}),
    ...(o.onWatchError ? { onWatchError: o.onWatchError } : {}),
  });
  await reloadable.start();
  return { pool, reloadable };
}
