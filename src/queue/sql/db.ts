// What the queue's SQL functions run on: the pool for single statements, a
// checked-out client for the few operations that need a transaction.

import type pg from 'pg';

export type Db = pg.Pool | pg.PoolClient;

/** int8 arrives from node-postgres as a decimal string; sequences are bigint end to end. */
export function toBigint(value: string | number | bigint): bigint {
  return BigInt(value);
}
