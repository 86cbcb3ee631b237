// The connection pool of the catalog lookups' database fallback: its own,
// small, beside the queue pool the checkout path uses, so a flood of lookups
// can never take the connections a checkout needs, and the database never
// sees more lookup queries at once than the pool has connections (the guard's
// concurrency cap, enforced a second time at the socket). A statement
// timeout on the server ends a query the guard has given up on, so an
// abandoned query does not keep a connection (and the cap) busy.

import pg from 'pg';

/** Above the guard's 2 s timeout, so the guard answers first and the server cleans up after. */
export const CATALOG_STATEMENT_TIMEOUT_MS = 3_000;
export const CATALOG_CONNECT_TIMEOUT_MS = 2_000;
/** How these connections show in pg_stat_activity. */
export const CATALOG_APPLICATION_NAME = 'firebreak-api-catalog';

export function catalogLookupPool(
  databaseUrl: string,
  max: number,
  onIdleError: (err: Error) => void = () => {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: CATALOG_CONNECT_TIMEOUT_MS,
    statement_timeout: CATALOG_STATEMENT_TIMEOUT_MS,
    application_name: CATALOG_APPLICATION_NAME,
  });
  // An idle connection killed by a database restart must not crash the process.
  pool.on('error', onIdleError);
  return pool;
}
