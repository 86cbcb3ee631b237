// A pg.Pool whose connections come from an inner pool that can be replaced
// while requests run: the create-verify-swap-dispose half of a safe reload.
//
// Why our own class: the stores (PostgresQueue, PostgresIntake) take a
// pg.Pool and keep it, so the pool they hold must stay the same object while
// the connections behind it change. Every call is delegated, synchronously,
// to whichever inner pool is active at that moment: a caller always gets a
// client of the old pool or of the new one, never of a closed one, because
// the old pool is ended only after it has handed out everything it was asked
// for (drainAndEnd). The incident this exists for disposed the connection
// first and created the new one after, and every request in between failed.

import pg from 'pg';

export interface DrainResult {
  /** False when drainTimeoutMs ran out and the pool was ended with clients still out. */
  readonly drained: boolean;
  readonly waitedMs: number;
  /** Clients the old pool had checked out when the swap happened. */
  readonly busyAtSwap: number;
}

export class SwappablePool extends pg.Pool {
  #active: pg.Pool;

  constructor(initial: pg.Pool) {
    // The base pool is never used: it opens nothing until connect() is called on it, and nothing calls it.
    super({ max: 1 });
    this.#active = initial;
  }

  /** The inner pool new work goes to. */
  get active(): pg.Pool {
    return this.#active;
  }

  /** Makes `next` the pool new work goes to; returns the previous one (still open: drain and end it). */
  swap(next: pg.Pool): pg.Pool {
    const previous = this.#active;
    this.#active = next;
    return previous;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): void;
  override connect(
    callback?: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): Promise<pg.PoolClient> | void {
    return callback ? this.#active.connect(callback) : this.#active.connect();
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    (this as { ending: boolean }).ending = true;
    return callback ? this.#active.end(callback) : this.#active.end();
  }
}

// query() has a dozen overloads in @types/pg; they all take the same
// arguments as the inner pool's, so one untyped delegate serves them all.
(SwappablePool.prototype as unknown as { query: unknown }).query = function query(
  this: SwappablePool,
  ...args: unknown[]
): unknown {
  const active = this.active as unknown as { query: (...a: unknown[]) => unknown };
  return active.query(...args);
};

// The counts are the active pool's (they are getters in pg-pool, plain
// properties in @types/pg, so they are defined here rather than in the class).
for (const name of ['totalCount', 'idleCount', 'waitingCount', 'expiredCount'] as const) {
  Object.defineProperty(SwappablePool.prototype, name, {
    get(this: SwappablePool) {
      return this.active[name];
    },
  });
}

/**
 * Ends a pool that no new work is sent to, without failing work it already
 * took: first every caller waiting for a client gets one (an ended pg.Pool
 * would leave them waiting), then end() closes idle clients at once and each
 * checked-out client when it is released. Past timeoutMs the pool is ended
 * anyway, so a stuck client cannot hold a reload forever.
 */
export async function drainAndEnd(pool: pg.Pool, timeoutMs: number): Promise<DrainResult> {
  const started = performance.now();
  const busyAtSwap = pool.totalCount - pool.idleCount;
  const deadline = started + timeoutMs;
  let drained = true;
  while (pool.waitingCount > 0) {
    const left = deadline - performance.now();
    if (left <= 0) {
      drained = false;
      break;
    }
    // A waiter is served when a client is released or a new one connects.
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pool.off('acquire', done);
        pool.off('remove', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(left, 100));
      pool.on('acquire', done);
      pool.on('remove', done);
    });
  }
  const ended = pool.end();
  const left = Math.max(0, deadline - performance.now());
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    ended.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), left))),
  ]).finally(() => clearTimeout(timer));
  return { drained: drained && finished, waitedMs: Math.round(performance.now() - started), busyAtSwap };
}
