// The API's one connection pool to the queue database, shared by the queue and
// the intake adapters. The API owns it so it can listen for errors: when the
// database restarts, every idle connection is terminated and pg.Pool emits
// 'error' for each; without a listener that event would crash the process, the
// opposite of answering 503 until the database is back.

import pg from 'pg';

/** A failed connect must fail fast, so the request can be answered 503 and retried. */
export const QUEUE_CONNECT_TIMEOUT_MS = 3_000;

export function queuePool(
  databaseUrl: string,
  onIdleError: (err: Error) => void = () => {},
  max = 10,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: QUEUE_CONNECT_TIMEOUT_MS,
  });
  // The failed client is already removed from the pool; the next query opens a new one.
  pool.on('error', onIdleError);
  return pool;
}
